//! One reconcile pass against a kernel: dump, plan, guard, apply.
//!
//! Contract: the only I/O is through the [`IpvsKernel`] passed in; time comes from the caller.
//! A failed dump applies nothing (an outage must never look like an empty table). Benign races
//! (EEXIST on an add, ENOENT/ESRCH on a delete: someone else already did it) are counted and
//! the pass goes on; other failures are recorded per operation, and operations that depend on a
//! failed one (the destinations of a service whose add failed) are skipped. The next pass
//! repairs whatever is still wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;
use tracing::{debug, info, warn};

use super::drain::DrainBook;
use super::errno::{EEXIST, ENOENT, ESRCH};
use super::guard::{GuardRefusal, guard};
use super::plan::{Plan, PlanOptions, plan};
use super::scope::Scope;
use crate::error::IpvsError;
use crate::kernel::IpvsKernel;
use crate::model::{IpvsTable, Operation, ServiceId};
use crate::wanted::WantedService;

/// A pass that could not even start. The IPVS error is in the message and matched by variant
/// (`SyncError::Dump(e)`), so it is not also a `source()`: anyhow's `{:#}` prints it once.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The dump failed, so nothing was planned or applied.
    #[error("cannot dump the IPVS table, nothing applied: {0}")]
    Dump(IpvsError),
}

/// An operation the kernel refused (or a benign race), with the kernel's error.
#[derive(Debug)]
pub struct FailedOperation {
    /// What we asked.
    pub operation: Operation,
    /// What the kernel said.
    pub error: IpvsError,
}

/// Applied operations by kind, for metrics (`lvs_sync_operations_total{kind=...}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OperationCounts {
    /// Services added (new, or re-added after someone deleted them).
    pub add_service: usize,
    /// Services edited in place.
    pub edit_service: usize,
    /// Services deleted.
    pub delete_service: usize,
    /// Destinations added.
    pub add_destination: usize,
    /// Destinations edited in place (not counting drain quiesces).
    pub edit_destination: usize,
    /// Destinations quiesced to start a drain.
    pub quiesce_destination: usize,
    /// Destinations deleted.
    pub delete_destination: usize,
}

impl OperationCounts {
    /// All applied writes.
    pub fn total(&self) -> usize {
        self.add_service
            + self.edit_service
            + self.delete_service
            + self.add_destination
            + self.edit_destination
            + self.quiesce_destination
            + self.delete_destination
    }
}

/// What one pass did.
#[derive(Debug)]
pub struct SyncReport {
    /// The plan that was applied (without its destructive part if the guard refused).
    pub plan: Plan,
    /// Set when the guard held back deletes and drains.
    pub guard_refusal: Option<GuardRefusal>,
    /// Operations the kernel accepted, in order.
    pub applied: Vec<Operation>,
    /// Operations that found their work already done (EEXIST on add, ENOENT/ESRCH on delete).
    pub races: Vec<FailedOperation>,
    /// Operations the kernel refused.
    pub failed: Vec<FailedOperation>,
    /// Operations not attempted because one they depend on failed.
    pub skipped: Vec<Operation>,
    /// Applied operations by kind.
    pub counts: OperationCounts,
    /// The drain book to persist for the next pass.
    pub drain: DrainBook,
}

impl SyncReport {
    /// Whether the kernel now equals the plan's intent: nothing failed, skipped or held back.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.guard_refusal.is_none()
    }
}

/// What a pass read before planning, and what it did: with [`predict`](super::predict()) the
/// table after it, without reading the whole table again.
#[derive(Debug)]
pub struct Synced {
    /// The kernel as the pass read it before planning (a whole dump, or a focus's services).
    pub observed: IpvsTable,
    /// What the pass did.
    pub report: SyncReport,
}

/// Runs one pass: dump, plan, guard (dropping the destructive part when refused), apply.
pub fn sync_once<K: IpvsKernel>(
    kernel: &mut K,
    wanted: &BTreeMap<ServiceId, WantedService>,
    scope: &Scope,
    drain: &DrainBook,
    now: u64,
    options: &PlanOptions,
) -> Result<SyncReport, SyncError> {
    sync_once_observed(kernel, wanted, scope, drain, now, options).map(|synced| synced.report)
}

/// [`sync_once`], also handing back the dump it planned from.
pub fn sync_once_observed<K: IpvsKernel>(
    kernel: &mut K,
    wanted: &BTreeMap<ServiceId, WantedService>,
    scope: &Scope,
    drain: &DrainBook,
    now: u64,
    options: &PlanOptions,
) -> Result<Synced, SyncError> {
    let observed = kernel.dump().map_err(SyncError::Dump)?;
    let planned = plan(wanted, &observed, scope, drain, now, options);
    let report = execute(kernel, planned, options);
    Ok(Synced { observed, report })
}

/// Guards a plan (dropping its destructive part when refused) and applies it.
pub(super) fn execute<K: IpvsKernel>(
    kernel: &mut K,
    mut planned: Plan,
    options: &PlanOptions,
) -> SyncReport {
    let guard_refusal = guard(&planned, options).err();
    if let Some(refusal) = &guard_refusal {
        warn!(
            what = %refusal.what,
            removals = refusal.removals,
            managed = refusal.managed,
            max_delete_share = refusal.max_delete_share,
            "{refusal}"
        );
        planned = planned.without_deletions();
    }
    for refused in &planned.refused {
        warn!(service = %refused.service, reason = ?refused.reason, "wanted service not planned");
    }
    let mut outcome = Outcome::default();
    let mut failed_adds: BTreeSet<ServiceId> = BTreeSet::new();
    // After a timeout the kernel is not answering: the rest waits for the next pass, so one
    // hang costs one timeout per pass, not one per operation.
    let mut timed_out = false;
    for op in &planned.operations {
        if timed_out {
            outcome.skipped.push(op.clone());
            continue;
        }
        if failed_adds.contains(op.service()) {
            debug!(service = %op.service(), ?op, "skipped: the service could not be added");
            outcome.skipped.push(op.clone());
            continue;
        }
        match kernel.apply(op) {
            Ok(()) => {
                debug!(service = %op.service(), ?op, "applied");
                count(&mut outcome.counts, op, planned.is_quiesce(op));
                outcome.applied.push(op.clone());
            }
            Err(error) if is_benign_race(op, &error) => {
                info!(service = %op.service(), ?op, errno = error.errno(), "already done: benign race");
                outcome.races.push(FailedOperation {
                    operation: op.clone(),
                    error,
                });
            }
            Err(error) => {
                warn!(service = %op.service(), ?op, error = %error, timed_out = error.is_timeout(), "IPVS operation failed");
                timed_out = error.is_timeout();
                if matches!(op, Operation::AddService { .. }) {
                    failed_adds.insert(*op.service());
                }
                outcome.failed.push(FailedOperation {
                    operation: op.clone(),
                    error,
                });
            }
        }
    }
    let report = SyncReport {
        drain: planned.drain.clone(),
        plan: planned,
        guard_refusal,
        applied: outcome.applied,
        races: outcome.races,
        failed: outcome.failed,
        skipped: outcome.skipped,
        counts: outcome.counts,
    };
    info!(
        applied = report.applied.len(),
        races = report.races.len(),
        failed = report.failed.len(),
        skipped = report.skipped.len(),
        draining = report.plan.draining.len(),
        guard_refused = report.guard_refusal.is_some(),
        "IPVS sync pass done"
    );
    report
}

/// What applying the operations gave, before it becomes the report.
#[derive(Default)]
struct Outcome {
    applied: Vec<Operation>,
    races: Vec<FailedOperation>,
    failed: Vec<FailedOperation>,
    skipped: Vec<Operation>,
    counts: OperationCounts,
}

fn is_benign_race(op: &Operation, error: &IpvsError) -> bool {
    let errno = error.errno();
    match op {
        Operation::AddService { .. } | Operation::AddDestination { .. } => errno == Some(EEXIST),
        Operation::DeleteService { .. } | Operation::DeleteDestination { .. } => {
            matches!(errno, Some(ENOENT | ESRCH))
        }
        Operation::EditService { .. } | Operation::EditDestination { .. } => false,
    }
}

fn count(counts: &mut OperationCounts, op: &Operation, quiesce: bool) {
    let slot = match op {
        Operation::AddService { .. } => &mut counts.add_service,
        Operation::EditService { .. } => &mut counts.edit_service,
        Operation::DeleteService { .. } => &mut counts.delete_service,
        Operation::AddDestination { .. } => &mut counts.add_destination,
        Operation::EditDestination { .. } if quiesce => &mut counts.quiesce_destination,
        Operation::EditDestination { .. } => &mut counts.edit_destination,
        Operation::DeleteDestination { .. } => &mut counts.delete_destination,
    };
    *slot += 1;
}
