//! What one pass of the director needs, owned: the same type for `lbctl apply`, `lbctl diff`
//! and the daemon, so that none of them can pass the reconciler something the others do not.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use lb_config::Settings;
use lb_ipvs_sync::reconcile::{DrainBook, Focus, PlanOptions, Scope};
use lb_ipvs_sync::sync_daemon::SyncDaemon;
use lb_ipvs_sync::wanted::WantedService;
use lb_ipvs_sync::{IpvsTable, ServiceId};

use super::netfilter::NetfilterHost;
use super::persisted::{KeptVersions, PersistedState};
use crate::netfilter::DirectorRules;

/// The IPVS table a pass reaches; shared (the daemon keeps it for its next focus).
pub type Wanted = Arc<BTreeMap<ServiceId, WantedService>>;

/// Everything one pass of the director needs besides the kernel. Owned, so that it can cross
/// into the blocking thread the pass runs on.
#[derive(Debug, Clone)]
pub struct PassInput {
    /// The IPVS table to reach.
    pub wanted: Wanted,
    /// The VIPs the desired state binds (the VIP step adds those still serving in the kernel).
    pub desired_vips: BTreeSet<IpAddr>,
    /// Managed VIP ranges: nothing outside them is ever touched.
    pub scope: Scope,
    /// Drain timeouts and the delete guard.
    pub options: PlanOptions,
    /// Drain deadlines from the previous pass.
    pub drain: DrainBook,
    /// Seconds since the Unix epoch: the reconciler's notion of now.
    pub now: u64,
    /// Where to persist the drain book and `keys` after the pass (`None`: keep them in memory
    /// only).
    pub state_file: Option<PathBuf>,
    /// The last good version of each ConfigMap key, persisted with the drains (`lbctl apply`
    /// passes on what the file held, the daemon what its key memory holds).
    pub keys: Arc<KeptVersions>,
    /// What the state file holds (as read, or as the last pass wrote it): a pass that ends
    /// with the same content does not rewrite it. `None`: unknown, write.
    pub on_disk: Option<PersistedState>,
    /// Netfilter rules and IPVS sysctls to install before the IPVS pass (`None`: netfilter is
    /// not managed, or a focused pass found the rules unchanged).
    pub netfilter: Option<NetfilterJob>,
    /// The IPVS connection sync daemons to run, brought in line on full passes (`None`: lbctl
    /// leaves the sync daemons alone).
    pub sync_daemons: Option<Vec<SyncDaemon>>,
}

/// What the netfilter step needs: the settings (backend, `manage_sysctls`) and the rules.
#[derive(Debug, Clone)]
pub struct NetfilterJob {
    /// Settings of this pass.
    pub settings: Arc<Settings>,
    /// The NOTRACK/SNAT rules of the desired state.
    pub rules: DirectorRules,
    /// Where the tools run and the sysctls live (production: the host).
    pub host: NetfilterHost,
}

/// How a pass reads the kernel before planning: decided by the caller (the daemon's view of
/// the last clean pass), never again inside the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadMode {
    /// Dump and plan the whole table (`lbctl apply`, start-up, resync, after any failure).
    Whole,
    /// Read and plan only the focus; the rest is taken as the last clean pass left it.
    Focus(FocusRead),
}

/// What a focused pass starts from: the services that changed, and what the last clean pass
/// left behind (a whole pass every resync period checks that belief).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FocusRead {
    /// The services to read, plan and write.
    pub focus: Focus,
    /// The table after the last clean pass.
    pub table: Arc<IpvsTable>,
    /// The VIPs the last clean pass left on the interface (`None`: unknown, sync them).
    pub vips: Option<BTreeSet<IpAddr>>,
}

impl ReadMode {
    /// `full` or `focused`: the pass's name in `/status` (`last_sync.pass`) and the label of
    /// `lbctl_sync_passes_total` (user contracts: keep the texts).
    pub fn label(&self) -> &'static str {
        match self {
            ReadMode::Whole => "full",
            ReadMode::Focus(_) => "focused",
        }
    }

    /// The VIPs the last clean pass left, when this is a focus that knows them: the VIP step
    /// skips the interface when the wanted set equals them.
    pub fn last_vips(&self) -> Option<&BTreeSet<IpAddr>> {
        match self {
            ReadMode::Whole => None,
            ReadMode::Focus(read) => read.vips.as_ref(),
        }
    }
}

/// The sync daemons a pass manages under `settings` (`None`: none are configured, and lbctl
/// leaves whatever runs alone).
pub fn wanted_sync_daemons(settings: &Settings) -> Option<Vec<SyncDaemon>> {
    let sync = &settings.failover.connection_sync;
    sync.enabled().then(|| SyncDaemon::wanted(sync))
}
