//! Maps one IPVS snapshot to Prometheus metric families.
//!
//! Pure: no I/O; time is a parameter. Input: the kernel table, the label book (business
//! labels from the desired state) and the monotonic-counter state; output: the `lvs_*`
//! families. Only services with labels (ours) are exported; every destination of such a
//! service is, including draining ones, so their traffic stays visible until they are gone.

use std::time::Instant;

use lb_config::{RealServerKey, ServiceKey};
use lb_ipvs_sync::{IpvsTable, ObservedDestination, ServiceId, Stats};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use super::labels::{LabelBook, SERVICE_LABEL_NAMES, ServiceLabels};
use super::monotonic::{COUNTERS, MonotonicCounters};

/// Identity of one counter series in the kernel: a service, or one destination of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesId {
    /// The virtual service.
    pub(crate) service: ServiceKey,
    /// The destination, for endpoint-level series.
    pub(crate) endpoint: Option<RealServerKey>,
}

/// Whether a family exists per service or per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// One series per virtual service.
    Service,
    /// One series per destination.
    Endpoint,
}

/// What a family reports.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// Monotonic counter number `i` (conns, inpkts, outpkts, inbytes, outbytes).
    Counter(usize),
    /// The kernel's rate estimate.
    Rate(fn(&Stats) -> u64),
    /// A destination's own value (connections, weight).
    Destination(fn(&ObservedDestination) -> u64),
}

/// One exported family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilySpec {
    /// Full metric name.
    pub(crate) name: &'static str,
    /// HELP text.
    pub(crate) help: &'static str,
    /// Per service or per endpoint.
    pub(crate) level: Level,
    value: Value,
}

impl FamilySpec {
    /// Whether it is a counter (else a gauge).
    pub(crate) fn is_counter(&self) -> bool {
        matches!(self.value, Value::Counter(_))
    }

    /// Label names, in exposition order.
    pub(crate) fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = SERVICE_LABEL_NAMES.iter().map(|n| n.to_string()).collect();
        if self.level == Level::Endpoint {
            names.push("endpoint".to_owned());
        }
        names
    }
}

const fn spec(name: &'static str, help: &'static str, level: Level, value: Value) -> FamilySpec {
    FamilySpec {
        name,
        help,
        level,
        value,
    }
}

use Level::{Endpoint, Service};
use Value::{Counter as C, Destination as D, Rate as R};

/// Every family, in exposition order. docs/metrics.md lists the same.
#[rustfmt::skip]
pub(crate) const FAMILIES: &[FamilySpec] = &[
    spec("lvs_service_stat_conns_total", "Connections scheduled by the virtual service.", Service, C(0)),
    spec("lvs_service_stat_inpkts_total", "Packets from clients to the virtual service.", Service, C(1)),
    spec("lvs_service_stat_outpkts_total", "Packets from real servers back to clients.", Service, C(2)),
    spec("lvs_service_stat_inbytes_total", "Bytes from clients to the virtual service.", Service, C(3)),
    spec("lvs_service_stat_outbytes_total", "Bytes from real servers back to clients.", Service, C(4)),
    spec("lvs_service_rate_connections_per_second", "Kernel estimate of new connections per second.", Service, R(|s| s.cps)),
    spec("lvs_service_rate_in_packets_per_second", "Kernel estimate of incoming packets per second.", Service, R(|s| s.inpps)),
    spec("lvs_service_rate_out_packets_per_second", "Kernel estimate of outgoing packets per second.", Service, R(|s| s.outpps)),
    spec("lvs_service_rate_in_bytes_per_second", "Kernel estimate of incoming bytes per second.", Service, R(|s| s.inbps)),
    spec("lvs_service_rate_out_bytes_per_second", "Kernel estimate of outgoing bytes per second.", Service, R(|s| s.outbps)),
    spec("lvs_endpoint_stat_conns_total", "Connections scheduled to the real server.", Endpoint, C(0)),
    spec("lvs_endpoint_stat_inpkts_total", "Packets from clients to the real server.", Endpoint, C(1)),
    spec("lvs_endpoint_stat_outpkts_total", "Packets from the real server back to clients.", Endpoint, C(2)),
    spec("lvs_endpoint_stat_inbytes_total", "Bytes from clients to the real server.", Endpoint, C(3)),
    spec("lvs_endpoint_stat_outbytes_total", "Bytes from the real server back to clients.", Endpoint, C(4)),
    spec("lvs_endpoint_rate_connections_per_second", "Kernel estimate of new connections per second.", Endpoint, R(|s| s.cps)),
    spec("lvs_endpoint_rate_in_packets_per_second", "Kernel estimate of incoming packets per second.", Endpoint, R(|s| s.inpps)),
    spec("lvs_endpoint_rate_out_packets_per_second", "Kernel estimate of outgoing packets per second.", Endpoint, R(|s| s.outpps)),
    spec("lvs_endpoint_rate_in_bytes_per_second", "Kernel estimate of incoming bytes per second.", Endpoint, R(|s| s.inbps)),
    spec("lvs_endpoint_rate_out_bytes_per_second", "Kernel estimate of outgoing bytes per second.", Endpoint, R(|s| s.outbps)),
    spec("lvs_endpoint_active_connections", "Established connections to the real server.", Endpoint, D(|d| d.active_conns as u64)),
    spec("lvs_endpoint_inactive_connections", "Other connection entries (TIME_WAIT, UDP, ...).", Endpoint, D(|d| d.inactive_conns as u64)),
    spec("lvs_endpoint_persistent_connections", "Persistence templates pointing at the real server.", Endpoint, D(|d| d.persist_conns as u64)),
    spec("lvs_endpoint_weight", "IPVS weight; 0 = quiesced (draining, terminating or unhealthy).", Endpoint, D(|d| d.spec.weight as u64)),
];

/// Options of the mapping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderOptions {
    /// Emit the per-endpoint families (off for very large tables).
    pub(crate) endpoint_level: bool,
}

/// The families of one snapshot; empty families are included (the registry drops them).
pub(crate) fn render(
    table: &IpvsTable,
    labels: &LabelBook,
    counters: &mut MonotonicCounters<SeriesId>,
    options: RenderOptions,
    now: Instant,
) -> Vec<MetricFamily> {
    let mut metrics: Vec<Vec<Metric>> = vec![Vec::new(); FAMILIES.len()];
    counters.begin_pass();
    for (id, service) in &table.services {
        let ServiceId::Inet(key) = id else { continue };
        let Some(service_labels) = labels.get(key) else {
            continue;
        };
        let series = SeriesId {
            service: *key,
            endpoint: None,
        };
        let totals = counters.observe(&series, counter_values(&service.stats), now);
        push_level(
            &mut metrics,
            Level::Service,
            service_labels,
            None,
            &totals,
            &service.stats,
            None,
        );
        if !options.endpoint_level {
            continue;
        }
        for (rs, dest) in &service.destinations {
            let series = SeriesId {
                service: *key,
                endpoint: Some(*rs),
            };
            let totals = counters.observe(&series, counter_values(&dest.stats), now);
            let endpoint = rs.to_string();
            push_level(
                &mut metrics,
                Level::Endpoint,
                service_labels,
                Some(&endpoint),
                &totals,
                &dest.stats,
                Some(dest),
            );
        }
    }
    counters.end_pass(now);
    FAMILIES
        .iter()
        .zip(metrics)
        .map(|(spec, metrics)| family(spec, metrics))
        .collect()
}

fn counter_values(stats: &Stats) -> [u64; COUNTERS] {
    [
        stats.conns,
        stats.inpkts,
        stats.outpkts,
        stats.inbytes,
        stats.outbytes,
    ]
}

fn push_level(
    metrics: &mut [Vec<Metric>],
    level: Level,
    labels: &ServiceLabels,
    endpoint: Option<&str>,
    totals: &[u64; COUNTERS],
    stats: &Stats,
    dest: Option<&ObservedDestination>,
) {
    for (spec, out) in FAMILIES.iter().zip(metrics.iter_mut()) {
        if spec.level != level {
            continue;
        }
        let value = match (spec.value, dest) {
            (Value::Counter(i), _) => totals[i],
            (Value::Rate(read), _) => read(stats),
            (Value::Destination(read), Some(dest)) => read(dest),
            (Value::Destination(_), None) => continue,
        };
        out.push(metric(spec, labels, endpoint, value));
    }
}

/// Converts a kernel `u64` for the exposition format. Why `as`: Prometheus samples are
/// `f64`; above 2^53 the lowest bits are lost, which no counter of a real director reaches.
#[allow(clippy::cast_precision_loss)]
fn sample(value: u64) -> f64 {
    value as f64
}

fn metric(spec: &FamilySpec, labels: &ServiceLabels, endpoint: Option<&str>, value: u64) -> Metric {
    let mut pairs: Vec<LabelPair> = SERVICE_LABEL_NAMES
        .iter()
        .zip(labels.values())
        .map(|(name, value)| label(name, value))
        .collect();
    if let Some(endpoint) = endpoint {
        pairs.push(label("endpoint", endpoint));
    }
    let mut m = Metric::default();
    m.set_label(pairs);
    if spec.is_counter() {
        let mut c = Counter::default();
        c.set_value(sample(value));
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(sample(value));
        m.set_gauge(g);
    }
    m
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn family(spec: &FamilySpec, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(spec.name.to_owned());
    family.set_help(spec.help.to_owned());
    family.set_field_type(if spec.is_counter() {
        MetricType::COUNTER
    } else {
        MetricType::GAUGE
    });
    family.set_metric(metrics);
    family
}
