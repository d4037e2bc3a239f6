//! The daemon's whole path for one change at 10,000 services x 10 real servers, on the
//! in-memory IPVS fake, from the new input to the fake kernel holding the change:
//! - `one_key_changed`: one ConfigMap key's weight. The file source's read of the document
//!   (`ConfigInput::from_text_after`), the core loop's coalescing (1 ms here), the build, the
//!   focused pass and its read-back. The lab measures the same path on the real kernel
//!   (`bench/ipvs-apply.sh`, "one change, file to kernel").
//! - `one_endpoint_changed`: 10,000 keys that each name a Service of 10 endpoints; one
//!   endpoint starts or stops terminating (weight 0 or 1). The new snapshot is made the way
//!   the Kubernetes source makes it (every other Service shared with the last snapshot, the
//!   changed one new), then the same path.
//!
//! This bench shows how much of a change's latency is in-memory work, and is what a profiler
//! runs.

use std::sync::Arc;
use std::time::Duration;

use divan::Bencher;
use lb_bench::generate::{self, TableSize};
use lb_config::{EndpointSnapshot, Settings};
use lb_controller::daemon::{
    ConfigInput, Controller, CoreOptions, EndpointsInput, InputSenders, KernelSlot, LogSink,
    channels,
};
use lb_controller::metrics::ControllerMetrics;
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::{IpvsTable, test_util};

fn main() {
    divan::main();
}

/// The line of the changed key (the lab bench changes the same one).
const KEY: &str = "  10.0.0.96-1000: ";

/// Services of the endpoint bench (10,000 x 10 real servers, like the static one).
const SERVICE_KEYS: usize = 10_000;

/// One key's weight changed in a 10,000-key ConfigMap, from the new text to the fake kernel
/// holding the new weight.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn one_key_changed(bencher: Bencher<'_, '_>) {
    let size = TableSize::SERVICES_10K;
    let base = generate::configmap_text(size);
    let daemon = Daemon::start(
        generate::settings(),
        test_util::observed(&generate::wanted(size)),
        &base,
        EndpointSnapshot::default(),
    );
    // What the file source does: parse the new text against the version it published last.
    let publish = |text: &str| {
        let previous = daemon.senders.config.borrow().clone();
        let input = ConfigInput::from_text_after(text, previous.as_deref());
        daemon.senders.config.send_replace(Some(Arc::new(input)));
    };
    let first_weight = |table: &IpvsTable| {
        table
            .services
            .values()
            .next()
            .and_then(|s| s.destinations.values().next().map(|d| d.spec.weight))
    };
    daemon.wait("weight 1", |t| first_weight(t) == Some(1));
    let mut weight = 1;
    bencher.bench_local(|| {
        weight = weight % 200 + 2;
        let text = with_weight(&base, weight);
        publish(&text);
        daemon.wait(&format!("weight {weight}"), |t| {
            first_weight(t) == Some(weight)
        });
    });
    daemon.stop();
}

/// One endpoint of one Service among 10,000 starts or stops terminating, from the Kubernetes
/// source's new snapshot to the fake kernel holding its new weight.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn one_endpoint_changed(bencher: Bencher<'_, '_>) {
    let dests = 10;
    let ready = generate::service_endpoints(SERVICE_KEYS, dests, false);
    let draining = generate::service_endpoints(SERVICE_KEYS, dests, true);
    let daemon = Daemon::start(
        generate::service_settings(),
        IpvsTable::default(),
        &generate::service_configmap_text(SERVICE_KEYS),
        ready.clone(),
    );
    // The first service's last real server: the one that changes.
    let churned_weight = |table: &IpvsTable| {
        let service = table.services.values().next()?;
        (service.destinations.len() == usize::from(dests))
            .then(|| service.destinations.values().last().map(|d| d.spec.weight))
            .flatten()
    };
    daemon.wait("the whole table", |t| {
        t.services.len() == SERVICE_KEYS && churned_weight(t) == Some(1)
    });
    let mut drain = false;
    bencher.bench_local(|| {
        drain = !drain;
        // What the Kubernetes source does: a new snapshot of every referenced Service's
        // endpoints, sharing the unchanged ones, one of them changed.
        let changed = if drain { &draining } else { &ready };
        let snapshot = EndpointSnapshot::new(
            ready
                .services()
                .iter()
                .zip(changed.services())
                .map(|(r, c)| Arc::clone(if r.name == "svc-0" { c } else { r }))
                .collect(),
        );
        daemon
            .senders
            .endpoints
            .send_replace(Some(Arc::new(EndpointsInput {
                snapshot: Arc::new(snapshot),
                changed_at: None,
            })));
        let want = u32::from(!drain);
        daemon.wait(&format!("weight {want}"), |t| {
            churned_weight(t) == Some(want)
        });
    });
    daemon.stop();
}

/// `lbctl run`'s core loop on the fake kernel, with a tight coalescing time.
struct Daemon {
    runtime: tokio::runtime::Runtime,
    senders: InputSenders,
    slot: KernelSlot<FakeKernel>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    state_dir: std::path::PathBuf,
}

impl Daemon {
    /// Starts the loop on a kernel holding `table`, with the first ConfigMap text and
    /// endpoints already published.
    fn start(
        settings: Settings,
        table: IpvsTable,
        text: &str,
        endpoints: EndpointSnapshot,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
        let state_dir =
            std::env::temp_dir().join(format!("lb-bench-daemon-{}", std::process::id()));
        let (senders, inputs) = channels(settings);
        let slot = KernelSlot::with_kernel(
            FakeKernel::new(table),
            Arc::new(|| Ok(FakeKernel::default())),
        );
        let options = CoreOptions {
            debounce: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            manage_vips: false,
            state_file: Some(state_dir.join("state.json")),
            ..CoreOptions::default()
        };
        let metrics = ControllerMetrics::new().unwrap_or_else(|e| panic!("metrics: {e}"));
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let task = {
            let _guard = runtime.enter();
            let (mut controller, _outputs) =
                Controller::new(inputs, slot.clone(), metrics, Arc::new(LogSink), options);
            runtime.spawn(async move { controller.run(stop).await })
        };
        senders
            .endpoints
            .send_replace(Some(Arc::new(EndpointsInput {
                snapshot: Arc::new(endpoints),
                changed_at: None,
            })));
        senders
            .config
            .send_replace(Some(Arc::new(ConfigInput::from_text(text))));
        Daemon {
            runtime,
            senders,
            slot,
            stop_tx,
            task,
            state_dir,
        }
    }

    /// Polls the fake kernel every 0.1 ms until `done` holds (at most a minute).
    fn wait(&self, what: &str, done: impl Fn(&IpvsTable) -> bool) {
        for _ in 0..600_000 {
            if self.slot.inspect(|k| done(k.table())) == Some(true) {
                return;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        panic!("{what} never reached the fake kernel");
    }

    fn stop(self) {
        self.stop_tx.send_replace(true);
        self.runtime
            .block_on(self.task)
            .unwrap_or_else(|e| panic!("daemon task: {e}"));
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// `base` with `; weight=N` added to the changed key's line.
fn with_weight(base: &str, weight: u32) -> String {
    let mut out = String::with_capacity(base.len() + 16);
    for line in base.split_inclusive('\n') {
        if line.starts_with(KEY) {
            out.push_str(line.trim_end());
            out.push_str(&format!("; weight={weight}\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}
