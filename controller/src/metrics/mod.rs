//! Prometheus metrics of `lbctl run`: the controller's own health ([`ControllerMetrics`]) and
//! the kernel's IPVS counters, read at scrape time.
//!
//! One `Metrics` per process; `/metrics` streams `Metrics::write_scrape`. Two writers make
//! one body: the `lvs_*` families come from our own exposition writer, which walks the dump
//! and writes each line as it goes (memory independent of the number of series: 110,000
//! endpoints make a million series), then the `prometheus` registry's text encoding of the
//! controller's own metrics. Names follow Prometheus conventions (base units, `_total`
//! counters); docs/metrics.md lists every series.

mod chunked;
mod conntrack;
mod controller;
mod http;
mod ipvs;

use std::io::{self, BufWriter, Write};
use std::sync::OnceLock;
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::Bytes;
use prometheus::core::Collector;
use prometheus::{Encoder, Registry, TextEncoder};

use chunked::ChunkWriter;
pub(crate) use conntrack::ConntrackCollector;
pub use controller::ControllerMetrics;
pub(crate) use http::HttpMetrics;
#[cfg(any(test, feature = "test-util"))]
pub use ipvs::{BenchSnapshot, bench_encode, bench_snapshot, bench_write};
pub(crate) use ipvs::{IpvsCollector, IpvsCollectorOptions, LazyNetlinkSource, LvsFamilies};

/// How a scrape's body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyEncoding {
    /// The text as it is.
    Plain,
    /// gzip (`Content-Encoding: gzip`), when the scraper accepts it: the text of 110,000
    /// endpoints shrinks about tenfold.
    Gzip,
}

/// Bytes handed to the gzip encoder at once: its per-call cost is high for the short writes
/// of the exposition writers.
const GZIP_INPUT_BUFFER: usize = 32 * 1024;

/// The process's metrics registry and the IPVS collector.
pub(crate) struct Metrics {
    registry: Registry,
    /// The `lvs_*` families, written by our own exposition writer (set once at start).
    ipvs: OnceLock<Box<dyn LvsFamilies>>,
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
            ipvs: OnceLock::new(),
            controller,
            http,
        })
    }

    /// Adds a collector of a few series (e.g. the conntrack counters read at scrape time).
    pub(crate) fn register(&self, collector: Box<dyn Collector>) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// Attaches the IPVS collector (once) and registers its own `lbctl_ipvs_*` metrics.
    pub(crate) fn attach_ipvs(&self, ipvs: Box<dyn LvsFamilies>) -> Result<(), prometheus::Error> {
        ipvs.register(&self.registry)?;
        self.ipvs
            .set(ipvs)
            .map_err(|_| prometheus::Error::Msg("an IPVS collector is already attached".to_owned()))
    }

    /// Writes the text exposition of everything: the `lvs_*` families (after one dump, or a
    /// shared recent one), then the registry. Blocking: the IPVS collector reads the kernel.
    pub(crate) fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(ipvs) = self.ipvs.get() {
            ipvs.write_families(out, Instant::now())?;
        }
        let families = self.registry.gather();
        TextEncoder::new()
            .encode(&families, &mut &mut *out)
            .map_err(|e| match e {
                prometheus::Error::Io(e) => e,
                other => io::Error::other(other),
            })
    }

    /// Writes one scrape's body, encoded as asked, in chunks of at most
    /// [`CHUNK_BYTES`](chunked::CHUNK_BYTES) handed to `sink` as they fill: whatever the
    /// number of series, no more than a chunk (plus the gzip state) is held here. An error from `sink` (the client went away) stops
    /// the writing. Blocking, like [`write_to`](Metrics::write_to).
    pub(crate) fn write_scrape<F>(&self, encoding: BodyEncoding, sink: F) -> io::Result<()>
    where
        F: FnMut(Bytes) -> io::Result<()>,
    {
        let mut chunks = ChunkWriter::new(sink);
        match encoding {
            BodyEncoding::Plain => self.write_to(&mut chunks)?,
            BodyEncoding::Gzip => {
                let gzip = GzEncoder::new(&mut chunks, Compression::fast());
                let mut input = BufWriter::with_capacity(GZIP_INPUT_BUFFER, gzip);
                self.write_to(&mut input)?;
                input.into_inner().map_err(|e| e.into_error())?.finish()?;
            }
        }
        chunks.flush()
    }

    /// The whole exposition as text (tests).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = self.write_to(&mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
