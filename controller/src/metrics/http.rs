//! The HTTP listeners' own metrics: connections open, refused over the cap, accept errors.
//! They show a flood (or a descriptor shortage) that the listener absorbed without falling over.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// Counters of the TCP listener (`listener="tcp"`) and the control socket (`"control"`).
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    /// `lbctl_http_connections_open{listener}`: connections being served.
    pub(crate) connections_open: IntGaugeVec,
    /// `lbctl_http_connections_refused_total{listener}`: closed at once, over `max_connections`.
    pub(crate) connections_refused_total: IntCounterVec,
    /// `lbctl_http_accept_errors_total{listener}`: failed accepts (e.g. EMFILE), each followed
    /// by a backoff.
    pub(crate) accept_errors_total: IntCounterVec,
}

impl HttpMetrics {
    /// Creates the metrics (not yet registered).
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        Ok(HttpMetrics {
            connections_open: IntGaugeVec::new(
                Opts::new(
                    "lbctl_http_connections_open",
                    "HTTP connections being served.",
                ),
                &["listener"],
            )?,
            connections_refused_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_http_connections_refused_total",
                    "HTTP connections closed at once because max_connections were open.",
                ),
                &["listener"],
            )?,
            accept_errors_total: IntCounterVec::new(
                Opts::new(
                    "lbctl_http_accept_errors_total",
                    "Failed accepts on an HTTP listener (each followed by a backoff).",
                ),
                &["listener"],
            )?,
        })
    }

    /// Registers every metric.
    pub(crate) fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.connections_open.clone()))?;
        registry.register(Box::new(self.connections_refused_total.clone()))?;
        registry.register(Box::new(self.accept_errors_total.clone()))?;
        Ok(())
    }
}
