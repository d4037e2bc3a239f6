//! The daemon's whole path for one changed ConfigMap key at 10,000 services x 10 real servers,
//! on the in-memory IPVS fake: the file source's read of the document (`ConfigInput::from_text`),
//! the core loop's coalescing (1 ms here), the build, the focused pass and its read-back. The
//! lab measures the same path on the real kernel (`bench/ipvs-apply.sh`, "one change, file to
//! kernel"); this bench shows how much of it is in-memory work, and is what a profiler runs.

use std::sync::Arc;
use std::time::Duration;

use divan::Bencher;
use lb_bench::generate::{self, TableSize};
use lb_controller::daemon::{
    ConfigInput, Controller, CoreOptions, EndpointsInput, KernelSlot, LogSink, channels,
};
use lb_controller::metrics::ControllerMetrics;
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::test_util;

fn main() {
    divan::main();
}

/// The line of the changed key (the lab bench changes the same one).
const KEY: &str = "  10.0.0.96-1000: ";

/// One key's weight changed in a 10,000-key ConfigMap, from the new text to the fake kernel
/// holding the new weight.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn one_key_changed(bencher: Bencher<'_, '_>) {
    let size = TableSize::SERVICES_10K;
    let base = generate::configmap_text(size);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let state_dir = std::env::temp_dir().join(format!("lb-bench-daemon-{}", std::process::id()));
    let (senders, inputs) = channels(generate::settings());
    let slot = KernelSlot::with_kernel(
        FakeKernel::new(test_util::observed(&generate::wanted(size))),
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
    let _guard = runtime.enter();
    let (mut controller, _outputs) =
        Controller::new(inputs, slot.clone(), metrics, Arc::new(LogSink), options);
    let task = runtime.spawn(async move { controller.run(stop).await });
    senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(&base))));
    // What the file source does: parse the new text against the version it published last.
    let publish = |text: &str| {
        let previous = senders.config.borrow().clone();
        let input = ConfigInput::from_text_after(text, previous.as_deref());
        senders.config.send_replace(Some(Arc::new(input)));
    };
    let weight_of = |slot: &KernelSlot<FakeKernel>| {
        slot.inspect(|k| {
            k.table()
                .services
                .values()
                .next()
                .and_then(|s| s.destinations.values().next().map(|d| d.spec.weight))
        })
        .flatten()
    };
    let wait_weight = |weight: u32| {
        for _ in 0..600_000 {
            if weight_of(&slot) == Some(weight) {
                return;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        panic!("weight {weight} never reached the fake kernel");
    };
    wait_weight(1);
    let mut weight = 1;
    bencher.bench_local(|| {
        weight = weight % 200 + 2;
        let text = with_weight(&base, weight);
        publish(&text);
        wait_weight(weight);
    });
    stop_tx.send_replace(true);
    runtime
        .block_on(task)
        .unwrap_or_else(|e| panic!("daemon task: {e}"));
    let _ = std::fs::remove_dir_all(&state_dir);
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
