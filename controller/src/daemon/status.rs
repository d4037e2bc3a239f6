//! The `/status` document: the programmed state with health, drain state and kernel counters.
//!
//! Pure: [`status_document`] joins the desired state, the IPVS table read after the last sync,
//! the health verdicts and the drain book into plain serde data; the document says how old
//! that table is (`/status` never dumps the kernel per request). `lbctl status` parses the same types back to render
//! tables. Services the kernel still has but the desired state dropped show up as leaving.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use lb_config::{DesiredState, HealthResults, Problem, RealServerKey, ServiceKey};
use lb_ipvs_sync::reconcile::{DrainBook, Scope};
use lb_ipvs_sync::{IpvsTable, ObservedService, ServiceId};
use serde::{Deserialize, Serialize};

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
    /// The document at `now`, with the table of the last sync and its age.
    pub(crate) fn document(&self, now: SystemTime) -> StatusDocument {
        let mut doc = status_document(
            self.controller.clone(),
            &self.desired,
            self.last_table.as_deref(),
            &self.scope,
            &self.health,
            &self.drain,
        );
        if let Some(at) = self.table_at.filter(|_| self.last_table.is_some()) {
            doc.table_at = at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
            doc.table_age_secs = Some(now.duration_since(at).unwrap_or_default().as_secs_f64());
        }
        doc
    }
}

/// Joins desired state, kernel dump, health and drain book (see the module docs).
pub(crate) fn status_document(
    controller: ControllerStatus,
    desired: &DesiredState,
    table: Option<&IpvsTable>,
    scope: &Scope,
    health: &HealthResults,
    drain: &DrainBook,
) -> StatusDocument {
    let mut keys: BTreeSet<ServiceKey> = desired.services.keys().copied().collect();
    if let Some(table) = table {
        keys.extend(
            table
                .services
                .keys()
                .filter(|id| scope.contains(id))
                .filter_map(|id| id.inet().copied()),
        );
    }
    let services = keys
        .into_iter()
        .map(|key| {
            let id = ServiceId::Inet(key);
            let observed = table
                .and_then(|t| t.services.get(&id))
                .map(std::sync::Arc::as_ref);
            service_status(key, desired, observed, health, drain)
        })
        .collect();
    StatusDocument {
        controller,
        kernel_dump: table.is_some(),
        table_at: None,
        table_age_secs: None,
        services,
        bgp: None,
    }
}

fn service_status(
    key: ServiceKey,
    desired: &DesiredState,
    observed: Option<&ObservedService>,
    health: &HealthResults,
    drain: &DrainBook,
) -> ServiceStatus {
    let id = ServiceId::Inet(key);
    let want = desired.services.get(&key);
    let mut reals: BTreeSet<RealServerKey> = want
        .map(|w| w.real_servers.keys().copied().collect())
        .unwrap_or_default();
    if let Some(o) = observed {
        reals.extend(o.destinations.keys().copied());
    }
    let service_deadline = drain.services.get(&id).copied();
    let real_servers = reals
        .into_iter()
        .map(|rs| {
            let w = want.and_then(|w| w.real_servers.get(&rs));
            let o = observed.and_then(|o| o.destinations.get(&rs));
            let checked = want.is_some_and(|w| w.health_check.is_some());
            RealServerStatus {
                address: rs.to_string(),
                weight: w.map(|w| w.weight),
                kernel_weight: o.map(|o| o.spec.weight),
                state: w.map_or_else(
                    || "leaving".to_owned(),
                    |w| {
                        serde_json::to_value(w.state)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    },
                ),
                health: match (checked, health.verdict(&key, &rs)) {
                    (true, Some(true)) => "healthy",
                    (true, Some(false)) => "failing",
                    _ => "unchecked",
                }
                .to_owned(),
                active_conns: o.map_or(0, |o| o.active_conns),
                inactive_conns: o.map_or(0, |o| o.inactive_conns),
                conns: o.map_or(0, |o| o.stats.conns),
                rates: o.map(|o| Rates::from(&o.stats)).unwrap_or_default(),
                drain_deadline: drain
                    .destinations
                    .get(&(id, rs))
                    .copied()
                    .or(if w.is_none() { service_deadline } else { None }),
            }
        })
        .collect();
    let stats = observed.map(|o| o.stats).unwrap_or_default();
    ServiceStatus {
        service: key.to_string(),
        config_key: want.map(|w| w.origin.config_key.clone()),
        kubernetes_service: want
            .and_then(|w| w.origin.service.as_ref())
            .map(|s| format!("{}/{}:{}", s.namespace, s.name, s.port)),
        scheduler: want.map_or_else(
            || {
                observed
                    .map(|o| o.spec.scheduler.clone())
                    .unwrap_or_default()
            },
            |w| w.scheduler.to_string(),
        ),
        forward: want.map(|w| w.forward.to_string()),
        in_kernel: observed.is_some(),
        conns: stats.conns,
        inpkts: stats.inpkts,
        outpkts: stats.outpkts,
        inbytes: stats.inbytes,
        outbytes: stats.outbytes,
        rates: Rates::from(&stats),
        real_servers,
    }
}
