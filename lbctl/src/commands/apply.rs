//! `lbctl apply`: one pass of the director (netfilter, IPVS, state file) and the VIP
//! addresses, then exit.
//!
//! The same pass as the daemon's (`lb_director::sync::sync_director`), with the same policy
//! for partial failures: a netfilter or sysctl failure does not hold back the IPVS pass (the
//! old rules stay in force); every failed step is printed and the exit code is 1.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lb_director::sync::{
    NetfilterReport, PassTimes, ReadMode, StepError, millis, state_file, sync_director,
};
use lb_ipvs_sync::netlink::IpvsClient;
use lb_ipvs_sync::reconcile::SyncReport;
use lb_ipvs_sync::vip::VipPlan;
use serde_json::json;

use crate::cli::{FileArgs, Output};
use lb_controller::prepare::{LastGood, now_secs, pass_settings};
use lb_controller::writer_lock::WriterLock;
use lb_director::sync::sync_vips_after;

/// Exit codes of `apply`.
pub(crate) const EXIT_FAILED_OPS: i32 = 1;
/// The delete guard held back deletions (the rest was applied).
pub(crate) const EXIT_GUARD_REFUSED: i32 = 3;

/// Runs one sync; returns the exit code.
pub(crate) fn run(
    files: &FileArgs,
    state_file_path: Option<std::path::PathBuf>,
    force: bool,
    manage_vips: bool,
    output: Output,
) -> Result<i32> {
    let started = Instant::now();
    let operator_files = files.operator_files();
    let settings = pass_settings(&operator_files, state_file_path).map_err(anyhow::Error::new)?;
    // Before the lock and any write: a range holding the director's own address is refused.
    lb_controller::own_addresses::refuse_ranges_holding_own_addresses(&settings.settings)?;
    let _lock = WriterLock::acquire(
        &settings.state_file,
        "lbctl apply",
        "while lbctl run manages this director, change the ConfigMap and let the daemon \
         apply it, or stop the daemon first",
    )?;
    // Under the lock: the kept versions and drains read are the ones this pass replaces.
    let state = state_file::read(&settings.state_file)?;
    let now = now_secs();
    let prepared = settings
        .prepare(&operator_files, force, &state.keys, now)
        .map_err(anyhow::Error::new)?;
    crate::commands::report_problems(&prepared.loaded.problems);
    crate::commands::report_last_good(&prepared.last_good, "applying");
    let prepare_time = started.elapsed();
    let mut client = IpvsClient::connect().context("cannot open IPVS")?;
    // Netfilter (NOTRACK, FullNAT SNAT) and IPVS sysctls first, then IPVS, then the VIPs.
    let input = prepared.pass_input(state, now, true);
    let mut outcome =
        sync_director(&mut client, &input, &ReadMode::Whole).context("sync failed")?;
    let writes = client.op_count().writes;
    let vips_at = Instant::now();
    let vips = if manage_vips {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime for rtnetlink")?;
        let interface = prepared.loaded.settings.vip_interface.as_str();
        runtime
            .block_on(sync_vips_after(&mut outcome, &input, interface, None))
            .and_then(|v| v.plan)
    } else {
        None
    };
    let times = Times {
        prepare: prepare_time,
        pass: outcome.times,
        vips: vips_at.elapsed(),
    };
    print_report(
        &prepared.last_good,
        &outcome.report,
        vips.as_ref(),
        outcome.netfilter.as_ref(),
        &outcome.step_errors,
        writes,
        &times,
        output,
    )?;
    for step in &outcome.step_errors {
        eprintln!("error: {}", step.text());
    }
    let report = &outcome.report;
    let code = if !outcome.step_errors.is_empty()
        || !report.failed.is_empty()
        || !report.skipped.is_empty()
    {
        EXIT_FAILED_OPS
    } else if report.guard_refusal.is_some() {
        EXIT_GUARD_REFUSED
    } else {
        0
    };
    // The process ends right after: freeing the tables one entry at a time (110,000 of them
    // at 10,000 services, in several copies) would only delay the exit, by a second on a slow
    // CPU. Nothing in them holds a resource; the writer lock is released as usual.
    std::mem::forget(outcome);
    std::mem::forget(input);
    std::mem::forget(prepared);
    Ok(code)
}

/// Where an apply's time went: the reading of the files and the build, then each step of the
/// pass, then the VIP addresses. What an operator needs when an apply of a large table is slow.
struct Times {
    prepare: Duration,
    pass: PassTimes,
    vips: Duration,
}

impl Times {
    /// Milliseconds per step, in the order they ran.
    fn steps(&self) -> Vec<(&'static str, u64)> {
        let mut steps = vec![("prepare", millis(self.prepare))];
        steps.extend(self.pass.steps_ms());
        steps.push(("vips", millis(self.vips)));
        steps
    }
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    last_good: &LastGood,
    report: &SyncReport,
    vips: Option<&VipPlan>,
    netfilter: Option<&NetfilterReport>,
    step_errors: &[StepError],
    writes: u64,
    times: &Times,
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
                "netfilter": netfilter.map(NetfilterReport::to_json),
                "step_errors": step_errors.iter().map(|e| json!({"step": e.step.name(), "error": e.text()})).collect::<Vec<_>>(),
                "kept_keys": last_good.kept,
                "configmap_kept": last_good.kept_all,
                "times_ms": times
                    .steps()
                    .into_iter()
                    .map(|(step, ms)| (step.to_string(), json!(ms)))
                    .collect::<serde_json::Map<_, _>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            for line in netfilter
                .map(NetfilterReport::text_lines)
                .unwrap_or_default()
            {
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
            for kept in &last_good.kept {
                println!(
                    "# kept: key {} is invalid, its last good version (from the state file) was applied",
                    kept.key
                );
            }
            for step in step_errors {
                println!("# FAILED step {}: {}", step.step, step.text());
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
            let steps: Vec<String> = times
                .steps()
                .iter()
                .map(|(step, ms)| format!("{step} {ms}"))
                .collect();
            println!("# time (ms): {}", steps.join(", "));
        }
    }
    Ok(())
}
