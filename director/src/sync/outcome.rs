//! What one pass did: the IPVS report, the table after it, and the steps that failed while the
//! pass itself stood.

use std::fmt;
use std::time::Duration;

use lb_ipvs_sync::reconcile::SyncReport;
use lb_ipvs_sync::vip::VipError;
use lb_ipvs_sync::{IpvsError, IpvsTable};
use thiserror::Error;

use super::daemons::DaemonReport;
use super::netfilter::{NetfilterReport, NetfilterStepError};
use super::persisted::PersistedState;
use super::state_file::StateFileError;
use super::timed::IpvsTimes;

/// What one pass of the director did.
#[derive(Debug)]
pub struct PassOutcome {
    /// The IPVS pass.
    pub report: SyncReport,
    /// The table right after the pass (for VIPs, status and BGP): the table the pass planned
    /// from plus its acknowledged writes, with the services written as read back; `None` if
    /// that read failed.
    pub after: Option<IpvsTable>,
    /// The netfilter step, when it ran and succeeded.
    pub netfilter: Option<NetfilterReport>,
    /// The sync-daemon step, when it ran (full passes with `[failover.connection_sync]`).
    pub daemons: Option<DaemonReport>,
    /// Services read from the kernel before planning (a whole read counts them all).
    pub services_read: usize,
    /// Whole-table dumps the pass took (0 for a focused pass, 1 for a full one; 2 only when
    /// the writes touched most of the table and one dump was cheaper than reading them back).
    pub dumps: u32,
    /// Steps around the IPVS pass that failed (netfilter, state file, dump, read-back, VIPs):
    /// the pass itself stands, and these are reported.
    pub step_errors: Vec<StepError>,
    /// What the state file holds after the pass (unchanged, or as written); `None` when the
    /// write failed or the content is unknown: the next pass writes.
    pub persisted: Option<PersistedState>,
    /// Where the pass's time went.
    pub times: PassTimes,
}

/// Wall-clock time of each step of a pass, for `lbctl apply -o json` and the debug log: where
/// a slow pass on a large table spends its time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassTimes {
    /// Netfilter rules and sysctls (zero when not asked).
    pub netfilter: Duration,
    /// The IPVS pass: its read, plan and writes.
    pub ipvs: IpvsTimes,
    /// Writing the state file (zero when its content did not change).
    pub state_file: Duration,
    /// Reading back what was written.
    pub read_back: Duration,
}

impl PassTimes {
    /// Milliseconds per step, in the order they ran.
    pub fn steps_ms(&self) -> [(&'static str, u64); 6] {
        [
            ("netfilter", millis(self.netfilter)),
            ("read", millis(self.ipvs.read)),
            ("plan", millis(self.ipvs.plan)),
            ("write", millis(self.ipvs.write)),
            ("state_file", millis(self.state_file)),
            ("read_back", millis(self.read_back)),
        ]
    }
}

/// Whole milliseconds (saturating).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl PassOutcome {
    /// Whether the IPVS pass and every step around it succeeded.
    pub fn is_clean(&self) -> bool {
        self.report.is_clean() && self.step_errors.is_empty()
    }

    /// Whether the table after the pass can be trusted as the start of a focused pass: the
    /// IPVS pass and its steps succeeded, except perhaps the sync daemons, which only full
    /// passes look at (a daemon that cannot start, e.g. on a missing interface, is retried
    /// each resync period; it must not turn every later change into a full pass).
    pub fn table_is_clean(&self) -> bool {
        self.report.is_clean() && self.step_errors.iter().all(|e| e.step == Step::SyncDaemons)
    }

    /// Whether an IPVS write or a step timed out (a hang, reported as such).
    pub fn timed_out(&self) -> bool {
        self.report.failed.iter().any(|f| f.error.is_timeout())
            || self.step_errors.iter().any(StepError::is_timeout)
    }

    /// Whether the netfilter step failed (its rules must not be taken as installed).
    pub fn netfilter_failed(&self) -> bool {
        self.step_errors.iter().any(|e| e.step == Step::Netfilter)
    }
}

/// A step of a pass besides the IPVS writes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Netfilter rules and IPVS sysctls, before the IPVS pass.
    Netfilter,
    /// The IPVS connection sync daemons (full passes).
    SyncDaemons,
    /// The state file (drain book and kept keys) written after the pass.
    StateFile,
    /// The services written, read again after the pass (`dump`: the name logs know).
    Dump,
    /// That read found writes the kernel did not keep.
    ReadBack,
    /// The VIP addresses on the interface (the async step after the pass).
    Vips,
}

impl Step {
    /// The step's name in logs (`step=`) and reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Netfilter => "netfilter",
            Step::SyncDaemons => "sync_daemons",
            Step::StateFile => "state_file",
            Step::Dump => "dump",
            Step::ReadBack => "read_back",
            Step::Vips => "vips",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A step of a pass that failed.
#[derive(Debug)]
pub struct StepError {
    /// Which step.
    pub step: Step,
    /// What went wrong.
    pub error: StepFailure,
}

impl StepError {
    /// A failed step.
    pub fn new(step: Step, error: StepFailure) -> Self {
        StepError { step, error }
    }

    /// Whether the step failed because the kernel or a tool did not answer in time.
    pub fn is_timeout(&self) -> bool {
        match &self.error {
            StepFailure::Netfilter(e) => e.is_timeout(),
            StepFailure::Dump(e) | StepFailure::SyncDaemons(e) => e.is_timeout(),
            StepFailure::Vips { source, .. } => source.is_timeout(),
            StepFailure::StateFile(_) | StepFailure::ReadBack { .. } => false,
        }
    }

    /// The error with its causes, `outer: inner: ...` (as `{:#}` of an `anyhow::Error`).
    pub fn text(&self) -> String {
        crate::error_text::chain(&self.error)
    }
}

/// Why a step failed.
#[derive(Debug, Error)]
pub enum StepFailure {
    /// Netfilter rules or IPVS sysctls (the old rules stay in force: they are replaced
    /// atomically).
    #[error(transparent)]
    Netfilter(#[from] NetfilterStepError),
    /// A sync daemon could not be read, started or stopped (EINVAL on start: a service has
    /// real servers of the other address family, which the sync protocol cannot carry;
    /// ENODEV: no such interface).
    #[error("cannot bring the IPVS connection sync daemons in line")]
    SyncDaemons(#[source] IpvsError),
    /// The drain book could not be persisted.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// The services written could not be read back after the pass.
    #[error("cannot read the IPVS table back after the sync")]
    Dump(#[source] IpvsError),
    /// Writes the kernel accepted but does not hold (`ipvsadm`-like lines).
    #[error(
        "read back after the sync: the kernel does not hold what was written, still pending: {}",
        pending.join("; ")
    )]
    ReadBack {
        /// The operations a new plan still wants.
        pending: Vec<String>,
    },
    /// The VIP addresses could not be brought in line.
    #[error("cannot sync the VIPs on {interface}")]
    Vips {
        /// The VIP interface.
        interface: String,
        /// What rtnetlink said.
        #[source]
        source: VipError,
    },
}
