//! The scrape-time IPVS collector: one dump shared by the scrapes that want it, written as the
//! `lvs_*` families with business labels from the desired state.
//!
//! I/O: [`IpvsCollector::write_families`] may perform one netlink dump; call it from a
//! blocking context (`tokio::task::spawn_blocking`). Single flight: the dump runs under a
//! lock, so a scrape that arrives while one is in progress waits for it and uses its result
//! instead of starting another; a later scrape reuses it while it is at most
//! `max_snapshot_age` old. The snapshot is shared (`Arc`) and read-only, so the writing of
//! each scrape runs outside the lock and a slow client never holds up the others. Everything
//! else is delegated to the pure [`snapshot`](super::snapshot),
//! [`exposition`](super::exposition), [`labels`](super::labels) and
//! [`monotonic`](super::monotonic) modules.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lb_config::DesiredState;
use prometheus::{Gauge, IntCounter, IntGauge, Registry};
use tokio::sync::watch;

use super::exposition::{ExpositionOptions, write_lvs_families};
use super::families::SeriesId;
use super::labels::LabelBook;
use super::monotonic::MonotonicCounters;
use super::snapshot::{Snapshot, SnapshotBuilder};
use super::source::TableSource;

/// Tuning of the IPVS collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpvsCollectorOptions {
    /// A scrape reuses the last dump when it is at most this old, so several Prometheus
    /// replicas scraping together cost one dump. `ZERO` dumps on every scrape (scrapes that
    /// arrive during a dump still share it).
    pub(crate) max_snapshot_age: Duration,
    /// Emit the per-endpoint families. Off for very large tables; the per-service families
    /// stay.
    pub(crate) endpoint_level: bool,
    /// Emit the kernel's per-endpoint rate estimates too (`rate()` over the counters gives the
    /// same; five more series per endpoint).
    pub(crate) endpoint_rates: bool,
    /// How long the counter offsets of a vanished service or destination are kept, so that
    /// one re-added within this time continues its series instead of restarting it.
    pub(crate) offset_retention: Duration,
}

impl Default for IpvsCollectorOptions {
    fn default() -> Self {
        IpvsCollectorOptions {
            max_snapshot_age: Duration::from_secs(1),
            endpoint_level: true,
            endpoint_rates: false,
            offset_retention: Duration::from_secs(3600),
        }
    }
}

/// What `/metrics` needs of the IPVS collector, without its source type.
pub(crate) trait LvsFamilies: Send + Sync {
    /// Writes the `lvs_*` families of a snapshot no older than the configured age, as seen
    /// by a scrape that started at `now`; updates the `lbctl_ipvs_*` metrics first.
    fn write_families(&self, out: &mut dyn Write, now: Instant) -> io::Result<()>;

    /// Registers the collector's own small metrics (`lbctl_ipvs_*`).
    fn register(&self, registry: &Registry) -> Result<(), prometheus::Error>;
}

/// Reads the kernel's IPVS counters at scrape time. Attach it with
/// [`Metrics::attach_ipvs`](crate::metrics::Metrics::attach_ipvs).
pub(crate) struct IpvsCollector<S> {
    /// Held while a dump runs and its snapshot is prepared: the single flight.
    dumper: Mutex<Dumper<S>>,
    /// Scrapes blocked on `dumper` (for tests: proves a scrape is waiting).
    waiting: AtomicUsize,
    desired: watch::Receiver<Arc<DesiredState>>,
    /// Read at every scrape, so a SIGHUP that changes `[metrics]` applies to the next one.
    options: watch::Receiver<IpvsCollectorOptions>,
    up: IntGauge,
    dump_errors: IntCounter,
    dump_duration: Gauge,
    tracked_series: IntGauge,
}

struct Dumper<S> {
    source: S,
    snapshot: Option<Arc<Snapshot>>,
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
        Ok(IpvsCollector {
            dumper: Mutex::new(Dumper {
                source,
                snapshot: None,
                labels: LabelBook::default(),
                counters: MonotonicCounters::new(retention),
            }),
            waiting: AtomicUsize::new(0),
            desired,
            options,
            up: IntGauge::new(
                "lbctl_ipvs_up",
                "1 when the last IPVS dump for /metrics succeeded.",
            )?,
            dump_errors: IntCounter::new(
                "lbctl_ipvs_dump_errors_total",
                "IPVS dumps for /metrics that failed.",
            )?,
            dump_duration: Gauge::new(
                "lbctl_ipvs_dump_duration_seconds",
                "Duration of the last IPVS dump for /metrics.",
            )?,
            tracked_series: IntGauge::new(
                "lbctl_ipvs_tracked_series",
                "Counter series whose offsets are kept (live and recently vanished).",
            )?,
        })
    }

    /// The snapshot for a scrape that started at `now`: the last one if it became ready
    /// while this scrape waited, or if it succeeded at most `max_snapshot_age` before `now`;
    /// else a new dump. Times after `now` are `now` plus the real time elapsed in this call,
    /// so tests can pass a `now` of their own.
    pub(super) fn snapshot(&self, now: Instant) -> Arc<Snapshot> {
        let entered = Instant::now();
        let clock = || now + entered.elapsed();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut dumper = self.dumper.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let options = *self.options.borrow();
        if let Some(last) = &dumper.snapshot {
            let waited_for_it = last.ready > now;
            let fresh =
                last.up && now.saturating_duration_since(last.taken) <= options.max_snapshot_age;
            if waited_for_it || fresh {
                return Arc::clone(last);
            }
        }
        // Drop the last snapshot before dumping: at most one snapshot is being built while
        // scrapes still writing hold theirs.
        dumper.snapshot = None;
        let dumper = &mut *dumper;
        dumper.counters.set_retention(options.offset_retention);
        let taken = clock();
        let started = Instant::now();
        let desired = Arc::clone(&self.desired.borrow());
        let mut builder = SnapshotBuilder::new(
            &dumper.labels,
            &desired,
            options.endpoint_level,
            options.endpoint_rates,
        );
        // Streamed: our services' destinations are converted one service at a time.
        let dumped = dumper
            .source
            .visit_table(&mut builder)
            .map(|()| builder.finish());
        let snapshot = match dumped {
            Ok(dumped) => {
                self.dump_duration.set(started.elapsed().as_secs_f64());
                self.up.set(1);
                dumper.labels.refresh(&desired, |key| dumped.in_kernel(key));
                let mut snapshot = Snapshot::prepare(dumped, &dumper.labels, taken);
                snapshot.make_monotonic(&mut dumper.counters);
                snapshot
            }
            Err(error) => {
                tracing::warn!(%error, "IPVS dump for /metrics failed");
                self.dump_errors.inc();
                self.up.set(0);
                // No stale numbers: the lvs_* series go missing, lbctl_ipvs_up says why.
                Snapshot::failed(taken, taken)
            }
        };
        self.tracked_series
            .set(i64::try_from(dumper.counters.len()).unwrap_or(i64::MAX));
        let snapshot = Arc::new(Snapshot {
            ready: clock(),
            ..snapshot
        });
        dumper.snapshot = Some(Arc::clone(&snapshot));
        snapshot
    }

    /// How many scrapes wait for the dump in progress.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

impl<S: TableSource> LvsFamilies for IpvsCollector<S> {
    fn write_families(&self, out: &mut dyn Write, now: Instant) -> io::Result<()> {
        let snapshot = self.snapshot(now);
        let options = *self.options.borrow();
        let exposition = ExpositionOptions {
            endpoint_level: options.endpoint_level,
            // Kept only when asked for at dump time: a reload that turns them on applies from
            // the next dump.
            endpoint_rates: options.endpoint_rates && snapshot.endpoint_rates,
        };
        write_lvs_families(out, &snapshot.services, exposition)
    }

    fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.up.clone()))?;
        registry.register(Box::new(self.dump_errors.clone()))?;
        registry.register(Box::new(self.dump_duration.clone()))?;
        registry.register(Box::new(self.tracked_series.clone()))?;
        Ok(())
    }
}
