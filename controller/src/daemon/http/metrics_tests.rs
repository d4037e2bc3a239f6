//! `/metrics` over a real socket: the plain text, gzip when asked for (decoded back to the
//! same text), chunked transfer over HTTP/1.1 for a body of many chunks, and HEAD.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use flate2::read::GzDecoder;
use lb_config::test_util::{real_server, real_server_key, virtual_service, with_real_servers};
use lb_config::{DesiredState, ForwardMethod};
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::test_util::observed;
use lb_ipvs_sync::wanted::wanted_table;
use tokio::sync::watch;

use super::{HttpState, ServeLimits, bind};
use crate::daemon::status::StatusSnapshot;
use crate::metrics::{IpvsCollector, IpvsCollectorOptions, Metrics};

/// `services` NAT services of 10 real servers each, programmed in a fake kernel.
fn table_of(services: u16) -> (DesiredState, FakeKernel) {
    let mut desired = DesiredState::default();
    for s in 0..services {
        let vip = format!("10.0.{}.{}", s / 250, s % 250 + 1);
        let rss =
            (1..=10).map(|r| real_server(real_server_key(&format!("10.9.{}.{r}", s % 250), 8080)));
        let service = with_real_servers(virtual_service(&vip, 80, ForwardMethod::Nat), rss);
        desired
            .services
            .insert(service.key, std::sync::Arc::new(service));
    }
    let wanted: BTreeMap<_, _> = wanted_table(&desired);
    let kernel = FakeKernel::new(observed(&wanted));
    (desired, kernel)
}

struct Served {
    address: SocketAddr,
    _shutdown: watch::Sender<bool>,
    _status: watch::Sender<Arc<StatusSnapshot>>,
    _desired: watch::Sender<Arc<DesiredState>>,
    _options: watch::Sender<IpvsCollectorOptions>,
}

async fn serve_metrics(services: u16) -> Served {
    let (desired, kernel) = table_of(services);
    let (desired_tx, desired_rx) = watch::channel(Arc::new(desired));
    let (options_tx, options_rx) = watch::channel(IpvsCollectorOptions::default());
    let metrics = Metrics::new().unwrap();
    metrics
        .attach_ipvs(Box::new(
            IpvsCollector::new(kernel, desired_rx, options_rx).unwrap(),
        ))
        .unwrap();
    let (status_tx, status) = watch::channel(Arc::new(StatusSnapshot::default()));
    let state = HttpState {
        metrics: Arc::new(metrics),
        status,
        bgp: None,
        control_socket: PathBuf::from("/nonexistent/control.sock"),
    };
    let (shutdown_tx, shutdown) = watch::channel(false);
    let limits = ServeLimits {
        max_connections: 8,
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
    };
    let (address, serving) = bind("127.0.0.1:0".parse().unwrap(), state, limits, shutdown)
        .await
        .unwrap();
    tokio::spawn(serving);
    Served {
        address,
        _shutdown: shutdown_tx,
        _status: status_tx,
        _desired: desired_tx,
        _options: options_tx,
    }
}

/// The response head (lower-cased header names) and raw body of one request that closes.
async fn get(address: SocketAddr, request: &'static str) -> (String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(answer[..split].to_vec())
            .unwrap()
            .to_ascii_lowercase();
        (head, answer[split + 4..].to_vec())
    })
    .await
    .unwrap()
}

/// Decodes a chunked transfer body; panics unless it ends with the last (empty) chunk.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut chunks = 0;
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return (out, chunks);
        }
        out.extend_from_slice(&body[..size]);
        chunks += 1;
        body = &body[size + 2..];
    }
}

const PLAIN: &str = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
const GZIP: &str = "GET /metrics HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";

#[tokio::test]
async fn metrics_are_plain_text_unless_gzip_is_accepted_and_gzip_decodes_to_the_same_text() {
    let served = serve_metrics(3).await;
    let (head, plain) = get(served.address, PLAIN).await;
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        plain.contains("lvs_endpoint_stat_conns_total{namespace=\"\",service=\"10.0.0.1-80\""),
        "{plain}"
    );
    assert!(plain.contains("lbctl_ipvs_up 1"), "{plain}");

    let (head, gzipped) = get(served.address, GZIP).await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert_eq!(&gzipped[..2], &[0x1f, 0x8b], "gzip magic");
    let mut text = String::new();
    GzDecoder::new(&gzipped[..])
        .read_to_string(&mut text)
        .unwrap();
    let lvs = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("lvs_"))
            .map(str::to_owned)
            .collect()
    };
    assert!(!lvs(&text).is_empty());
    assert_eq!(lvs(&text), lvs(&plain));
    assert!(text.contains("lbctl_ipvs_up 1"), "{text}");
}

/// 300 services x 10 real servers make about 0.5 MB of text: many 64 KiB chunks, sent with
/// chunked transfer over HTTP/1.1 and complete (the registry's part comes last).
#[tokio::test]
async fn a_large_scrape_streams_in_many_chunks_over_http_1_1() {
    let served = serve_metrics(300).await;
    let (head, body) = get(
        served.address,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let (text, chunks) = dechunk(&body);
    assert!(chunks >= 5, "{chunks} chunks");
    let text = String::from_utf8(text).unwrap();
    let endpoint_lines = text
        .lines()
        .filter(|l| l.starts_with("lvs_endpoint_weight{"))
        .count();
    assert_eq!(endpoint_lines, 3000);
    assert!(text.contains("# TYPE lbctl_ipvs_up gauge"));
}

#[tokio::test]
async fn head_answers_the_headers_without_a_body() {
    let served = serve_metrics(1).await;
    let (head, body) = get(served.address, "HEAD /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(body.is_empty());
}
