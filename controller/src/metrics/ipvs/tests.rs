//! Tests of the IPVS collector against the in-memory fake kernel: labels, values, the
//! endpoint-level and endpoint-rate switches, monotonic counters across kernel resets, the
//! snapshot cache, the single flight of concurrent scrapes and dump failures. Every scrape is
//! read back from the text it wrote, and the reader checks the text format's rules on the way
//! (HELP and TYPE once per family, before its series; the series of a family contiguous).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lb_config::test_util::{self, service_key};
use lb_config::{
    DesiredState, ForwardMethod, Origin, RealServerKey, ServiceKey, ServiceOrigin, VirtualService,
};
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::wanted::wanted_table;
use lb_ipvs_sync::{IpvsError, IpvsKernel, Operation, ServiceId, Stats};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::sync::watch;

use super::source::{TableSource, TableVisitor};
use super::{IpvsCollector, IpvsCollectorOptions, LvsFamilies};

/// A fake kernel the test keeps a handle on while the collector owns the source.
#[derive(Clone, Default)]
struct SharedFake {
    kernel: Arc<Mutex<FakeKernel>>,
    dumps: Arc<Mutex<usize>>,
}

impl TableSource for SharedFake {
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError> {
        *self.dumps.lock().unwrap() += 1;
        self.kernel.lock().unwrap().visit_table(visitor)
    }
}

impl SharedFake {
    fn program(&self, desired: &DesiredState) {
        let mut kernel = self.kernel.lock().unwrap();
        for (id, service) in wanted_table(desired) {
            let _ = kernel.apply(&Operation::AddService {
                service: service.spec.clone(),
            });
            for dest in service.destinations.values() {
                let _ = kernel.apply(&Operation::AddDestination {
                    service: id,
                    destination: dest.clone(),
                });
            }
        }
    }

    fn set_dest_stats(&self, service: ServiceKey, rs: &str, stats: Stats) {
        let mut kernel = self.kernel.lock().unwrap();
        let svc = kernel
            .table_mut()
            .service_mut(&ServiceId::Inet(service))
            .unwrap();
        svc.destinations.get_mut(&rs_key(rs)).unwrap().stats = stats;
    }

    fn set_service_stats(&self, service: ServiceKey, stats: Stats) {
        let mut kernel = self.kernel.lock().unwrap();
        let svc = kernel.table_mut().service_mut(&ServiceId::Inet(service));
        svc.unwrap().stats = stats;
    }

    fn dumps(&self) -> usize {
        *self.dumps.lock().unwrap()
    }
}

fn rs_key(text: &str) -> RealServerKey {
    let addr: std::net::SocketAddr = text.parse().unwrap();
    RealServerKey {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// A NAT service with these `address:port` real servers.
fn virtual_service(key: ServiceKey, origin: Origin, real_servers: &[&str]) -> VirtualService {
    let nat = test_util::virtual_service(&key.vip.to_string(), key.port, ForwardMethod::Nat);
    let real_servers = real_servers
        .iter()
        .map(|rs| test_util::real_server(rs_key(rs)));
    VirtualService {
        origin,
        ..test_util::with_real_servers(nat, real_servers)
    }
}

const WEB: &str = "203.0.113.10";
const STATIC: &str = "203.0.113.11";

/// A Kubernetes-backed service (web/frontend port "http") and a static entry.
fn desired() -> DesiredState {
    let web = virtual_service(
        service_key(WEB, 80),
        Origin {
            config_key: "203.0.113.10".to_owned(),
            service: Some(ServiceOrigin {
                namespace: "web".to_owned(),
                name: "frontend".to_owned(),
                port: "http".to_owned(),
            }),
        },
        &["10.1.0.1:8080", "10.1.0.2:8080"],
    );
    let fixed = virtual_service(
        service_key(STATIC, 443),
        Origin {
            config_key: "203.0.113.11-443".to_owned(),
            service: None,
        },
        &["198.51.100.5:443"],
    );
    let mut state = DesiredState::default();
    state.services.insert(web.key, std::sync::Arc::new(web));
    state.services.insert(fixed.key, std::sync::Arc::new(fixed));
    state
}

fn stats(conns: u64) -> Stats {
    Stats {
        conns,
        inpkts: conns * 10,
        outpkts: conns * 9,
        inbytes: conns * 1000,
        outbytes: conns * 900,
        cps: 7,
        inpps: 70,
        outpps: 63,
        inbps: 7000,
        outbps: 6300,
    }
}

type Samples = HashMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// Reads the text format back, checking its rules: `# HELP` then `# TYPE` once per family,
/// before its first series; the series of a family contiguous; label values unescaped.
fn samples(text: &str) -> Samples {
    let mut out = Samples::new();
    let mut helped = HashSet::new();
    let mut typed = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(helped.insert(name.clone()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_owned();
            assert!(helped.contains(&name), "TYPE before HELP for {name}");
            assert!(typed.insert(name), "TYPE twice: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "series before its TYPE: {line}");
        if current.as_deref() != Some(family) {
            if let Some(previous) = current.take() {
                finished.insert(previous);
            }
            assert!(!finished.contains(family), "{family} is not contiguous");
            current = Some(family.to_owned());
        }
        out.entry(name.to_owned())
            .or_default()
            .push((labels, value.parse().unwrap()));
    }
    out
}

/// `a="x",b="y\"z"` to its pairs, unescaped.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().unwrap() {
                (i, '"') => break i,
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    labels
}

/// The value of `name` for the series whose labels include every pair of `want`.
fn value(samples: &Samples, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples.get(name)?.iter().find_map(|(labels, value)| {
        want.iter()
            .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            .then_some(*value)
    })
}

struct Fixture {
    fake: SharedFake,
    desired_tx: watch::Sender<Arc<DesiredState>>,
    options_tx: watch::Sender<IpvsCollectorOptions>,
    collector: IpvsCollector<SharedFake>,
    /// The collector's own `lbctl_ipvs_*` metrics.
    registry: Registry,
}

impl Fixture {
    /// One scrape now: the `lvs_*` text and the collector's own metrics, read back.
    fn collect(&self) -> Samples {
        samples(&self.scrape_text())
    }

    fn scrape_text(&self) -> String {
        let mut out = Vec::new();
        self.collector
            .write_families(&mut out, Instant::now())
            .unwrap();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }
}

fn fixture(options: IpvsCollectorOptions) -> Fixture {
    let state = desired();
    let fake = SharedFake::default();
    fake.program(&state);
    let (desired_tx, desired_rx) = watch::channel(Arc::new(state));
    let (options_tx, options_rx) = watch::channel(options);
    let collector = IpvsCollector::new(fake.clone(), desired_rx, options_rx).unwrap();
    let registry = Registry::new();
    collector.register(&registry).unwrap();
    Fixture {
        fake,
        desired_tx,
        options_tx,
        collector,
        registry,
    }
}

fn no_cache() -> IpvsCollectorOptions {
    IpvsCollectorOptions {
        max_snapshot_age: Duration::ZERO,
        ..IpvsCollectorOptions::default()
    }
}

#[test]
fn services_and_endpoints_carry_business_labels_and_kernel_values() {
    let f = fixture(no_cache());
    f.fake.set_service_stats(service_key(WEB, 80), stats(30));
    f.fake
        .set_dest_stats(service_key(WEB, 80), "10.1.0.1:8080", stats(20));
    f.fake.kernel.lock().unwrap().set_connections(
        &ServiceId::Inet(service_key(WEB, 80)),
        &rs_key("10.1.0.1:8080"),
        4,
        2,
    );
    let s = f.collect();

    let web = [
        ("namespace", "web"),
        ("service", "frontend"),
        ("port", "http"),
        ("vport", "80"),
        ("vip", WEB),
        ("protocol", "tcp"),
    ];
    assert_eq!(value(&s, "lvs_service_stat_conns_total", &web), Some(30.0));
    assert_eq!(
        value(&s, "lvs_service_stat_inbytes_total", &web),
        Some(30_000.0)
    );
    assert_eq!(
        value(&s, "lvs_service_rate_in_bytes_per_second", &web),
        Some(7000.0)
    );
    let rs1 = [("service", "frontend"), ("endpoint", "10.1.0.1:8080")];
    assert_eq!(value(&s, "lvs_endpoint_stat_conns_total", &rs1), Some(20.0));
    assert_eq!(
        value(&s, "lvs_endpoint_stat_outpkts_total", &rs1),
        Some(180.0)
    );
    assert_eq!(
        value(&s, "lvs_endpoint_active_connections", &rs1),
        Some(4.0)
    );
    assert_eq!(
        value(&s, "lvs_endpoint_inactive_connections", &rs1),
        Some(2.0)
    );
    assert_eq!(value(&s, "lvs_endpoint_weight", &rs1), Some(1.0));
    let rs2 = [("endpoint", "10.1.0.2:8080")];
    assert_eq!(value(&s, "lvs_endpoint_stat_conns_total", &rs2), Some(0.0));

    // A static entry: no namespace, the ConfigMap key as the service, the port number.
    let fixed = [
        ("namespace", ""),
        ("service", "203.0.113.11-443"),
        ("port", "443"),
        ("vport", "443"),
        ("vip", STATIC),
        ("endpoint", "198.51.100.5:443"),
    ];
    assert_eq!(value(&s, "lvs_endpoint_weight", &fixed), Some(1.0));
    assert_eq!(s["lvs_service_stat_conns_total"].len(), 2);
    assert_eq!(s["lvs_endpoint_stat_conns_total"].len(), 3);
    assert_eq!(value(&s, "lbctl_ipvs_up", &[]), Some(1.0));
}

#[test]
fn foreign_services_are_not_exported() {
    let f = fixture(no_cache());
    let foreign = foreign_service();
    f.fake.program(&foreign);
    let s = f.collect();
    assert!(value(&s, "lvs_service_stat_conns_total", &[("vip", "192.0.2.1")]).is_none());
    assert_eq!(s["lvs_service_stat_conns_total"].len(), 2);
}

#[test]
fn the_endpoint_level_can_be_dropped() {
    let f = fixture(IpvsCollectorOptions {
        endpoint_level: false,
        ..no_cache()
    });
    let s = f.collect();
    assert_eq!(s["lvs_service_stat_conns_total"].len(), 2);
    assert!(
        s.keys().all(|name| !name.starts_with("lvs_endpoint_")),
        "{:?}",
        s.keys()
    );

    // A reload (SIGHUP) that turns it back on applies to the next scrape.
    f.options_tx.send_modify(|o| o.endpoint_level = true);
    let s = f.collect();
    assert!(
        s.contains_key("lvs_endpoint_stat_conns_total"),
        "{:?}",
        s.keys()
    );
}

#[test]
fn a_reloaded_snapshot_age_applies_to_the_next_scrape() {
    let f = fixture(IpvsCollectorOptions {
        max_snapshot_age: Duration::from_secs(60),
        ..IpvsCollectorOptions::default()
    });
    let t0 = Instant::now();
    f.collector.snapshot(t0);
    f.collector.snapshot(t0 + Duration::from_secs(1));
    assert_eq!(f.fake.dumps(), 1);
    f.options_tx
        .send_modify(|o| o.max_snapshot_age = Duration::ZERO);
    f.collector.snapshot(t0 + Duration::from_secs(2));
    assert_eq!(f.fake.dumps(), 2);
}

#[test]
fn a_destination_deleted_and_re_added_keeps_its_counter_monotonic() {
    let f = fixture(no_cache());
    let web = service_key(WEB, 80);
    let rs1 = [("endpoint", "10.1.0.1:8080")];
    f.fake.set_dest_stats(web, "10.1.0.1:8080", stats(100));
    let before = value(&f.collect(), "lvs_endpoint_stat_conns_total", &rs1);
    assert_eq!(before, Some(100.0));

    // Delete and re-add: the kernel counter restarts at 0, then 5 new connections arrive.
    {
        let mut kernel = f.fake.kernel.lock().unwrap();
        let delete = Operation::DeleteDestination {
            service: ServiceId::Inet(web),
            destination: rs_key("10.1.0.1:8080"),
        };
        kernel.apply(&delete).unwrap();
    }
    let gone = f.collect();
    assert!(value(&gone, "lvs_endpoint_stat_conns_total", &rs1).is_none());
    f.fake.program(&desired());
    f.fake.set_dest_stats(web, "10.1.0.1:8080", stats(5));
    let after = value(&f.collect(), "lvs_endpoint_stat_conns_total", &rs1);
    assert_eq!(
        after,
        Some(105.0),
        "continues from 100 instead of dropping to 5"
    );
}

#[test]
fn a_service_that_left_the_config_keeps_its_labels_while_it_drains() {
    let f = fixture(no_cache());
    let mut without_web = desired();
    without_web.services.remove(&service_key(WEB, 80));
    f.collect(); // labels learned from the full desired state
    f.desired_tx.send(Arc::new(without_web)).unwrap();
    let s = f.collect();
    let web = [("service", "frontend"), ("namespace", "web")];
    assert!(
        value(&s, "lvs_service_stat_conns_total", &web).is_some(),
        "still draining"
    );

    // Gone from the kernel: the labels are forgotten, and a later foreign service on the same
    // address is not exported under them.
    f.fake.kernel.lock().unwrap().table_mut().services.clear();
    f.collect();
    f.fake.program(&desired());
    let s = f.collect();
    assert!(value(&s, "lvs_service_stat_conns_total", &web).is_none());
}

#[test]
fn scrapes_within_the_max_age_share_one_dump() {
    let f = fixture(IpvsCollectorOptions {
        max_snapshot_age: Duration::from_secs(60),
        ..IpvsCollectorOptions::default()
    });
    let t0 = Instant::now();
    f.collector.snapshot(t0);
    f.collector.snapshot(t0 + Duration::from_secs(30));
    assert_eq!(f.fake.dumps(), 1);
    f.collector.snapshot(t0 + Duration::from_secs(61));
    assert_eq!(f.fake.dumps(), 2);

    let g = fixture(no_cache());
    g.collect();
    g.collect();
    assert_eq!(g.fake.dumps(), 2, "max age 0 dumps on every scrape");
}

#[test]
fn a_failed_dump_exports_no_stale_numbers_and_says_so() {
    let f = fixture(no_cache());
    f.fake.kernel.lock().unwrap().fail_dumps(Some(1));
    let s = f.collect();
    assert!(!s.contains_key("lvs_service_stat_conns_total"));
    assert_eq!(value(&s, "lbctl_ipvs_up", &[]), Some(0.0));
    assert_eq!(value(&s, "lbctl_ipvs_dump_errors_total", &[]), Some(1.0));

    f.fake.kernel.lock().unwrap().fail_dumps(None);
    let s = f.collect();
    assert_eq!(value(&s, "lbctl_ipvs_up", &[]), Some(1.0));
    assert_eq!(s["lvs_service_stat_conns_total"].len(), 2);
}

#[test]
fn registers_next_to_the_controller_metrics_and_encodes() {
    let f = fixture(no_cache());
    f.fake.set_service_stats(service_key(WEB, 80), stats(3));
    let metrics = crate::metrics::Metrics::new().unwrap();
    metrics.attach_ipvs(Box::new(f.collector)).unwrap();
    let text = metrics.encode();
    let line = "lvs_service_stat_conns_total{namespace=\"web\",service=\"frontend\",port=\"http\",\
                vport=\"80\",vip=\"203.0.113.10\",protocol=\"tcp\"} 3";
    assert!(text.contains(line), "{text}");
    assert!(text.contains("# TYPE lvs_endpoint_weight gauge"), "{text}");
    assert!(
        text.contains("lbctl_sync_duration_seconds_bucket"),
        "{text}"
    );
}

/// The per-endpoint rate estimates are off by default and come with `endpoint_rates`; the
/// per-service ones stay on either way. Fails if the default or the switch is lost.
#[test]
fn endpoint_rates_only_when_asked_for_and_service_rates_always() {
    let f = fixture(no_cache());
    let s = f.collect();
    assert!(s.contains_key("lvs_service_rate_connections_per_second"));
    assert!(s.contains_key("lvs_endpoint_stat_conns_total"));
    assert!(s.contains_key("lvs_endpoint_weight"));
    assert!(
        s.keys().all(|name| !name.starts_with("lvs_endpoint_rate_")),
        "{:?}",
        s.keys()
    );

    f.options_tx.send_modify(|o| o.endpoint_rates = true);
    let s = f.collect();
    let rs1 = [("endpoint", "10.1.0.1:8080")];
    assert_eq!(
        value(&s, "lvs_endpoint_rate_in_bytes_per_second", &rs1),
        Some(0.0)
    );
    assert_eq!(s["lvs_endpoint_rate_connections_per_second"].len(), 3);
}

/// Every series an endpoint has by default, and by service: the counts docs/metrics.md gives.
#[test]
fn series_per_endpoint_and_per_service_are_as_documented() {
    let f = fixture(no_cache());
    let s = f.collect();
    let endpoint_families = s.keys().filter(|n| n.starts_with("lvs_endpoint_")).count();
    let service_families = s.keys().filter(|n| n.starts_with("lvs_service_")).count();
    assert_eq!(
        endpoint_families, 9,
        "5 counters, 3 connection gauges, weight"
    );
    assert_eq!(service_families, 10, "5 counters, 5 rate estimates");
    f.options_tx.send_modify(|o| o.endpoint_rates = true);
    let s = f.collect();
    assert_eq!(
        s.keys().filter(|n| n.starts_with("lvs_endpoint_")).count(),
        14
    );
}

/// Label values with a quote, a backslash and a newline come back unchanged through the text.
/// Fails if the writer stops escaping any of them (the reader then misparses the line).
#[test]
fn label_values_are_escaped_in_the_exposition() {
    let mut state = desired();
    let web = state.services.get_mut(&service_key(WEB, 80)).unwrap();
    std::sync::Arc::make_mut(web).origin.service = Some(ServiceOrigin {
        namespace: "we\"b".to_owned(),
        name: "front\\end".to_owned(),
        port: "ht\ntp".to_owned(),
    });
    let f = fixture(no_cache());
    f.desired_tx.send(Arc::new(state)).unwrap();
    let text = f.scrape_text();
    assert!(
        text.contains(r#"namespace="we\"b",service="front\\end",port="ht\ntp""#),
        "{text}"
    );
    let s = samples(&text);
    let odd = [
        ("namespace", "we\"b"),
        ("service", "front\\end"),
        ("port", "ht\ntp"),
        ("endpoint", "10.1.0.2:8080"),
    ];
    assert_eq!(value(&s, "lvs_endpoint_weight", &odd), Some(1.0));
}

/// A source whose dumps wait until the test opens a gate, and that counts them.
#[derive(Clone)]
struct GatedSource {
    kernel: SharedFake,
    dumps: Arc<AtomicUsize>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl TableSource for GatedSource {
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError> {
        self.dumps.fetch_add(1, Ordering::SeqCst);
        let (open, changed) = &*self.gate;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
        self.kernel.visit_table(visitor)
    }
}

/// Waits (bounded) until `ready` holds; panics naming `what` otherwise.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting for {what}");
}

/// Single flight: a scrape that arrives while a dump is in progress waits for it and uses it,
/// even with a snapshot age of 0. Fails (2 dumps) if the waiting scrape started a dump of its
/// own.
#[test]
fn a_scrape_during_a_dump_waits_for_it_instead_of_dumping_again() {
    let kernel = SharedFake::default();
    kernel.program(&desired());
    let source = GatedSource {
        kernel,
        dumps: Arc::new(AtomicUsize::new(0)),
        gate: Arc::new((Mutex::new(false), Condvar::new())),
    };
    let (_desired_tx, desired_rx) = watch::channel(Arc::new(desired()));
    let (_options_tx, options_rx) = watch::channel(no_cache());
    let collector = Arc::new(IpvsCollector::new(source.clone(), desired_rx, options_rx).unwrap());
    let scrape = |collector: Arc<IpvsCollector<GatedSource>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            collector.write_families(&mut out, Instant::now()).unwrap();
            String::from_utf8(out).unwrap()
        })
    };
    let first = scrape(Arc::clone(&collector));
    wait_for("the first dump", || {
        source.dumps.load(Ordering::SeqCst) == 1
    });
    let second = scrape(Arc::clone(&collector));
    wait_for("the second scrape to wait", || collector.waiting() == 1);
    {
        let (open, changed) = &*source.gate;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    assert_eq!(source.dumps.load(Ordering::SeqCst), 1, "one dump for both");
    assert_eq!(first, second);
    assert_eq!(samples(&first)["lvs_endpoint_stat_conns_total"].len(), 3);

    // Once it is done, a scrape with age 0 dumps again.
    let third = scrape(Arc::clone(&collector));
    third.join().unwrap();
    assert_eq!(source.dumps.load(Ordering::SeqCst), 2);
}

/// The exact `lvs_*` text of a fixed table over three scrapes (rates on, IPv6, escapes, a
/// foreign service, a quiesced and a deleted-and-re-added destination, endpoints out of address
/// order). `testdata/lvs_golden.prom` was written by the writer that exported whole
/// `ObservedService`s (before the compact snapshot, issue 13), so this fails if the compact
/// snapshot or the streamed dump changes a single byte. `LB_UPDATE_GOLDEN=1` rewrites it.
#[test]
fn the_exposition_text_is_byte_identical_to_the_golden_file() {
    let mut state = desired();
    let v6 = virtual_service(
        service_key("2001:db8::10", 8443),
        Origin {
            config_key: "2001:db8::10-8443".to_owned(),
            service: Some(ServiceOrigin {
                namespace: "q\"uote".to_owned(),
                name: "back\\slash".to_owned(),
                port: "https".to_owned(),
            }),
        },
        &[
            "[2001:db8:1::2]:8443",
            "[2001:db8:1::1]:8443",
            "10.9.0.1:8443",
        ],
    );
    state.services.insert(v6.key, Arc::new(v6));
    let fake = SharedFake::default();
    fake.program(&state);
    let foreign = foreign_service();
    fake.program(&foreign);
    let (_desired_tx, desired_rx) = watch::channel(Arc::new(state.clone()));
    let (_options_tx, options_rx) = watch::channel(IpvsCollectorOptions {
        endpoint_rates: true,
        ..no_cache()
    });
    let collector = IpvsCollector::new(fake.clone(), desired_rx, options_rx).unwrap();

    let web = service_key(WEB, 80);
    let v6 = service_key("2001:db8::10", 8443);
    let mut n = 1;
    let mut vary = |fake: &SharedFake| {
        for (service, rss) in [
            (web, &["10.1.0.1:8080", "10.1.0.2:8080"][..]),
            (
                v6,
                &[
                    "[2001:db8:1::2]:8443",
                    "[2001:db8:1::1]:8443",
                    "10.9.0.1:8443",
                ][..],
            ),
        ] {
            fake.set_service_stats(service, stats(n * 1000));
            for rs in rss {
                n += 1;
                let mut s = stats(n * 37);
                s.cps = n;
                s.outbps = n * 1_000_000_007;
                fake.set_dest_stats(service, rs, s);
                fake.kernel.lock().unwrap().set_connections(
                    &ServiceId::Inet(service),
                    &rs_key(rs),
                    u32::try_from(n).unwrap(),
                    u32::try_from(n * 3).unwrap(),
                );
            }
        }
    };
    let mut text = String::new();
    let scrape = |text: &mut String| {
        let mut out = Vec::new();
        collector.write_families(&mut out, Instant::now()).unwrap();
        text.push_str(&String::from_utf8(out).unwrap());
        text.push_str("# ---\n");
    };
    vary(&fake);
    scrape(&mut text);
    // Quiesce one endpoint, delete another and re-add it with a lower counter.
    {
        let mut kernel = fake.kernel.lock().unwrap();
        let mut quiesced = kernel
            .table_mut()
            .service_mut(&ServiceId::Inet(web))
            .unwrap()
            .destinations[&rs_key("10.1.0.2:8080")]
            .spec
            .clone();
        quiesced.weight = 0;
        kernel
            .apply(&Operation::EditDestination {
                service: ServiceId::Inet(web),
                destination: quiesced,
            })
            .unwrap();
        kernel
            .apply(&Operation::DeleteDestination {
                service: ServiceId::Inet(v6),
                destination: rs_key("[2001:db8:1::1]:8443"),
            })
            .unwrap();
    }
    scrape(&mut text);
    fake.program(&state);
    fake.set_dest_stats(v6, "[2001:db8:1::1]:8443", stats(3));
    scrape(&mut text);

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/metrics/ipvs/testdata/lvs_golden.prom"
    );
    if std::env::var_os("LB_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(path).unwrap();
    assert!(text.len() > 5000, "{text}");
    assert!(text == golden, "differs from {path}:\n{text}");
}

/// A source that streams the fake's table as the netlink client does: destinations only for
/// the services the visitor wants (counted), in reverse key order (the kernel's is its hash
/// order), and none for the services in `vanished` (deleted between the services dump and
/// their destinations dump).
#[derive(Clone, Default)]
struct StreamingSource {
    kernel: SharedFake,
    destination_dumps: Arc<Mutex<Vec<ServiceId>>>,
    vanished: Arc<Mutex<HashSet<ServiceKey>>>,
}

impl TableSource for StreamingSource {
    fn visit_table(&mut self, visitor: &mut dyn TableVisitor) -> Result<(), IpvsError> {
        let table = self.kernel.kernel.lock().unwrap().dump()?;
        visitor.expect_services(table.services.len());
        for (id, service) in table.services.iter().rev() {
            if !visitor.service(id, &service.stats) {
                continue;
            }
            self.destination_dumps.lock().unwrap().push(*id);
            let gone = id
                .inet()
                .is_some_and(|key| self.vanished.lock().unwrap().contains(key));
            let mut reversed: Vec<_> = service.destinations.values().rev().collect();
            if gone {
                reversed.clear();
            }
            visitor.destinations(&mut reversed.into_iter());
        }
        Ok(())
    }
}

/// A collector over `source` with `desired()` and `options`.
fn collector_over<S: TableSource>(source: S, options: IpvsCollectorOptions) -> IpvsCollector<S> {
    let (desired_tx, desired_rx) = watch::channel(Arc::new(desired()));
    let (options_tx, options_rx) = watch::channel(options);
    // The collector reads the latest values; the senders may go.
    drop((desired_tx, options_tx));
    IpvsCollector::new(source, desired_rx, options_rx).unwrap()
}

fn lvs_text<S: TableSource>(collector: &IpvsCollector<S>) -> String {
    let mut out = Vec::new();
    collector.write_families(&mut out, Instant::now()).unwrap();
    String::from_utf8(out).unwrap()
}

/// Streamed in the kernel's order, the text is the same as from a whole table: services and
/// endpoints are written by key. Foreign services cost no destinations dump, and without the
/// endpoint level none is asked for at all. Fails if the snapshot stops sorting, or asks for
/// destinations it does not export.
#[test]
fn a_streamed_dump_in_kernel_order_writes_the_same_text_and_skips_foreign_destinations() {
    let source = StreamingSource::default();
    source.kernel.program(&desired());
    let foreign = foreign_service();
    source.kernel.program(&foreign);
    source
        .kernel
        .set_dest_stats(service_key(WEB, 80), "10.1.0.2:8080", stats(8));
    let options = IpvsCollectorOptions {
        endpoint_rates: true,
        ..no_cache()
    };

    let whole = lvs_text(&collector_over(source.kernel.clone(), options));
    let streamed = lvs_text(&collector_over(source.clone(), options));
    assert_eq!(streamed, whole);
    let mut dumped = source.destination_dumps.lock().unwrap().clone();
    dumped.sort();
    let ours = [
        ServiceId::Inet(service_key(WEB, 80)),
        ServiceId::Inet(service_key(STATIC, 443)),
    ];
    assert_eq!(dumped, ours, "no destinations dump for the foreign service");

    source.destination_dumps.lock().unwrap().clear();
    let services_only = IpvsCollectorOptions {
        endpoint_level: false,
        ..no_cache()
    };
    let text = lvs_text(&collector_over(source.clone(), services_only));
    assert!(text.contains("lvs_service_stat_conns_total{"), "{text}");
    assert!(source.destination_dumps.lock().unwrap().is_empty());
}

/// A service deleted between the services dump and its destinations dump is exported without
/// endpoints (as `IpvsKernel::dump` reports it); the scrape does not fail.
#[test]
fn a_service_that_vanishes_during_the_dump_is_exported_without_endpoints() {
    let source = StreamingSource::default();
    source.kernel.program(&desired());
    source.vanished.lock().unwrap().insert(service_key(WEB, 80));
    let collector = collector_over(source, no_cache());
    let s = samples(&lvs_text(&collector));
    assert_eq!(s["lvs_service_stat_conns_total"].len(), 2);
    let endpoints = &s["lvs_endpoint_stat_conns_total"];
    assert_eq!(endpoints.len(), 1, "only the static entry's: {endpoints:?}");
    assert_eq!(
        value(
            &s,
            "lvs_endpoint_weight",
            &[("endpoint", "198.51.100.5:443")]
        ),
        Some(1.0)
    );
}

/// The per-endpoint rate estimates are kept only when asked for at dump time: a reload that
/// turns them on while a snapshot is reused writes none (no empty families), the next dump
/// has them.
#[test]
fn endpoint_rates_turned_on_apply_from_the_next_dump() {
    let f = fixture(IpvsCollectorOptions {
        max_snapshot_age: Duration::from_secs(60),
        ..IpvsCollectorOptions::default()
    });
    let t0 = Instant::now();
    let text = |now: Instant| {
        let mut out = Vec::new();
        f.collector.write_families(&mut out, now).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(!text(t0).contains("lvs_endpoint_rate_"));
    f.options_tx.send_modify(|o| o.endpoint_rates = true);
    let reused = text(t0 + Duration::from_secs(1));
    assert_eq!(f.fake.dumps(), 1);
    assert!(!reused.contains("lvs_endpoint_rate_"), "{reused}");
    let fresh = text(t0 + Duration::from_secs(61));
    assert_eq!(f.fake.dumps(), 2);
    assert_eq!(
        samples(&fresh)["lvs_endpoint_rate_connections_per_second"].len(),
        3
    );
}

/// A service that no ConfigMap key of ours owns (`192.0.2.1:53`, one real server).
fn foreign_service() -> DesiredState {
    let mut foreign = DesiredState::default();
    let svc = virtual_service(
        service_key("192.0.2.1", 53),
        Origin {
            config_key: "not-ours".to_owned(),
            service: None,
        },
        &["192.0.2.9:53"],
    );
    foreign.services.insert(svc.key, Arc::new(svc));
    foreign
}
