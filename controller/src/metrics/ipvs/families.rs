//! The `lvs_*` families: name, help, type, level and where each value comes from.
//!
//! Pure data. [`exposition`](super::exposition) writes them; docs/metrics.md lists the same.

use lb_config::{RealServerKey, ServiceKey};
use lb_ipvs_sync::Stats;

use super::monotonic::COUNTERS;
use super::snapshot::ExportedDestination;

/// How many rate estimates the kernel keeps per service or destination: cps, inpps, outpps,
/// inbps, outbps.
pub(crate) const RATES: usize = 5;

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
    /// The kernel's rate estimate number `i` (cps, inpps, outpps, inbps, outbps).
    Rate(usize),
    /// A destination's own value (connections, weight).
    Destination(fn(&ExportedDestination) -> u64),
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

    /// The value of this family for a service (`dest` is `None`) or one of its destinations,
    /// from its exported (monotonic) `counters` and its `rates` if kept; `None` for a
    /// destination-only family asked about a service, or a rate that was not kept.
    pub(crate) fn read(
        &self,
        counters: &[u64; COUNTERS],
        rates: Option<&[u64; RATES]>,
        dest: Option<&ExportedDestination>,
    ) -> Option<u64> {
        match (self.value, dest) {
            (Value::Counter(i), _) => Some(counters[i]),
            (Value::Rate(i), _) => rates.map(|rates| rates[i]),
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
    spec("lvs_service_rate_connections_per_second", "Kernel estimate of new connections per second.", Service, R(0)),
    spec("lvs_service_rate_in_packets_per_second", "Kernel estimate of incoming packets per second.", Service, R(1)),
    spec("lvs_service_rate_out_packets_per_second", "Kernel estimate of outgoing packets per second.", Service, R(2)),
    spec("lvs_service_rate_in_bytes_per_second", "Kernel estimate of incoming bytes per second.", Service, R(3)),
    spec("lvs_service_rate_out_bytes_per_second", "Kernel estimate of outgoing bytes per second.", Service, R(4)),
    spec("lvs_endpoint_stat_conns_total", "Connections scheduled to the real server.", Endpoint, C(0)),
    spec("lvs_endpoint_stat_inpkts_total", "Packets from clients to the real server.", Endpoint, C(1)),
    spec("lvs_endpoint_stat_outpkts_total", "Packets from the real server back to clients.", Endpoint, C(2)),
    spec("lvs_endpoint_stat_inbytes_total", "Bytes from clients to the real server.", Endpoint, C(3)),
    spec("lvs_endpoint_stat_outbytes_total", "Bytes from the real server back to clients.", Endpoint, C(4)),
    spec("lvs_endpoint_rate_connections_per_second", "Kernel estimate of new connections per second.", Endpoint, R(0)),
    spec("lvs_endpoint_rate_in_packets_per_second", "Kernel estimate of incoming packets per second.", Endpoint, R(1)),
    spec("lvs_endpoint_rate_out_packets_per_second", "Kernel estimate of outgoing packets per second.", Endpoint, R(2)),
    spec("lvs_endpoint_rate_in_bytes_per_second", "Kernel estimate of incoming bytes per second.", Endpoint, R(3)),
    spec("lvs_endpoint_rate_out_bytes_per_second", "Kernel estimate of outgoing bytes per second.", Endpoint, R(4)),
    spec("lvs_endpoint_active_connections", "Established connections to the real server.", Endpoint, D(|d| d.active_conns as u64)),
    spec("lvs_endpoint_inactive_connections", "Other connection entries (TIME_WAIT, UDP, ...).", Endpoint, D(|d| d.inactive_conns as u64)),
    spec("lvs_endpoint_persistent_connections", "Persistence templates pointing at the real server.", Endpoint, D(|d| d.persist_conns as u64)),
    spec("lvs_endpoint_weight", "IPVS weight; 0 = quiesced (draining, terminating or unhealthy).", Endpoint, D(|d| d.weight as u64)),
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

/// The five rate estimates of `stats`, in the order of [`Value::Rate`]'s index.
pub(crate) fn rate_values(stats: &Stats) -> [u64; RATES] {
    [
        stats.cps,
        stats.inpps,
        stats.outpps,
        stats.inbps,
        stats.outbps,
    ]
}
