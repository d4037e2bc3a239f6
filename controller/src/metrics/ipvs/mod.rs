//! The kernel's IPVS counters as Prometheus series (`lvs_service_*`, `lvs_endpoint_*`),
//! read at scrape time.
//!
//! Layout: [`collector`] does the I/O (one dump per scrape, cached for a configurable age);
//! [`families`], [`labels`] and [`monotonic`] are pure and unit-tested without a kernel.

mod collector;
mod families;
mod labels;
mod monotonic;
mod source;

#[cfg(test)]
mod tests;

pub(crate) use collector::{IpvsCollector, IpvsCollectorOptions};
pub(crate) use source::LazyNetlinkSource;
