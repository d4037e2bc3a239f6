//! The `/status` document: the programmed state with health, drain state and kernel counters.
//!
//! Pure: the join ([`join`]) combines the desired state, the IPVS table read after the last
//! sync, the health verdicts and the drain book into plain serde data; the document says how
//! old that table is (`/status` never dumps the kernel per request). A request may narrow it
//! ([`StatusQuery`]: one VIP, one Kubernetes Service, one ConfigMap key) or ask for counts
//! only ([`StatusSummary`]). `lbctl status` parses the same types back to render tables.
//! Services the kernel still has but the desired state dropped show up as leaving.

mod join;
mod query;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use lb_config::{DesiredState, HealthResults, Problem};
use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::{DrainBook, Scope};
use lb_ipvs_sync::sync_daemon::{DaemonOp, SyncDaemon};
use serde::{Deserialize, Serialize};

pub use self::query::{QueryError, ServiceFilter, StatusQuery};
pub use self::summary::{SUMMARY_LIST_LIMIT, StatusCounts, StatusSummary, VipSummary};

/// Controller facts that are not derived from the tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControllerStatus {
    /// Complete view, connected, last sync succeeded.
    pub ready: bool,
    /// Every source finished its initial list.
    pub listed: bool,
    /// The sources reach their origin (API server).
    pub connected: bool,
    /// The last sync, if any ran.
    pub last_sync: Option<SyncSummary>,
    /// Current ConfigMap problems.
    pub problems: Vec<Problem>,
    /// Keys running on their last good version.
    pub kept_keys: Vec<String>,
    /// The whole ConfigMap is kept (deleted or unreadable).
    pub configmap_kept: bool,
    /// The keys of `kept_keys`, each with since when and from where its version is served.
    #[serde(default)]
    pub kept: Vec<KeptKey>,
    /// The IPVS connection sync daemons as the last full pass found them (absent: lbctl does
    /// not manage them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_sync: Option<ConnectionSyncStatus>,
}

/// A key served from its last good version, and why an operator can trust that version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptKey {
    /// The ConfigMap key.
    pub key: String,
    /// Since when its current value is rejected (this process; seconds since the Unix epoch).
    pub kept_since: u64,
    /// When the version served first built cleanly (kept across restarts).
    pub version_since: u64,
    /// Where that version came from.
    pub from: KeptFrom,
}

/// Where a kept version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptFrom {
    /// It built cleanly in this process.
    Memory,
    /// The state file, read at start: the daemon restarted while the key was invalid.
    StateFile,
}

impl KeptFrom {
    /// How logs, Events and `lbctl status` say it.
    pub fn describe(self) -> &'static str {
        match self {
            KeptFrom::Memory => "kept in memory",
            KeptFrom::StateFile => "from the state file after a restart",
        }
    }
}

/// The IPVS connection sync daemons (`[failover.connection_sync]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSyncStatus {
    /// The daemons the settings ask for.
    pub wanted: Vec<SyncDaemon>,
    /// The daemons the kernel runs (as it reports them).
    pub running: Vec<SyncDaemon>,
    /// Every wanted daemon runs as wanted.
    pub in_line: bool,
    /// The starts and stops of the last full pass that changed anything.
    pub last_changes: Vec<DaemonOp>,
    /// Why the last full pass could not bring them in line, if it could not.
    pub error: Option<String>,
    /// When a full pass last checked them (seconds since the Unix epoch).
    pub checked_at: u64,
}

/// What the last sync did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// When it finished (seconds since the Unix epoch).
    pub finished_at: u64,
    /// `ok`, `failed` (some writes refused), `guarded` (deletions held back) or `error`.
    pub result: String,
    /// Writes applied.
    pub applied: usize,
    /// Writes the kernel refused.
    pub failed: usize,
    /// Duration in seconds.
    pub duration_secs: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// `full` (whole table dumped) or `focused` (only what changed read).
    #[serde(default)]
    pub pass: String,
    /// IPVS services read from the kernel before planning.
    #[serde(default)]
    pub services_read: usize,
    /// Whole-table dumps the pass took (1 for a full pass, 0 for a focused one; 2 when the
    /// writes touched most of the table and one dump read them back).
    #[serde(default)]
    pub dumps: u32,
    /// Milliseconds per step of the pass (netfilter, read, plan, write, state_file,
    /// read_back): where a slow pass spent its time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub times_ms: BTreeMap<String, u64>,
}

/// The whole `/status` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDocument {
    /// Controller state.
    pub controller: ControllerStatus,
    /// Whether `services` carry kernel counters (a table was read after a sync).
    pub kernel_dump: bool,
    /// When that table was read (seconds since the Unix epoch): the counters are this old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_at: Option<u64>,
    /// Age of that table in seconds when the document was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_age_secs: Option<f64>,
    /// Every managed virtual service, desired or still in the kernel.
    pub services: Vec<ServiceStatus>,
    /// The BGP announcer: drain state, announced prefixes, sessions (absent: BGP disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<crate::bgp::BgpStatus>,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// `VIP:PORT/proto`.
    pub service: String,
    /// The ConfigMap key that defines it (`None`: leaving, no longer desired).
    pub config_key: Option<String>,
    /// `namespace/name:port` of the Kubernetes Service behind it.
    pub kubernetes_service: Option<String>,
    /// Scheduler (desired, else the kernel's).
    pub scheduler: String,
    /// Forwarding method (desired), e.g. `nat`.
    pub forward: Option<String>,
    /// Present in the kernel dump.
    pub in_kernel: bool,
    /// Connections scheduled in total (kernel counter).
    pub conns: u64,
    /// Packets in / out and bytes in / out (kernel counters).
    pub inpkts: u64,
    /// Packets out.
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
    /// The kernel's rate estimates (about 2 s average).
    #[serde(default)]
    pub rates: Rates,
    /// The real servers.
    pub real_servers: Vec<RealServerStatus>,
}

/// Rates the kernel's estimator computes for a service or real server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// New connections per second.
    pub cps: u64,
    /// Packets per second in (client to real server).
    pub inpps: u64,
    /// Packets per second out.
    pub outpps: u64,
    /// Bytes per second in.
    pub inbps: u64,
    /// Bytes per second out.
    pub outbps: u64,
}

impl From<&lb_ipvs_sync::Stats> for Rates {
    fn from(s: &lb_ipvs_sync::Stats) -> Self {
        Rates {
            cps: s.cps,
            inpps: s.inpps,
            outpps: s.outpps,
            inbps: s.inbps,
            outbps: s.outbps,
        }
    }
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `ADDR:PORT`.
    pub address: String,
    /// Desired weight (`None`: leaving).
    pub weight: Option<u32>,
    /// Weight in the kernel (`None`: not in the kernel).
    pub kernel_weight: Option<u32>,
    /// `active`, `terminating`, `unhealthy` (desired) or `leaving` (draining out).
    pub state: String,
    /// `healthy`, `failing` or `unchecked`.
    pub health: String,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Connections scheduled in total.
    pub conns: u64,
    /// The kernel's rate estimates (about 2 s average).
    #[serde(default)]
    pub rates: Rates,
    /// When a drain ends at the latest (seconds since the Unix epoch).
    pub drain_deadline: Option<u64>,
}

/// What a pass publishes for `/status`.
#[derive(Debug, Clone, Default)]
pub struct StatusSnapshot {
    /// Controller facts.
    pub controller: ControllerStatus,
    /// The desired state of the last build.
    pub(crate) desired: std::sync::Arc<DesiredState>,
    /// Health verdicts used by that build.
    pub(crate) health: std::sync::Arc<HealthResults>,
    /// Drain deadlines after the last sync.
    pub(crate) drain: DrainBook,
    /// Managed ranges.
    pub(crate) scope: Scope,
    /// The table right after the last sync.
    pub(crate) last_table: Option<std::sync::Arc<IpvsTable>>,
    /// When `last_table` was read.
    pub(crate) table_at: Option<SystemTime>,
}

impl StatusSnapshot {
    /// The document of the services `query` selects (its `summary` switch aside).
    pub(crate) fn filtered(&self, query: &StatusQuery, now: SystemTime) -> StatusDocument {
        let tables = self.tables();
        let (table_at, table_age_secs) = self.table_age(now);
        StatusDocument {
            controller: self.controller.clone(),
            kernel_dump: tables.table.is_some(),
            table_at,
            table_age_secs,
            services: tables
                .selected(query)
                .into_iter()
                .map(|key| tables.service_status(key))
                .collect(),
            bgp: None,
        }
    }

    /// The counts over the services `query` selects.
    pub(crate) fn summary(&self, query: &StatusQuery, now: SystemTime) -> StatusSummary {
        let mut summary = summary::summarize(&self.controller, &self.tables(), query);
        (summary.table_at, summary.table_age_secs) = self.table_age(now);
        summary
    }

    /// The body `/status` answers `query` with: the summary or the document, with `bgp`,
    /// compact JSON unless `pretty` was asked for. CPU-bound in the size of the answer: the
    /// HTTP handler runs it off the async runtime.
    pub(crate) fn answer(
        &self,
        query: &StatusQuery,
        bgp: Option<crate::bgp::BgpStatus>,
        now: SystemTime,
    ) -> serde_json::Result<Vec<u8>> {
        fn encode<T: Serialize>(value: &T, pretty: bool) -> serde_json::Result<Vec<u8>> {
            if pretty {
                serde_json::to_vec_pretty(value)
            } else {
                serde_json::to_vec(value)
            }
        }
        if query.summary {
            let mut summary = self.summary(query, now);
            summary.bgp = bgp;
            encode(&summary, query.pretty)
        } else {
            let mut doc = self.filtered(query, now);
            doc.bgp = bgp;
            encode(&doc, query.pretty)
        }
    }

    fn tables(&self) -> join::Tables<'_> {
        join::Tables {
            desired: &self.desired,
            table: self.last_table.as_deref(),
            scope: &self.scope,
            health: &self.health,
            drain: &self.drain,
        }
    }

    /// When the last table was read and how old it is at `now` (none without a table).
    fn table_age(&self, now: SystemTime) -> (Option<u64>, Option<f64>) {
        match self.table_at.filter(|_| self.last_table.is_some()) {
            Some(at) => (
                at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()),
                Some(now.duration_since(at).unwrap_or_default().as_secs_f64()),
            ),
            None => (None, None),
        }
    }
}
