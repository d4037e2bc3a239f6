//! The `lvs_*` families: name, help, type, level and where each value comes from.
//!
//! Pure data. [`exposition`](super::exposition) writes them; docs/metrics.md lists the same.

use lb_config::{RealServerKey, ServiceKey};
use lb_ipvs_sync::{ObservedDestination, Stats};

use super::monotonic::COUNTERS;

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
pub(crate) enum Value {
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
    /// Where the value comes from.
    pub(crate) value: Value,
}

impl FamilySpec {
    /// Whether it is a counter (else a gauge).
    pub(crate) fn is_counter(&self) -> bool {
        matches!(self.value, Value::Counter(_))
    }

    /// Whether it is one of the kernel's rate estimates (per endpoint, off by default).
    pub(crate) fn is_rate(&self) -> bool {
        matches!(self.value, Value::Rate(_))
    }

    /// The exposition type.
    pub(crate) fn type_name(&self) -> &'static str {
        if self.is_counter() {
            "counter"
        } else {
            "gauge"
        }
    }

    /// The value of this family for a service (`dest` is `None`) or one of its destinations;
    /// `None` for a destination-only family asked about a service. `stats` carries the
    /// exported (monotonic) counters.
    pub(crate) fn read(&self, stats: &Stats, dest: Option<&ObservedDestination>) -> Option<u64> {
        match (self.value, dest) {
            (Value::Counter(i), _) => Some(counter_values(stats)[i]),
            (Value::Rate(read), _) => Some(read(stats)),
            (Value::Destination(read), Some(dest)) => Some(read(dest)),
            (Value::Destination(_), None) => None,
        }
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

/// The five counters of `stats`, in the order of [`Value::Counter`]'s index.
pub(crate) fn counter_values(stats: &Stats) -> [u64; COUNTERS] {
    [
        stats.conns,
        stats.inpkts,
        stats.outpkts,
        stats.inbytes,
        stats.outbytes,
    ]
}

/// Replaces the five counters of `stats` (with the exported, monotonic values).
pub(crate) fn set_counter_values(stats: &mut Stats, values: [u64; COUNTERS]) {
    let [conns, inpkts, outpkts, inbytes, outbytes] = values;
    stats.conns = conns;
    stats.inpkts = inpkts;
    stats.outpkts = outpkts;
    stats.inbytes = inbytes;
    stats.outbytes = outbytes;
}
