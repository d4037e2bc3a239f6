//! Prometheus metrics of `lbctl run`: the controller's own health ([`ControllerMetrics`]) and,
//! registered by the daemon, collectors that read the kernel's IPVS counters at scrape time.
//!
//! One `Metrics` per process; `/metrics` serves `Metrics::encode`. Names follow Prometheus
//! conventions (base units, `_total` counters); docs/metrics.md lists every series.

mod conntrack;
mod controller;
mod http;
mod ipvs;

pub(crate) use conntrack::ConntrackCollector;
pub use controller::ControllerMetrics;
pub(crate) use http::HttpMetrics;
pub(crate) use ipvs::{IpvsCollector, IpvsCollectorOptions, LazyNetlinkSource};

use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

/// The process's metrics registry.
pub(crate) struct Metrics {
    registry: Registry,
    /// The controller's own metrics, for the daemon's tasks to record into.
    pub(crate) controller: ControllerMetrics,
    /// The HTTP listeners' metrics.
    pub(crate) http: HttpMetrics,
}

impl Metrics {
    /// A registry with the controller metrics registered.
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let controller = ControllerMetrics::new()?;
        controller.register(&registry)?;
        let http = HttpMetrics::new()?;
        http.register(&registry)?;
        Ok(Metrics {
            registry,
            controller,
            http,
        })
    }

    /// Adds a collector (e.g. the IPVS counters read at scrape time).
    pub(crate) fn register(&self, collector: Box<dyn Collector>) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The text exposition format of everything registered.
    pub(crate) fn encode(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
