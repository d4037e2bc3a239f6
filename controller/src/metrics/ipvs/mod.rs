//! The kernel's IPVS counters as Prometheus series (`lvs_service_*`, `lvs_endpoint_*`),
//! read at scrape time.
//!
//! Layout: [`collector`] does the I/O (one dump shared by concurrent scrapes, cached for a
//! configurable age); [`snapshot`], [`exposition`], [`families`], [`labels`] and
//! [`monotonic`] are pure and unit-tested without a kernel.

#[cfg(any(test, feature = "test-util"))]
mod bench;
mod collector;
mod exposition;
mod families;
mod labels;
mod monotonic;
mod snapshot;
mod source;

#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "test-util"))]
pub use bench::{BenchSnapshot, bench_encode, bench_snapshot, bench_write};
pub(crate) use collector::{IpvsCollector, IpvsCollectorOptions, LvsFamilies};
pub(crate) use source::LazyNetlinkSource;
