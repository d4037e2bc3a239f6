//! `lbctl diff`: what a sync would change in the running kernel: the IPVS table, the
//! director's netfilter rules (NOTRACK/SNAT) and the IPVS sysctls. Reads them, writes nothing.

use anyhow::{Context, Result};
use lb_director::netfilter::director_rules;
use lb_director::sync::{
    NetfilterHost, Preview, changed_tables, check_netfilter, check_sysctls, preview, state_file,
    sysctl_text,
};
use lb_ipvs_sync::netlink::IpvsClient;
use serde_json::json;

use crate::cli::{FileArgs, Output};
use lb_controller::prepare::{now_secs, pass_settings};

/// Exit code: 0 the kernel matches, 2 changes are pending.
pub(crate) fn run(
    files: &FileArgs,
    state_file_path: Option<std::path::PathBuf>,
    output: Output,
) -> Result<i32> {
    let operator_files = files.operator_files();
    let settings = pass_settings(&operator_files, state_file_path).map_err(anyhow::Error::new)?;
    let state = state_file::read(&settings.state_file)?;
    let now = now_secs();
    // Invalid keys served from their kept versions, as `apply` would.
    let prepared = settings
        .prepare(&operator_files, false, &state.keys, now)
        .map_err(anyhow::Error::new)?;
    crate::commands::report_problems(&prepared.loaded.problems);
    crate::commands::report_last_good(&prepared.last_good, "planning");
    let mut client = IpvsClient::connect().context("cannot open IPVS")?;
    // The input `apply` would pass, planned the way its pass plans, stopped before any write.
    let input = prepared.pass_input(state, now, false);
    let Preview {
        plan: planned,
        refusal,
    } = preview(&mut client, &input).context("cannot dump the IPVS table")?;
    let host = NetfilterHost::default();
    let rules = director_rules(&prepared.loaded.outcome.state);
    // Netfilter rules that cannot be read do not hide the IPVS diff: they are reported.
    let netfilter =
        check_netfilter(&prepared.loaded.settings, &rules, &host).map_err(anyhow::Error::new);
    let netfilter_changes = match &netfilter {
        Ok(Some(outcome)) => changed_tables(outcome),
        Ok(None) | Err(_) => Vec::new(),
    };
    let sysctls = check_sysctls(
        &prepared.loaded.settings,
        &rules,
        &prepared.state_file,
        &host,
    )
    .map_err(anyhow::Error::new);
    let sysctl_writes: Vec<String> = match &sysctls {
        Ok(changes) => changes
            .iter()
            .filter(|c| c.changed())
            .map(sysctl_text)
            .collect(),
        Err(_) => Vec::new(),
    };
    // Sysctls lbctl leaves alone (set by someone else, or not managed) are reported, not pending.
    let sysctl_notes: Vec<String> = match &sysctls {
        Ok(changes) => changes
            .iter()
            .filter(|c| !c.changed() && c.after != c.wanted)
            .map(sysctl_text)
            .collect(),
        Err(_) => Vec::new(),
    };
    let in_sync = planned.is_empty() && netfilter_changes.is_empty() && sysctl_writes.is_empty();
    match output {
        Output::Json => {
            let doc = json!({
                "in_sync": in_sync,
                "plan": &planned,
                "guard_refusal": refusal.as_ref().map(ToString::to_string),
                "netfilter": match &netfilter {
                    Ok(outcome) => json!(outcome),
                    Err(e) => json!({ "error": format!("{e:#}") }),
                },
                "sysctls": match &sysctls {
                    Ok(changes) => json!(changes),
                    Err(e) => json!({ "error": format!("{e:#}") }),
                },
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            if in_sync && netfilter.is_ok() && sysctls.is_ok() {
                println!("# in sync: the kernel matches the desired state");
            } else if in_sync {
                println!("# IPVS in sync");
            } else if !planned.is_empty() {
                print!("{}", planned.render_ipvsadm());
            }
            if let Some(refusal) = &refusal {
                println!("# guard: {refusal}");
            }
            match &netfilter {
                Ok(Some(outcome)) if !netfilter_changes.is_empty() => println!(
                    "# netfilter ({}): a sync would write: {}",
                    outcome.backend,
                    netfilter_changes.join(", ")
                ),
                Ok(_) => {}
                Err(e) => println!("# netfilter: cannot compare: {e:#}"),
            }
            if !sysctl_writes.is_empty() {
                println!("# sysctl: a sync would write: {}", sysctl_writes.join(" "));
            }
            if !sysctl_notes.is_empty() {
                println!("# sysctl: left alone: {}", sysctl_notes.join(" "));
            }
            if let Err(e) = &sysctls {
                println!("# sysctl: cannot compare: {e:#}");
            }
        }
    }
    Ok(if in_sync { 0 } else { 2 })
}
