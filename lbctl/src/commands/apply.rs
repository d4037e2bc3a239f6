//! `lbctl apply`: one sync of IPVS and the VIP addresses, then exit.

use std::collections::BTreeSet;
use std::net::IpAddr;

use anyhow::{Context, Result};
use lb_director::netfilter::director_rules;
use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::reconcile::SyncReport;
use lb_ipvs_sync::vip::VipPlan;
use serde_json::json;

use crate::cli::{Inputs, Output};
use lb_controller::kernel_sync::{KernelSyncRequest, now_secs, prepare, sync_kernel};
use lb_controller::state_file;
use lb_controller::writer_lock::WriterLock;

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
    let prepared = prepare(&inputs.files(), state_file_path, force).map_err(anyhow::Error::new)?;
    crate::commands::report_problems(&prepared.loaded.problems);
    // Before the lock and any write: a range holding the director's own address is refused.
    lb_controller::own_addresses::refuse_ranges_holding_own_addresses(&prepared.loaded.settings)?;
    let _lock = WriterLock::acquire(
        &prepared.state_file,
        "lbctl apply",
        "while lbctl run manages this director, change the ConfigMap and let the daemon \
         apply it, or stop the daemon first",
    )?;
    let book = state_file::read(&prepared.state_file)?;
    let mut client = IpvsClient::connect().context("cannot open IPVS")?;
    // Netfilter (NOTRACK, FullNAT SNAT) and IPVS sysctls first: SNAT must exist before a
    // FullNAT service forwards its first connection.
    let netfilter = lb_controller::netfilter_sync::sync_netfilter(
        &prepared.loaded.settings,
        &director_rules(&prepared.loaded.outcome.state),
        Some(&prepared.state_file),
    )?;
    let request = KernelSyncRequest {
        target: &prepared.target,
        desired_vips: &prepared.loaded.outcome.state.vips,
        scope: &prepared.scope,
        options: &prepared.options,
        drain: &book,
        now: now_secs(),
        state_file: Some(&prepared.state_file),
        vip_interface: manage_vips.then_some(prepared.loaded.settings.vip_interface.as_str()),
        incremental: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for rtnetlink")?;
    let outcome = runtime
        .block_on(sync_kernel(&mut client, &request))
        .context("sync failed")?;
    let writes = client.op_count().writes;
    print_report(
        &outcome.report,
        outcome.vips.as_ref(),
        &netfilter,
        writes,
        output,
    )?;
    if let Some(step) = outcome.step_errors.into_iter().next() {
        return Err(step.error);
    }
    let report = &outcome.report;
    Ok(if !report.failed.is_empty() || !report.skipped.is_empty() {
        EXIT_FAILED_OPS
    } else if report.guard_refusal.is_some() {
        EXIT_GUARD_REFUSED
    } else {
        0
    })
}

fn print_report(
    report: &SyncReport,
    vips: Option<&VipPlan>,
    netfilter: &lb_controller::netfilter_sync::NetfilterReport,
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
                "netfilter": netfilter.to_json(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            for line in netfilter.text_lines() {
                println!("{line}");
            }
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
