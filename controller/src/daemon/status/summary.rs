//! `/status?summary`: the controller facts, the last sync, counts of services and real
//! servers by state, health and drain, and one line per VIP, with no per-real-server rows, so
//! its size grows with the number of VIPs, not with the 110,000 entries of a large table.
//! The counting walks the selected services' real servers without building their rows.

use std::collections::BTreeMap;

use lb_config::Severity;
use lb_ipvs_sync::ServiceId;
use serde::{Deserialize, Serialize};

use super::ControllerStatus;
use super::join::{Tables, real_server_keys, state_name};
use super::query::StatusQuery;

/// Problems (and kept keys) the summary lists; the counts say how many there are in all.
pub const SUMMARY_LIST_LIMIT: usize = 20;

/// The summary document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusSummary {
    /// Controller state; `problems`, `kept_keys` and `kept` cut to their first
    /// [`SUMMARY_LIST_LIMIT`] (the counts have the totals).
    pub controller: ControllerStatus,
    /// Whether the counts include the kernel's view (a table was read after a sync).
    pub kernel_dump: bool,
    /// When that table was read (seconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_at: Option<u64>,
    /// Age of that table in seconds when the summary was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_age_secs: Option<f64>,
    /// The counts over the selected services.
    pub counts: StatusCounts,
    /// Per VIP, in address order.
    pub vips: Vec<VipSummary>,
    /// The BGP announcer, as in the full document (absent: BGP disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<crate::bgp::BgpStatus>,
}

/// How many services and real servers are in which condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Virtual services (desired, or leaving the kernel).
    pub services: usize,
    /// Desired services the last table did not have (only counted with a table).
    pub services_not_in_kernel: usize,
    /// Services no longer desired, still in the kernel (draining out).
    pub services_leaving: usize,
    /// Real servers over all services.
    pub real_servers: usize,
    /// Real servers by state: `active`, `terminating`, `unhealthy`, `leaving`.
    pub real_servers_by_state: BTreeMap<String, usize>,
    /// Real servers by health: `healthy`, `failing`, `unchecked`.
    pub real_servers_by_health: BTreeMap<String, usize>,
    /// Real servers with a drain deadline.
    pub real_servers_draining: usize,
    /// Real servers whose kernel weight is not the desired one (yet), or missing.
    pub real_servers_weight_pending: usize,
    /// ConfigMap problems that reject a key.
    pub problem_errors: usize,
    /// ConfigMap problems that only warn.
    pub problem_warnings: usize,
    /// Keys running on their last good version.
    pub kept_keys: usize,
}

/// One VIP's services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSummary {
    /// The address.
    pub vip: String,
    /// Its services.
    pub services: usize,
    /// Their real servers.
    pub real_servers: usize,
    /// Of those, failing their health check.
    pub failing: usize,
    /// Services not in the kernel, or leaving it.
    pub services_not_ready: usize,
}

/// Counts the services the query selects (its `summary` switch aside).
pub(crate) fn summarize(
    controller: &ControllerStatus,
    tables: &Tables<'_>,
    query: &StatusQuery,
) -> StatusSummary {
    let mut counts = StatusCounts {
        problem_errors: count_severity(controller, Severity::Error),
        problem_warnings: count_severity(controller, Severity::Warning),
        kept_keys: controller.kept_keys.len(),
        ..StatusCounts::default()
    };
    let controller = ControllerStatus {
        ready: controller.ready,
        listed: controller.listed,
        connected: controller.connected,
        last_sync: controller.last_sync.clone(),
        problems: first(&controller.problems),
        kept_keys: first(&controller.kept_keys),
        configmap_kept: controller.configmap_kept,
        kept: first(&controller.kept),
        connection_sync: controller.connection_sync.clone(),
    };
    let mut by_state: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut by_health: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut vips: BTreeMap<std::net::IpAddr, VipSummary> = BTreeMap::new();
    for key in tables.selected(query) {
        let id = ServiceId::Inet(key);
        let want = tables.desired.services.get(&key).map(|s| &**s);
        let observed = tables.observed(key);
        let vip = vips.entry(key.vip).or_default();
        counts.services += 1;
        vip.services += 1;
        let not_in_kernel = tables.table.is_some() && observed.is_none();
        counts.services_not_in_kernel += usize::from(want.is_some() && not_in_kernel);
        counts.services_leaving += usize::from(want.is_none());
        vip.services_not_ready += usize::from(want.is_none() || not_in_kernel);
        let service_deadline = tables.drain.services.get(&id).copied();
        for rs in real_server_keys(want, observed) {
            let w = want.and_then(|w| w.real_servers.get(&rs));
            let o = observed.and_then(|o| o.destinations.get(&rs));
            counts.real_servers += 1;
            vip.real_servers += 1;
            *by_state
                .entry(w.map_or("leaving", |w| state_name(w.state)))
                .or_default() += 1;
            let health = tables.health_of(key, rs);
            *by_health.entry(health).or_default() += 1;
            vip.failing += usize::from(health == "failing");
            let deadline = tables.drain_deadline(id, rs, w.is_none(), service_deadline);
            counts.real_servers_draining += usize::from(deadline.is_some());
            let pending = match (w, o) {
                (Some(w), Some(o)) => w.weight != o.spec.weight,
                (Some(_), None) => tables.table.is_some(),
                (None, _) => false,
            };
            counts.real_servers_weight_pending += usize::from(pending);
        }
    }
    counts.real_servers_by_state = named(by_state);
    counts.real_servers_by_health = named(by_health);
    StatusSummary {
        controller,
        kernel_dump: tables.table.is_some(),
        table_at: None,
        table_age_secs: None,
        counts,
        vips: vips
            .into_iter()
            .map(|(vip, summary)| VipSummary {
                vip: vip.to_string(),
                ..summary
            })
            .collect(),
        bgp: None,
    }
}

fn count_severity(controller: &ControllerStatus, severity: Severity) -> usize {
    controller
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .count()
}

/// The first [`SUMMARY_LIST_LIMIT`] entries.
fn first<T: Clone>(all: &[T]) -> Vec<T> {
    all.iter().take(SUMMARY_LIST_LIMIT).cloned().collect()
}

fn named(counts: BTreeMap<&'static str, usize>) -> BTreeMap<String, usize> {
    counts
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
        .collect()
}
