//! `lbctl diff`: what a sync would change in the running kernel. Reads IPVS, writes nothing.

use anyhow::{Context, Result};
use lb_ipvs_sync::IpvsKernel;
use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::reconcile::{guard, plan};
use serde_json::json;

use crate::cli::{Inputs, Output};
use crate::kernel_sync::{now_secs, prepare};
use crate::state_file;

/// Exit code: 0 the kernel matches, 2 changes are pending.
pub(crate) fn run(
    inputs: &Inputs,
    state_file_path: Option<std::path::PathBuf>,
    output: Output,
) -> Result<i32> {
    let prepared = prepare(inputs, state_file_path, false).map_err(anyhow::Error::new)?;
    let book = state_file::read(&prepared.state_file)?;
    let mut client = IpvsClient::connect().context("cannot open IPVS")?;
    let observed = client.dump().context("cannot dump the IPVS table")?;
    let planned = plan(
        &prepared.target,
        &observed,
        &prepared.scope,
        &book,
        now_secs(),
        &prepared.options,
    );
    let refusal = guard(&planned, &prepared.options).err();
    match output {
        Output::Json => {
            let doc = json!({
                "in_sync": planned.is_empty(),
                "plan": &planned,
                "guard_refusal": refusal.as_ref().map(ToString::to_string),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            if planned.is_empty() {
                println!("# in sync: the kernel matches the desired state");
            } else {
                print!("{}", planned.render_ipvsadm());
            }
            if let Some(refusal) = &refusal {
                println!("# guard: {refusal}");
            }
        }
    }
    Ok(if planned.is_empty() { 0 } else { 2 })
}
