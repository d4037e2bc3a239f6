//! The controller's own metrics: sync duration and results, netlink operations and errors,
//! drift repairs, config errors by key, event-to-programmed latency, readiness, health checks
//! and BGP sessions.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Metrics the daemon's tasks record into.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// `lbctl_sync_duration_seconds`: one reconcile pass (dump, plan, apply).
    pub sync_duration_seconds: Histogram,
    /// `lbctl_syncs_total{result="ok|failed|guarded|error", reason="none|timeout|error"}`:
    /// `timeout` when the kernel or a netfilter tool did not answer in time (a hang).
    pub syncs_total: IntCounterVec,
    /// `lbctl_sync_passes_total{pass="full|focused"}`: full passes dump the whole table;
    /// focused ones read only the services that changed since the last clean pass.
    pub sync_passes_total: IntCounterVec,
    /// `lbctl_sync_services_read`: IPVS services read from the kernel per pass.
    pub sync_services_read: Histogram,
    /// `lbctl_sync_dumps_total`: whole-table IPVS dumps taken by reconcile passes. A full pass
    /// takes one, a focused pass none: the cost that grows with the table, counted so that a
    /// regression to a dump per change (or two per pass) shows.
    pub sync_dumps_total: IntCounter,
    /// `lbctl_netlink_operations_total{kind="add_service|edit_service|..."}`: applied writes.
    pub netlink_operations_total: IntCounterVec,
    /// `lbctl_connection_sync_daemon_up{role="master|backup"}`: 1 while the kernel runs the
    /// configured sync daemon of that role as configured, 0 when it does not (only roles
    /// `[failover.connection_sync]` names).
    pub connection_sync_daemon_up: IntGaugeVec,
    /// `lbctl_connection_sync_daemon_changes_total{op="start|stop"}`: sync daemons started or
    /// stopped (a start after the first is a repair: someone stopped it, or it changed).
    pub connection_sync_daemon_changes_total: IntCounterVec,
    /// `lbctl_netlink_errors_total{kind, errno}`: writes the kernel refused (`errno="timeout"`:
    /// it did not answer in time).
    pub netlink_errors_total: IntCounterVec,
    /// `lbctl_drift_repairs_total`: writes a resync made although the desired state had not
    /// changed since the last clean sync (someone changed the kernel behind our back).
    pub drift_repairs_total: IntCounter,
    /// `lbctl_delete_guard_refusals_total`.
    pub guard_refusals_total: IntCounter,
    /// `lbctl_config_problems{key, severity}`: current problems per ConfigMap key (1 = present).
    pub config_problems: IntGaugeVec,
    /// `lbctl_configmap_kept_keys`: keys served from their last good version because the
    /// current one is rejected (a count: a series per key would grow with the ConfigMap).
    pub configmap_kept_keys: IntGauge,
    /// `lbctl_endpoint_programming_latency_seconds`: from an endpoint change (EndpointSlice
    /// trigger time, or the event's arrival) to the kernel being programmed.
    pub endpoint_programming_latency_seconds: Histogram,
    /// `lbctl_ready`: 1 when the daemon has a complete view and its last sync succeeded.
    pub ready: IntGauge,
    /// `lbctl_health_check_up{vip, vport, protocol, endpoint}`: 1 healthy, 0 failing.
    pub health_check_up: IntGaugeVec,
    /// `lbctl_health_probes_without_verdict_total{reason}`: probes that failed for lack of a
    /// local resource (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): they say nothing about the
    /// real server, so they neither fail nor pass it.
    pub health_probes_without_verdict_total: IntCounterVec,
    /// `lbctl_bgp_session_established{peer}`: 1 when the session is Established.
    pub bgp_session_established: IntGaugeVec,
    /// `lbctl_bgp_updates_sent_total{peer}`: UPDATE messages sent to the router.
    pub bgp_updates_sent_total: IntCounterVec,
    /// `lbctl_bgp_announced_prefixes{peer}`: prefixes the router has from us (`peer="bird"`
    /// in routing-daemon mode: routes in BIRD's include file).
    pub bgp_announced_prefixes: IntGaugeVec,
    /// `lbctl_bgp_draining`: 1 while `lbctl withdraw` withholds every route. The metric keeps
    /// its first name so that dashboards and alerts go on working.
    pub bgp_withdrawn_all: IntGauge,
    /// `lbctl_watch_errors_total{resource}`: Kubernetes watch/list failures.
    pub watch_errors_total: IntCounterVec,
    /// `lbctl_events_total{resource, type}`: Kubernetes watch events received.
    pub events_total: IntCounterVec,
    /// `lbctl_stage_duration_seconds{stage="build|apply"}`: the desired state, the kernel sync.
    pub latency_by_stage: HistogramVec,
}

impl ControllerMetrics {
    /// Creates the metrics (not yet registered).
    pub fn new() -> Result<Self, prometheus::Error> {
        let secs = vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        Ok(ControllerMetrics {
            sync_duration_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "lbctl_sync_duration_seconds",
                    "Duration of one reconcile pass.",
                )
                .buckets(secs.clone()),
            )?,
            syncs_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_syncs_total",
                    "Reconcile passes by result; reason=timeout when something hung.",
                ),
                &["result", "reason"],
            )?,
            sync_passes_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_sync_passes_total",
                    "Reconcile passes by kind: full (whole table dumped) or focused (only the \
                     services that changed read).",
                ),
                &["pass"],
            )?,
            sync_services_read: Histogram::with_opts(
                HistogramOpts::new(
                    "lbctl_sync_services_read",
                    "IPVS services read from the kernel per reconcile pass.",
                )
                .buckets(vec![
                    0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
                    5000.0, 10000.0,
                ]),
            )?,
            sync_dumps_total: IntCounter::new(
                "lbctl_sync_dumps_total",
                "Whole-table IPVS dumps taken by reconcile passes (one per full pass).",
            )?,
            connection_sync_daemon_up: IntGaugeVec::new(
                Opts::new(
                    "lbctl_connection_sync_daemon_up",
                    "1 while the kernel runs the configured IPVS sync daemon of this role as configured.",
                ),
                &["role"],
            )?,
            connection_sync_daemon_changes_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_connection_sync_daemon_changes_total",
                    "IPVS sync daemons started or stopped by lbctl.",
                ),
                &["op"],
            )?,
            netlink_operations_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_netlink_operations_total",
                    "IPVS writes applied, by kind.",
                ),
                &["kind"],
            )?,
            netlink_errors_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_netlink_errors_total",
                    "IPVS writes refused, by kind and errno.",
                ),
                &["kind", "errno"],
            )?,
            drift_repairs_total: IntCounter::new(
                "lbctl_drift_repairs_total",
                "Writes that repaired kernel state changed behind the controller's back.",
            )?,
            guard_refusals_total: IntCounter::new(
                "lbctl_delete_guard_refusals_total",
                "Syncs whose deletions the delete guard held back.",
            )?,
            config_problems: IntGaugeVec::new(
                Opts::new(
                    "lbctl_config_problems",
                    "Current problems per ConfigMap key.",
                ),
                &["key", "severity"],
            )?,
            configmap_kept_keys: IntGauge::new(
                "lbctl_configmap_kept_keys",
                "ConfigMap keys served from their last good version (the current one is rejected).",
            )?,
            endpoint_programming_latency_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "lbctl_endpoint_programming_latency_seconds",
                    "From an endpoint change to the kernel being programmed.",
                )
                .buckets(secs.clone()),
            )?,
            ready: IntGauge::new("lbctl_ready", "1 when the controller is ready.")?,
            health_check_up: IntGaugeVec::new(
                Opts::new(
                    "lbctl_health_check_up",
                    "Health-check state per real server.",
                ),
                &["vip", "vport", "protocol", "endpoint"],
            )?,
            health_probes_without_verdict_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_health_probes_without_verdict_total",
                    "Health probes that failed for lack of a local resource (no verdict).",
                ),
                &["reason"],
            )?,
            bgp_session_established: IntGaugeVec::new(
                Opts::new(
                    "lbctl_bgp_session_established",
                    "1 when the BGP session is up.",
                ),
                &["peer"],
            )?,
            bgp_updates_sent_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_bgp_updates_sent_total",
                    "BGP UPDATE messages sent per peer.",
                ),
                &["peer"],
            )?,
            bgp_announced_prefixes: IntGaugeVec::new(
                Opts::new(
                    "lbctl_bgp_announced_prefixes",
                    "Prefixes announced per peer (peer=bird: routes handed to BIRD).",
                ),
                &["peer"],
            )?,
            bgp_withdrawn_all: IntGauge::new(
                "lbctl_bgp_draining",
                "1 while lbctl withdraw (formerly lbctl drain) withholds every BGP route.",
            )?,
            watch_errors_total: IntCounterVec::new(
                Opts::new("lbctl_watch_errors_total", "Kubernetes watch failures."),
                &["resource"],
            )?,
            events_total: IntCounterVec::new(
                Opts::new("lbctl_events_total", "Kubernetes watch events received."),
                &["resource", "type"],
            )?,
            latency_by_stage: HistogramVec::new(
                HistogramOpts::new("lbctl_stage_duration_seconds", "Duration of daemon stages.")
                    .buckets(secs),
                &["stage"],
            )?,
        })
    }

    /// Registers every metric.
    pub(crate) fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.sync_duration_seconds.clone()))?;
        registry.register(Box::new(self.syncs_total.clone()))?;
        registry.register(Box::new(self.sync_passes_total.clone()))?;
        registry.register(Box::new(self.sync_services_read.clone()))?;
        registry.register(Box::new(self.sync_dumps_total.clone()))?;
        registry.register(Box::new(self.netlink_operations_total.clone()))?;
        registry.register(Box::new(self.connection_sync_daemon_up.clone()))?;
        registry.register(Box::new(self.connection_sync_daemon_changes_total.clone()))?;
        registry.register(Box::new(self.netlink_errors_total.clone()))?;
        registry.register(Box::new(self.drift_repairs_total.clone()))?;
        registry.register(Box::new(self.guard_refusals_total.clone()))?;
        registry.register(Box::new(self.config_problems.clone()))?;
        registry.register(Box::new(self.configmap_kept_keys.clone()))?;
        registry.register(Box::new(self.endpoint_programming_latency_seconds.clone()))?;
        registry.register(Box::new(self.ready.clone()))?;
        registry.register(Box::new(self.health_check_up.clone()))?;
        registry.register(Box::new(self.health_probes_without_verdict_total.clone()))?;
        registry.register(Box::new(self.bgp_session_established.clone()))?;
        registry.register(Box::new(self.bgp_updates_sent_total.clone()))?;
        registry.register(Box::new(self.bgp_announced_prefixes.clone()))?;
        registry.register(Box::new(self.bgp_withdrawn_all.clone()))?;
        registry.register(Box::new(self.watch_errors_total.clone()))?;
        registry.register(Box::new(self.events_total.clone()))?;
        registry.register(Box::new(self.latency_by_stage.clone()))?;
        Ok(())
    }
}
