//! The scrape-time IPVS collector: one dump per scrape (or a cached one), mapped to the
//! `lvs_*` families with business labels from the desired state.
//!
//! I/O: `collect` performs one netlink dump when the cached snapshot is older than the
//! configured maximum age; call [`Metrics::encode`](crate::metrics::Metrics::encode) from a
//! blocking context (`tokio::task::spawn_blocking`). Everything else is delegated to the pure
//! [`families`](super::families), [`labels`](super::labels) and
//! [`monotonic`](super::monotonic) modules.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lb_config::DesiredState;
use lb_ipvs_sync::IpvsTable;
use prometheus::core::{Collector, Desc, Describer};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntGauge, Opts};
use tokio::sync::watch;

use super::families::{FAMILIES, RenderOptions, SeriesId, render};
use super::labels::LabelBook;
use super::monotonic::MonotonicCounters;
use super::source::TableSource;

/// Tuning of the IPVS collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpvsCollectorOptions {
    /// A scrape reuses the last dump when it is at most this old, so several Prometheus
    /// replicas scraping together cost one dump. `ZERO` dumps on every scrape.
    pub(crate) max_snapshot_age: Duration,
    /// Emit the per-endpoint families. Off for very large tables (100k destinations make
    /// ~2.4M series); the per-service families stay.
    pub(crate) endpoint_level: bool,
    /// How long the counter offsets of a vanished service or destination are kept, so that
    /// one re-added within this time continues its series instead of restarting it.
    pub(crate) offset_retention: Duration,
}

impl Default for IpvsCollectorOptions {
    fn default() -> Self {
        IpvsCollectorOptions {
            max_snapshot_age: Duration::from_secs(1),
            endpoint_level: true,
            offset_retention: Duration::from_secs(3600),
        }
    }
}

/// Reads the kernel's IPVS counters at scrape time. Register it with
/// [`Metrics::register`](crate::metrics::Metrics::register).
pub(crate) struct IpvsCollector<S> {
    inner: Mutex<Inner<S>>,
    desired: watch::Receiver<Arc<DesiredState>>,
    /// Read at every scrape, so a SIGHUP that changes `[metrics]` applies to the next one.
    options: watch::Receiver<IpvsCollectorOptions>,
    descs: Vec<Desc>,
    up: IntGauge,
    dump_errors: IntCounter,
    dump_duration: Gauge,
    tracked_series: IntGauge,
}

struct Inner<S> {
    source: S,
    snapshot: Option<(Instant, IpvsTable)>,
    labels: LabelBook,
    counters: MonotonicCounters<SeriesId>,
}

impl<S: TableSource> IpvsCollector<S> {
    /// A collector reading `source`, labelling with the latest desired state of `desired`,
    /// tuned by the latest value of `options`.
    pub(crate) fn new(
        source: S,
        desired: watch::Receiver<Arc<DesiredState>>,
        options: watch::Receiver<IpvsCollectorOptions>,
    ) -> Result<Self, prometheus::Error> {
        let retention = options.borrow().offset_retention;
        let up = IntGauge::new(
            "lbctl_ipvs_up",
            "1 when the last IPVS dump for /metrics succeeded.",
        )?;
        let dump_errors = IntCounter::new(
            "lbctl_ipvs_dump_errors_total",
            "IPVS dumps for /metrics that failed.",
        )?;
        let dump_duration = Gauge::new(
            "lbctl_ipvs_dump_duration_seconds",
            "Duration of the last IPVS dump for /metrics.",
        )?;
        let tracked_series = IntGauge::new(
            "lbctl_ipvs_tracked_series",
            "Counter series whose offsets are kept (live and recently vanished).",
        )?;
        let mut descs = Vec::with_capacity(FAMILIES.len() + 4);
        for spec in FAMILIES {
            let opts = Opts::new(spec.name, spec.help).variable_labels(spec.label_names());
            descs.push(opts.describe()?);
        }
        for own in [&up, &tracked_series] {
            descs.extend(own.desc().into_iter().cloned());
        }
        descs.extend(dump_errors.desc().into_iter().cloned());
        descs.extend(dump_duration.desc().into_iter().cloned());
        Ok(IpvsCollector {
            inner: Mutex::new(Inner {
                source,
                snapshot: None,
                labels: LabelBook::default(),
                counters: MonotonicCounters::new(retention),
            }),
            desired,
            options,
            descs,
            up,
            dump_errors,
            dump_duration,
            tracked_series,
        })
    }

    /// The families of one scrape at `now`.
    pub(super) fn scrape(&self, now: Instant) -> Vec<MetricFamily> {
        let options = *self.options.borrow();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *inner;
        inner.counters.set_retention(options.offset_retention);
        let fresh = inner.snapshot.as_ref().is_some_and(|(taken, _)| {
            now.saturating_duration_since(*taken) <= options.max_snapshot_age
        });
        if !fresh {
            let started = Instant::now();
            match inner.source.dump_table() {
                Ok(table) => {
                    self.dump_duration.set(started.elapsed().as_secs_f64());
                    self.up.set(1);
                    inner.snapshot = Some((now, table));
                }
                Err(error) => {
                    tracing::warn!(%error, "IPVS dump for /metrics failed");
                    self.dump_errors.inc();
                    self.up.set(0);
                    // No stale numbers: the lvs_* series go missing, lbctl_ipvs_up says why.
                    inner.snapshot = None;
                }
            }
        }
        let mut families = Vec::new();
        if let Some((_, table)) = &inner.snapshot {
            let desired = Arc::clone(&self.desired.borrow());
            inner.labels.refresh(&desired, table);
            let options = RenderOptions {
                endpoint_level: options.endpoint_level,
            };
            families = render(table, &inner.labels, &mut inner.counters, options, now);
        }
        self.tracked_series
            .set(i64::try_from(inner.counters.len()).unwrap_or(i64::MAX));
        families.extend(self.up.collect());
        families.extend(self.dump_errors.collect());
        families.extend(self.dump_duration.collect());
        families.extend(self.tracked_series.collect());
        families
    }
}

impl<S: TableSource> Collector for IpvsCollector<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.scrape(Instant::now())
    }
}
