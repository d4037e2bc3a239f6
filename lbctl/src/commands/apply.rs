//! `lbctl apply`: one sync of IPVS and the VIP addresses, then exit.

use std::collections::BTreeSet;
use std::net::IpAddr;

use anyhow::{Context, Result};
use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::reconcile::{SyncReport, sync_once};
use lb_ipvs_sync::vip::{VipInterface, VipPlan, plan_vips};
use lb_ipvs_sync::{IpvsKernel, IpvsTable};
use serde_json::json;
use tracing::info;

use crate::cli::{Inputs, Output};
use crate::kernel_sync::{SyncInputs, now_secs, prepare};
use crate::state_file;

/// Exit codes of `apply`.
pub(crate) const EXIT_FAILED_OPS: i32 = 1;
/// The delete guard held back deletions (the rest was applied).
pub(crate) const EXIT_GUARD_REFUSED: i32 = 3;

/// Runs one sync; returns the exit code.
pub(crate) fn run(
    inputs: &Inputs,
    state_file_path: Option<std::path::PathBuf>,
    force: bool,
    manage_vips: bool,
    output: Output,
) -> Result<i32> {
    let prepared = prepare(inputs, state_file_path, force).map_err(anyhow::Error::new)?;
    let book = state_file::read(&prepared.state_file)?;
    let mut client = IpvsClient::connect().context("cannot open IPVS")?;
    let report = sync_once(
        &mut client,
        &prepared.target,
        &prepared.scope,
        &book,
        now_secs(),
        &prepared.options,
    )
    .context("sync failed")?;
    state_file::write(&prepared.state_file, &report.drain)?;
    let vip_plan = if manage_vips {
        let after = client
            .dump()
            .context("cannot dump the IPVS table after the sync")?;
        Some(sync_vips(&prepared, &after)?)
    } else {
        None
    };
    let writes = client.op_count().writes;
    print_report(&report, vip_plan.as_ref(), writes, output)?;
    Ok(if !report.failed.is_empty() || !report.skipped.is_empty() {
        EXIT_FAILED_OPS
    } else if report.guard_refusal.is_some() {
        EXIT_GUARD_REFUSED
    } else {
        0
    })
}

/// Puts the VIPs on the VIP interface: every desired VIP, and every managed VIP that still has
/// a service in the kernel (draining, or held back by the guard) - a VIP is removed only when
/// nothing serves it any more.
fn sync_vips(prepared: &SyncInputs, after: &IpvsTable) -> Result<VipPlan> {
    let mut wanted: BTreeSet<IpAddr> = prepared.loaded.outcome.state.vips.clone();
    wanted.extend(
        after
            .services
            .keys()
            .filter_map(|id| id.inet())
            .filter(|key| prepared.scope.contains_addr(key.vip))
            .map(|key| key.vip),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for rtnetlink")?;
    let interface = prepared.loaded.settings.vip_interface.clone();
    let managed = prepared.loaded.settings.managed_vip_ranges.clone();
    runtime.block_on(async move {
        let vips = VipInterface::ensure(&interface).await?;
        let present = vips.addresses().await?;
        let plan = plan_vips(&wanted, &present, &managed);
        for vip in &plan.add {
            vips.add(*vip).await?;
        }
        for vip in &plan.remove {
            vips.remove(*vip).await?;
        }
        info!(interface = %interface, added = plan.add.len(), removed = plan.remove.len(), "VIPs in sync");
        Ok::<_, anyhow::Error>(plan)
    })
}

fn print_report(
    report: &SyncReport,
    vips: Option<&VipPlan>,
    writes: u64,
    output: Output,
) -> Result<()> {
    match output {
        Output::Json => {
            let doc = json!({
                "clean": report.is_clean(),
                "netlink_writes": writes,
                "counts": report.counts,
                "applied": report.applied,
                "races": report.races.iter().map(|f| json!({"operation": f.operation, "error": f.error.to_string()})).collect::<Vec<_>>(),
                "failed": report.failed.iter().map(|f| json!({"operation": f.operation, "error": f.error.to_string()})).collect::<Vec<_>>(),
                "skipped": report.skipped,
                "draining": report.plan.draining,
                "guard_refusal": report.guard_refusal.as_ref().map(ToString::to_string),
                "vips": vips,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            print!("{}", report.plan.render_ipvsadm());
            let c = &report.counts;
            println!(
                "# applied {} operation(s) with {writes} netlink write(s): services +{} ~{} -{}, \
                 real servers +{} ~{} drain {} -{}",
                report.applied.len(),
                c.add_service,
                c.edit_service,
                c.delete_service,
                c.add_destination,
                c.edit_destination,
                c.quiesce_destination,
                c.delete_destination
            );
            for race in &report.races {
                println!("# already done: {}", race.error);
            }
            for failed in &report.failed {
                println!("# FAILED: {}", failed.error);
            }
            for op in &report.skipped {
                println!(
                    "# skipped (depends on a failed operation): {}",
                    op.service()
                );
            }
            for d in &report.plan.draining {
                println!(
                    "# draining {} -> {} (active {}, inactive {})",
                    d.service, d.destination, d.active_conns, d.inactive_conns
                );
            }
            if let Some(refusal) = &report.guard_refusal {
                println!("# GUARD: {refusal}");
            }
            if let Some(v) = vips {
                let fmt = |s: &BTreeSet<IpAddr>| {
                    s.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                println!(
                    "# VIPs added: [{}] removed: [{}]",
                    fmt(&v.add),
                    fmt(&v.remove)
                );
            }
        }
    }
    Ok(())
}
