//! Where an IPVS pass spends its time, measured at the kernel boundary: the reconciler is pure
//! and reads no clock, so the pass runs through [`TimedKernel`], which notes when the first
//! read starts and ends and when the first write starts.

// I/O room (see clippy.toml): reads the clock around the kernel's calls.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lb_ipvs_sync::sync_daemon::{DaemonOp, SyncDaemon};
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable, Operation, ServiceId};

/// Wall-clock time of an IPVS pass's phases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpvsTimes {
    /// Reading the kernel before planning (a whole dump, or the focus's services).
    pub read: Duration,
    /// Planning and guarding, from the end of the read to the first write (or to the end of
    /// the pass when nothing was written).
    pub plan: Duration,
    /// From the first write to the end of the pass: the writes, each acknowledged.
    pub write: Duration,
}

/// Laps of a pass's steps around the IPVS pass (netfilter, state file, read-back).
pub(super) struct Stopwatch(Instant);

impl Stopwatch {
    pub(super) fn start() -> Self {
        Stopwatch(Instant::now())
    }

    /// The time since the start or the last lap; starts the next lap.
    pub(super) fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let lap = now.saturating_duration_since(self.0);
        self.0 = now;
        lap
    }
}

/// A kernel that notes the start and end of the first read and the start of the first write.
/// One clock read per phase, none per operation.
pub(super) struct TimedKernel<'k, K> {
    kernel: &'k mut K,
    started: Instant,
    read_end: Option<Instant>,
    first_write: Option<Instant>,
}

impl<'k, K: IpvsKernel> TimedKernel<'k, K> {
    pub(super) fn new(kernel: &'k mut K) -> Self {
        TimedKernel {
            kernel,
            started: Instant::now(),
            read_end: None,
            first_write: None,
        }
    }

    /// The phases, the pass having ended now.
    pub(super) fn times(&self) -> IpvsTimes {
        let end = Instant::now();
        let read_end = self.read_end.unwrap_or(self.started);
        let write_start = self.first_write.unwrap_or(end);
        IpvsTimes {
            read: read_end.saturating_duration_since(self.started),
            plan: write_start.saturating_duration_since(read_end),
            write: end.saturating_duration_since(write_start),
        }
    }

    fn read_done(&mut self) {
        if self.read_end.is_none() {
            self.read_end = Some(Instant::now());
        }
    }
}

impl<K: IpvsKernel> IpvsKernel for TimedKernel<'_, K> {
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        let table = self.kernel.dump();
        self.read_done();
        table
    }

    fn read_services(&mut self, ids: &BTreeSet<ServiceId>) -> Result<IpvsTable, IpvsError> {
        let table = self.kernel.read_services(ids);
        self.read_done();
        table
    }

    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        if self.first_write.is_none() {
            self.first_write = Some(Instant::now());
        }
        self.kernel.apply(op)
    }

    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.kernel.sync_daemons()
    }

    fn apply_daemon(&mut self, op: &DaemonOp) -> Result<(), IpvsError> {
        self.kernel.apply_daemon(op)
    }
}
