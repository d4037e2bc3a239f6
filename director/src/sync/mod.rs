//! One pass of the director, from a wanted table to the kernel: [`sync_director`], the one entry
//! point `lbctl apply` and the daemon share, and its plan-only twin [`preview`] for
//! `lbctl diff`.
//!
//! A pass runs, in order: netfilter rules and IPVS sysctls (when asked), the IPVS pass (a whole
//! table or a focus), the connection sync daemons (full passes, when asked), the state file
//! (drain book and kept ConfigMap keys) written when its content changed, and the read-back: the table
//! after the pass is the table it planned from plus the writes the kernel acknowledged, and only
//! the services written are read again to check it (a full pass dumps once, at its start). It is plain blocking code (the netlink client and the tools are
//! synchronous): callers run it on a thread that may block. The VIP addresses (rtnetlink,
//! async) are the caller's next step, [`sync_vips_after`], in async context: no runtime is nested.
//!
//! One policy for partial failures: only a failed first read of the kernel stops a pass
//! (nothing is written then). A failed netfilter step is recorded and the IPVS pass still runs:
//! rules are replaced atomically, so the old ones stay in force, and endpoint changes must
//! still reach the kernel. Failed later steps are recorded too; the writes stand.

mod daemons;
mod input;
mod netfilter;
mod outcome;
pub mod persisted;
mod preview;
mod read_back;
pub mod state_file;
mod timed;
mod vip_step;
mod vips;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use lb_ipvs_sync::IpvsKernel;
use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::{SyncError, sync_focused_observed, sync_once_observed};

pub use self::daemons::{DaemonReport, sync_daemons};
pub use self::input::{FocusRead, NetfilterJob, PassInput, ReadMode, Wanted, wanted_sync_daemons};
pub use self::netfilter::{
    NetfilterHost, NetfilterReport, NetfilterStepError, changed_tables, check_netfilter,
    check_sysctls, sync_netfilter, sysctl_text,
};
pub use self::outcome::{PassOutcome, PassTimes, Step, StepError, StepFailure, millis};
use self::persisted::PersistedState;
pub use self::preview::{Preview, preview};
pub use self::state_file::StateFileError;
pub use self::timed::IpvsTimes;
use self::timed::{Stopwatch, TimedKernel};
pub use self::vip_step::{VIP_STEP_TIMEOUT, VipOutcome, sync_vips_after};
pub use self::vips::wanted_vips;

/// Runs one pass of the director (see the module doc for its steps and failure policy).
///
/// Errors only when the first read of the kernel fails: nothing was written then (the
/// netfilter step may have run). Everything after it reports into
/// [`PassOutcome::step_errors`].
pub fn sync_director<K: IpvsKernel>(
    kernel: &mut K,
    input: &PassInput,
    read: &ReadMode,
) -> Result<PassOutcome, SyncError> {
    let mut step_errors = Vec::new();
    let mut times = PassTimes::default();
    let mut stopwatch = Stopwatch::start();
    // Netfilter first: a FullNAT service's SNAT must exist before its first connection.
    let netfilter = input.netfilter.as_ref().and_then(|job| {
        sync_netfilter(
            &job.settings,
            &job.rules,
            input.state_file.as_deref(),
            &job.host,
        )
        .map_err(|e| step_errors.push(StepError::new(Step::Netfilter, e.into())))
        .ok()
    });
    times.netfilter = stopwatch.lap();
    let mut dumps = 0;
    let (before, report, services_read) = match read {
        ReadMode::Whole => {
            let mut timed = TimedKernel::new(kernel);
            let synced = sync_once_observed(
                &mut timed,
                &input.wanted,
                &input.scope,
                &input.drain,
                input.now,
                &input.options,
            )?;
            let read = synced.observed.services.len();
            dumps += 1;
            times.ipvs = timed.times();
            (synced.observed, synced.report, read)
        }
        ReadMode::Focus(focus) => {
            let mut timed = TimedKernel::new(kernel);
            let synced = sync_focused_observed(
                &mut timed,
                &input.wanted,
                &input.scope,
                &input.drain,
                input.now,
                &input.options,
                &focus.focus,
            )?;
            times.ipvs = timed.times();
            // The last clean table with the focus's services as just read: a copy of the map's
            // pointers, every other service stays shared with it.
            let before = read_back::replace(
                IpvsTable::clone(&focus.table),
                synced.observed,
                &focus.focus.services,
            );
            (before, synced.report, focus.focus.services.len())
        }
    };
    // The sync daemons on full passes only (see `daemons`): a focus stays O(its focus).
    let daemons = match (&input.sync_daemons, read) {
        (Some(wanted), ReadMode::Whole) => {
            let (report, error) = sync_daemons(kernel, wanted);
            if let Some(e) = error {
                step_errors.push(StepError::new(
                    Step::SyncDaemons,
                    StepFailure::SyncDaemons(e),
                ));
            }
            Some(report)
        }
        _ => None,
    };
    stopwatch.lap();
    let mut persisted = input.on_disk.clone();
    if let Some(path) = &input.state_file {
        let state = PersistedState::new(report.drain.clone(), Arc::clone(&input.keys));
        if persisted
            .as_ref()
            .is_some_and(|old| old.same_content(&state))
        {
            // Nothing changed: no write, no fsync.
        } else if let Err(e) = state_file::write(path, &state) {
            step_errors.push(StepError::new(Step::StateFile, e.into()));
            persisted = None;
        } else {
            persisted = Some(state);
        }
    }
    times.state_file = stopwatch.lap();
    let after = match read_back::read_back(kernel, before, &report) {
        Ok(read) => {
            dumps += u32::from(read.dumped);
            // Failed or skipped writes are reported as such; the read-back checks clean ones.
            if report.failed.is_empty() && report.skipped.is_empty() && !read.pending.is_empty() {
                step_errors.push(StepError::new(
                    Step::ReadBack,
                    StepFailure::ReadBack {
                        pending: read.pending,
                    },
                ));
            }
            Some(read.after)
        }
        Err(e) => {
            step_errors.push(StepError::new(Step::Dump, StepFailure::Dump(e)));
            None
        }
    };
    times.read_back = stopwatch.lap();
    tracing::debug!(times_ms = ?times.steps_ms(), "director pass phases");
    Ok(PassOutcome {
        report,
        after,
        times,
        netfilter,
        daemons,
        services_read,
        dumps,
        step_errors,
        persisted,
    })
}
