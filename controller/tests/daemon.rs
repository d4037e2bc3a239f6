//! The daemon end to end without a kernel: the real core loop, the real kube-rs watchers
//! against the fake API server (real HTTP list/watch), and the in-memory IPVS fake.
//!
//! What needs the real kernel (netlink, VIP addresses, live connections) is covered by the lab
//! scenarios 20-21 instead.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb_config::{Protocol, Settings};
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::test_util::svc;
use lb_ipvs_sync::{IpvsTable, ServiceId};
use lb_tests::fake_apiserver::FakeApiServer;
use lb_tests::fake_apiserver::store::Resource;
use serde_json::{Value, json};
use tokio::sync::watch;

use lb_controller::daemon::{
    ConfigInput, Controller, ControllerStatus, CoreOptions, DaemonOutputs, EndpointsInput,
    InputSenders, KeptFrom, KernelSlot, LogSink, SyncSummary, channels,
};
use lb_controller::metrics::ControllerMetrics;

const SETTINGS: &str = "managed_vip_ranges = [\"10.0.0.0/24\"]\nresync_period_secs = 1\n";

fn settings() -> Settings {
    Settings::from_toml_str(SETTINGS).unwrap()
}

fn key(vip: &str, port: u16) -> ServiceId {
    svc(vip, Protocol::Tcp, port)
}

/// `(address:port, weight)` of a service's destinations, or `None` if it is absent.
fn dests(table: &IpvsTable, vip: &str, port: u16) -> Option<Vec<(String, u32)>> {
    table.services.get(&key(vip, port)).map(|s| {
        s.destinations
            .values()
            .map(|d| (d.spec.key.to_string(), d.spec.weight))
            .collect()
    })
}

fn options(dir: &std::path::Path) -> CoreOptions {
    CoreOptions {
        debounce: Duration::from_millis(50),
        max_delay: Duration::from_millis(300),
        manage_vips: false,
        state_file: Some(dir.join("state.json")),
        ..CoreOptions::default()
    }
}

fn fake_slot(initial: IpvsTable) -> KernelSlot<FakeKernel> {
    KernelSlot::with_kernel(
        FakeKernel::new(initial),
        Arc::new(|| Ok(FakeKernel::default())),
    )
}

async fn wait_table(
    slot: &KernelSlot<FakeKernel>,
    what: &str,
    cond: impl Fn(&IpvsTable) -> bool,
) -> IpvsTable {
    for _ in 0..400 {
        let table = slot.inspect(|k| k.table().clone()).unwrap();
        if cond(&table) {
            return table;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let table = slot.inspect(|k| k.table().clone()).unwrap();
    panic!("timed out waiting for: {what}; table: {table:#?}");
}

async fn wait_status(
    outputs: &DaemonOutputs,
    what: &str,
    cond: impl Fn(&ControllerStatus) -> bool,
) {
    for _ in 0..400 {
        if cond(&outputs.status.borrow().controller) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "timed out waiting for: {what}; status: {:#?}",
        outputs.status.borrow().controller
    );
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lbctl-daemon-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A controller on the fake kernel with file-like inputs, running on its own task.
struct Running {
    senders: InputSenders,
    slot: KernelSlot<FakeKernel>,
    metrics: ControllerMetrics,
    outputs: DaemonOutputs,
    stop_tx: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(settings: Settings, dir: &std::path::Path) -> Running {
    start_on(settings, dir, IpvsTable::default())
}

/// [`start`] on a kernel that already holds `table` (a restart).
fn start_on(settings: Settings, dir: &std::path::Path, table: IpvsTable) -> Running {
    let (senders, inputs) = channels(settings);
    let slot = fake_slot(table);
    let metrics = ControllerMetrics::new().unwrap();
    let (mut controller, outputs) = Controller::new(
        inputs,
        slot.clone(),
        metrics.clone(),
        Arc::new(LogSink),
        options(dir),
    );
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(async move { controller.run(stop).await });
    Running {
        senders,
        slot,
        metrics,
        outputs,
        stop_tx,
        task,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_inputs_program_the_kernel_and_resync_repairs_drift() {
    let dir = tempdir("file");
    let Running {
        senders,
        slot,
        metrics,
        outputs,
        stop_tx,
        task,
    } = start(settings(), &dir);

    // Config without endpoints: nothing is written until both inputs are listed.
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(
            "10.0.0.1-80: 10.1.0.1:80, 10.1.0.2:80\n",
        ))));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        slot.inspect(|k| k.applied().len()),
        Some(0),
        "no write before every list"
    );
    assert!(!outputs.status.borrow().controller.listed);

    senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    let table = wait_table(&slot, "static service", |t| {
        dests(t, "10.0.0.1", 80).is_some_and(|d| d.len() == 2)
    })
    .await;
    assert_eq!(table.services.len(), 1);
    wait_status(&outputs, "ready", |c| c.ready).await;
    assert!(
        outputs
            .serving_vips
            .borrow()
            .contains(&"10.0.0.1".parse().unwrap())
    );
    assert!(outputs.desired.borrow().services.len() == 1);

    // Someone deletes our service by hand: the periodic resync puts it back.
    slot.inspect(|k| k.table_mut().services.clear());
    wait_table(&slot, "drift repaired", |t| {
        dests(t, "10.0.0.1", 80).is_some()
    })
    .await;
    // The pass counts the repair after its writes: wait for the count, bounded.
    for _ in 0..100 {
        if metrics.drift_repairs_total.get() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.drift_repairs_total.get() >= 1,
        "the repair is counted"
    );
    assert!(dir.join("state.json").exists(), "drain book persisted");

    stop_tx.send_replace(true);
    task.await.unwrap();
}

/// The status's last sync (there must be one).
fn last_sync(outputs: &DaemonOutputs) -> SyncSummary {
    outputs
        .status
        .borrow()
        .controller
        .last_sync
        .clone()
        .unwrap()
}

/// Reads of the fake kernel so far: (full dumps, services read one by one).
fn reads(slot: &KernelSlot<FakeKernel>) -> (usize, usize) {
    slot.inspect(|k| (k.full_dumps(), k.service_reads()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_reads_and_writes_only_what_it_touches() {
    let dir = tempdir("focused");
    // No resync during the test: every pass after the first is driven by a change.
    let settings = Settings::from_toml_str(
        "managed_vip_ranges = [\"10.0.0.0/24\"]\nresync_period_secs = 3600\n",
    )
    .unwrap();
    let Running {
        senders,
        slot,
        metrics,
        outputs,
        stop_tx,
        task,
    } = start(settings, &dir);

    let config = |weight: u32| -> String {
        let mut text = String::new();
        for port in 1000..1200u16 {
            let w = if port == 1100 { weight } else { 1 };
            text.push_str(&format!(
                "10.0.0.1-{port}: 10.1.0.1:{port}, 10.1.0.2:{port} weight={w}\n"
            ));
        }
        text
    };
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(&config(1)))));
    senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    wait_table(&slot, "200 services", |t| t.services.len() == 200).await;
    wait_status(&outputs, "first pass done", |c| c.ready).await;
    let first = last_sync(&outputs);
    assert_eq!(first.pass, "full");
    // From an empty kernel: the dump before planning found nothing; the read-back of 200
    // written services took the second dump (cheaper than reading each back).
    assert_eq!(first.services_read, 0);
    assert_eq!(first.dumps, 2);
    // Where the pass's time went, step by step (values depend on the host; the steps do not).
    let steps: Vec<&str> = first.times_ms.keys().map(String::as_str).collect();
    assert_eq!(
        steps,
        [
            "netfilter",
            "plan",
            "read",
            "read_back",
            "state_file",
            "write"
        ]
    );
    assert_eq!(metrics.sync_dumps_total.get(), 2);
    let (dumps, service_reads) = reads(&slot);
    slot.inspect(FakeKernel::clear_applied);

    // One weight changes: one service is read (before and after the write), one write.
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(&config(7)))));
    wait_table(&slot, "weight 7", |t| {
        dests(t, "10.0.0.1", 1100).is_some_and(|d| d.contains(&("10.1.0.2:1100".to_owned(), 7)))
    })
    .await;
    wait_status(&outputs, "focused pass recorded", |c| {
        c.last_sync.as_ref().is_some_and(|s| s.pass == "focused")
    })
    .await;
    let last = last_sync(&outputs);
    assert_eq!(
        (last.services_read, last.applied, last.dumps),
        (1, 1, 0),
        "{last:?}"
    );
    assert_eq!(reads(&slot), (dumps, service_reads + 2), "no full dump");
    assert_eq!(
        metrics.sync_dumps_total.get(),
        2,
        "the focused pass took no dump"
    );
    assert_eq!(slot.inspect(|k| k.applied().len()), Some(1));
    assert_eq!(
        metrics
            .sync_passes_total
            .with_label_values(&["focused"])
            .get(),
        1
    );

    // A change behind our back is not seen by focused passes (the resync's full pass repairs
    // it, as the first test shows); new settings also make the next pass full.
    slot.inspect(|k| {
        k.table_mut().services.remove(&key("10.0.0.1", 1000));
    });
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(&config(8)))));
    wait_table(&slot, "weight 8", |t| {
        dests(t, "10.0.0.1", 1100).is_some_and(|d| d.contains(&("10.1.0.2:1100".to_owned(), 8)))
    })
    .await;
    assert!(
        dests(
            &slot.inspect(|k| k.table().clone()).unwrap(),
            "10.0.0.1",
            1000
        )
        .is_none()
    );
    senders.settings.send_replace(Arc::new(
        Settings::from_toml_str(
            "managed_vip_ranges = [\"10.0.0.0/24\"]\nresync_period_secs = 3000\n",
        )
        .unwrap(),
    ));
    wait_table(&slot, "repaired by a full pass", |t| {
        dests(t, "10.0.0.1", 1000).is_some()
    })
    .await;
    wait_status(&outputs, "the full pass recorded", |c| {
        c.last_sync.as_ref().is_some_and(|s| s.pass == "full")
    })
    .await;

    stop_tx.send_replace(true);
    task.await.unwrap();
}

/// A write the kernel does not answer is reported as a timeout: the pass's result carries
/// `reason="timeout"` and the write's errno label is `timeout`; the next pass programs the
/// service. Fails if timeouts are counted as plain errors (`reason="error"`, `errno="none"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_timeout_is_reported_as_such_and_the_next_pass_recovers() {
    let dir = tempdir("timeout");
    let Running {
        senders,
        slot,
        metrics,
        outputs,
        stop_tx,
        task,
    } = start(settings(), &dir);
    slot.inspect(|k| k.time_out_apply_call(0));
    senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(
            "10.0.0.1-80: 10.1.0.1:80\n",
        ))));
    senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    wait_table(&slot, "programmed after the timeout", |t| {
        dests(t, "10.0.0.1", 80).is_some()
    })
    .await;
    assert_eq!(
        metrics
            .syncs_total
            .with_label_values(&["failed", "timeout"])
            .get(),
        1
    );
    assert_eq!(
        metrics
            .netlink_errors_total
            .with_label_values(&["add_service", "timeout"])
            .get(),
        1
    );
    wait_status(&outputs, "a clean pass after the timeout", |c| c.ready).await;
    assert!(metrics.syncs_total.with_label_values(&["ok", "none"]).get() >= 1);
    stop_tx.send_replace(true);
    task.await.unwrap();
}

// === the Kubernetes source against the fake API server ===

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}})
}

fn endpoint(ip: &str, ready: bool, terminating: bool) -> Value {
    json!({"addresses": [ip], "conditions": {"ready": ready, "serving": true, "terminating": terminating}})
}

fn slice(name: &str, endpoints: Vec<Value>) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": name, "namespace": "shop",
                        "labels": {"kubernetes.io/service-name": "web"},
                        "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"}},
           "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": endpoints})
}

fn configmap(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "lvs-vips", "namespace": "kube-system"}, "data": data})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_watchers_drive_the_kernel_through_edits_outages_and_relists() {
    let dir = tempdir("kube");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let api = FakeApiServer::start_with(any, any, Duration::from_millis(300))
        .await
        .unwrap();
    let shared = Arc::clone(api.shared());
    api.apply(service());
    api.apply(slice(
        "web-a",
        vec![
            endpoint("10.1.0.1", true, false),
            endpoint("10.1.0.2", true, false),
        ],
    ));
    api.apply(configmap(json!({"10.0.0.100": "shop/web:s"})));
    // A managed service left from an earlier run; the API is down at start.
    let mut leftover = FakeKernel::default();
    let spec = lb_ipvs_sync::wanted::wanted_table(
        &lb_config::build_desired_state(
            &lb_config::parse_configmap("10.0.0.9-80: 10.1.0.9:80\n").entries,
            &settings(),
            &Default::default(),
            &Default::default(),
        )
        .state,
    );
    for (id, svc) in &spec {
        lb_ipvs_sync::IpvsKernel::apply(
            &mut leftover,
            &lb_ipvs_sync::Operation::AddService {
                service: svc.spec.clone(),
            },
        )
        .unwrap();
        for d in svc.destinations.values() {
            lb_ipvs_sync::IpvsKernel::apply(
                &mut leftover,
                &lb_ipvs_sync::Operation::AddDestination {
                    service: *id,
                    destination: d.clone(),
                },
            )
            .unwrap();
        }
    }
    leftover.clear_applied();
    shared.set_up(false);

    let (senders, inputs) = channels(settings());
    let slot = fake_slot(leftover.table().clone());
    let metrics = ControllerMetrics::new().unwrap();
    let client = kube::Client::try_from(kube::Config::new(
        format!("http://{}", api.api_addr).parse().unwrap(),
    ))
    .unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let source = lb_controller::kube::KubeOutputs {
        config: senders.config,
        endpoints: senders.endpoints,
        connected: senders.connected,
    };
    tokio::spawn(lb_controller::kube::run(
        client.clone(),
        settings().kubernetes,
        source,
        metrics.clone(),
        stop.clone(),
    ));
    let sink = Arc::new(lb_controller::kube::EventSink::new(
        client,
        &settings().kubernetes,
        None,
    ));
    let (mut controller, outputs) =
        Controller::new(inputs, slot.clone(), metrics.clone(), sink, options(&dir));
    let task = tokio::spawn(async move { controller.run(stop).await });

    // 1. API down from the start: no list, no write, not ready, the leftover stays.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        slot.inspect(|k| k.applied().len()),
        Some(0),
        "no write before the lists"
    );
    assert!(
        slot.inspect(|k| dests(k.table(), "10.0.0.9", 80).is_some())
            .unwrap()
    );
    assert!(!outputs.status.borrow().controller.ready);

    // 2. API up: lists complete, the Service's endpoints are programmed.
    shared.set_up(true);
    wait_table(&slot, "service VIP with two endpoints", |t| {
        dests(t, "10.0.0.100", 80).is_some_and(|d| d.len() == 2)
    })
    .await;
    wait_status(&outputs, "ready after lists", |c| c.ready).await;

    // 3. ConfigMap edit adds a static VIP.
    api.apply(configmap(
        json!({"10.0.0.100": "shop/web:s", "10.0.0.101-80": "10.1.0.9:80"}),
    ));
    wait_table(&slot, "static VIP added", |t| {
        dests(t, "10.0.0.101", 80).is_some()
    })
    .await;

    // 4. Scaling: a third endpoint; 5. one endpoint terminating -> weight 0.
    api.apply(slice(
        "web-a",
        vec![
            endpoint("10.1.0.1", true, false),
            endpoint("10.1.0.2", true, false),
            endpoint("10.1.0.3", true, false),
        ],
    ));
    wait_table(&slot, "scaled to three", |t| {
        dests(t, "10.0.0.100", 80).is_some_and(|d| d.len() == 3)
    })
    .await;
    api.apply(slice(
        "web-a",
        vec![
            endpoint("10.1.0.1", false, true),
            endpoint("10.1.0.2", true, false),
            endpoint("10.1.0.3", true, false),
        ],
    ));
    wait_table(&slot, "terminating endpoint drained", |t| {
        dests(t, "10.0.0.100", 80).is_some_and(|d| d.contains(&("10.1.0.1:8080".to_owned(), 0)))
    })
    .await;
    assert!(
        metrics
            .endpoint_programming_latency_seconds
            .get_sample_count()
            >= 1
    );

    // 6. A key that stops parsing keeps its last good version; the problem becomes an Event.
    api.apply(configmap(
        json!({"10.0.0.100": "shop/web:s", "10.0.0.101-80": "10.1.0.9:8o"}),
    ));
    wait_status(&outputs, "bad key reported", |c| {
        c.kept_keys.contains(&"10.0.0.101-80".to_owned())
    })
    .await;
    let table = slot.inspect(|k| k.table().clone()).unwrap();
    assert_eq!(
        dests(&table, "10.0.0.101", 80),
        Some(vec![("10.1.0.9:80".to_owned(), 1)])
    );
    assert_eq!(
        metrics
            .config_problems
            .with_label_values(&["10.0.0.101-80", "error"])
            .get(),
        1
    );
    // The kept key is an Event of its own (reason KeptLastGood), next to the InvalidKey one.
    let kept_event = |e: &Value| e["reason"] == "KeptLastGood";
    for _ in 0..100 {
        if api.objects(Resource::Events).iter().any(kept_event) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = api.objects(Resource::Events);
    assert!(
        events.iter().any(|e| e["note"]
            .as_str()
            .is_some_and(|n| n.contains("10.0.0.101-80"))),
        "{events:#?}"
    );
    assert!(events.iter().any(kept_event), "{events:#?}");

    // 7. API outage: not ready, nothing deleted; a change made meanwhile arrives afterwards.
    slot.inspect(FakeKernel::clear_applied);
    shared.set_up(false);
    wait_status(&outputs, "not ready while the API is down", |c| {
        !c.connected && !c.ready
    })
    .await;
    api.apply(slice(
        "web-a",
        vec![
            endpoint("10.1.0.2", true, false),
            endpoint("10.1.0.3", true, false),
            endpoint("10.1.0.4", true, false),
        ],
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deletes = slot
        .inspect(|k| k.applied().iter().filter(|op| op.is_delete()).count())
        .unwrap();
    assert_eq!(deletes, 0, "nothing deleted during the outage");
    assert!(
        slot.inspect(|k| dests(k.table(), "10.0.0.100", 80).is_some_and(|d| d.len() == 3))
            .unwrap()
    );
    // 8. Back, with the history compacted: the watchers get 410 Gone and relist.
    let relists_before = metrics
        .events_total
        .with_label_values(&["endpointslice", "init_done"])
        .get();
    shared.compact();
    shared.set_up(true);
    wait_table(&slot, "change made during the outage applied", |t| {
        dests(t, "10.0.0.100", 80).is_some_and(|d| d.iter().any(|(a, _)| a == "10.1.0.4:8080"))
    })
    .await;
    wait_status(&outputs, "ready again", |c| c.ready && c.connected).await;
    let relists = metrics
        .events_total
        .with_label_values(&["endpointslice", "init_done"])
        .get();
    assert!(
        relists > relists_before,
        "410 forced a relist ({relists_before} -> {relists})"
    );

    stop_tx.send_replace(true);
    task.await.unwrap();
}

/// A restart while a key is invalid: the new daemon serves that key from the version the
/// state file kept, writes nothing for it, and says so. Fails if the state file does not keep
/// key versions, or the daemon does not load them before its first pass (the service of
/// 10.0.0.1 would be drained: writes), or the status/metric do not show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_an_invalid_key_serves_it_from_the_state_file_without_writes() {
    let dir = tempdir("restart-kept");
    let _ = std::fs::remove_file(dir.join("state.json"));
    let settings = || {
        Settings::from_toml_str(
            "managed_vip_ranges = [\"10.0.0.0/24\"]\nresync_period_secs = 3600\n",
        )
        .unwrap()
    };
    let first = start(settings(), &dir);
    first
        .senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(
            "10.0.0.1-80: 10.1.0.1:80, 10.1.0.2:80\n10.0.0.2-80: 10.1.0.3:80\n",
        ))));
    first
        .senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    wait_status(&first.outputs, "first daemon ready", |c| c.ready).await;
    let table = first.slot.inspect(|k| k.table().clone()).unwrap();
    assert_eq!(table.services.len(), 2);
    first.stop_tx.send_replace(true);
    first.task.await.unwrap();
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(text.contains("10.1.0.1:80, 10.1.0.2:80"), "{text}");

    // Key 10.0.0.1-80 invalid now, 10.0.0.2-80 unchanged: a restart must write nothing.
    let second = start_on(settings(), &dir, table.clone());
    second
        .senders
        .config
        .send_replace(Some(Arc::new(ConfigInput::from_text(
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.3:80\n",
        ))));
    second
        .senders
        .endpoints
        .send_replace(Some(Arc::new(EndpointsInput::default())));
    wait_status(&second.outputs, "second daemon ready", |c| c.ready).await;
    assert_eq!(second.slot.inspect(|k| k.applied().len()), Some(0));
    assert_eq!(
        dests(
            &second.slot.inspect(|k| k.table().clone()).unwrap(),
            "10.0.0.1",
            80
        ),
        dests(&table, "10.0.0.1", 80)
    );
    let controller = second.outputs.status.borrow().controller.clone();
    assert_eq!(controller.kept_keys, ["10.0.0.1-80"]);
    assert_eq!(controller.kept[0].from, KeptFrom::StateFile);
    assert_eq!(second.metrics.configmap_kept_keys.get(), 1);
    // The kept version is still the one on disk; the invalid one never is.
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(
        text.contains("10.1.0.1:80, 10.1.0.2:80") && !text.contains("8o"),
        "{text}"
    );
    second.stop_tx.send_replace(true);
    second.task.await.unwrap();
}
