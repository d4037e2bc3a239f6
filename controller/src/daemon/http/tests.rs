//! The HTTP API over real sockets: BGP withdrawals over the control socket (mode 0600) and
//! their file, `/drain` still served as the former name of `/withdraw`, reads on TCP with
//! `POST /withdraw` (and `/drain`) refused there, cross-site requests refused, a slowloris
//! client cut off by the header-read timeout, the connection cap under a flood of idle
//! connections, stale and live control-socket files, and the accept backoff.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lb_ipvs_sync::IpvsTable;
use tokio::sync::watch;

use super::routes::Api;
use super::serve::{Listener, Peer, serve};
use super::{ControlSocket, HttpState, ServeLimits, bind, serve_control};
use crate::bgp::BgpControl;
use crate::client::{DaemonEndpoint, request};
use crate::daemon::status::StatusSnapshot;
use crate::metrics::Metrics;

const LIMITS: ServeLimits = ServeLimits {
    max_connections: 64,
    header_read_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(60),
};

struct Daemon {
    tcp: SocketAddr,
    socket: PathBuf,
    control: Arc<BgpControl>,
    metrics: Arc<Metrics>,
    withdraw_file: PathBuf,
    _status: watch::Sender<Arc<StatusSnapshot>>,
    _shutdown: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// Both listeners with BGP enabled; the last pass recorded a table `table_age` ago.
async fn daemon(limits: ServeLimits) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let withdraw_file = dir.path().join("bgp-drained");
    let socket = dir.path().join("run").join("control.sock");
    let control = Arc::new(BgpControl::new("speaker", withdraw_file.clone()));
    let snapshot = StatusSnapshot {
        last_table: Some(Arc::new(IpvsTable::default())),
        table_at: Some(SystemTime::now() - Duration::from_secs(7)),
        ..StatusSnapshot::default()
    };
    let (status_tx, status) = watch::channel(Arc::new(snapshot));
    let metrics = Arc::new(Metrics::new().unwrap());
    let state = HttpState {
        metrics: Arc::clone(&metrics),
        status,
        bgp: Some(Arc::clone(&control)),
        control_socket: socket.clone(),
    };
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (tcp, serve_tcp) = bind(
        "127.0.0.1:0".parse().unwrap(),
        state.clone(),
        limits,
        shutdown.clone(),
    )
    .await
    .unwrap();
    tokio::spawn(serve_tcp);
    let bound = ControlSocket::bind(&socket).unwrap();
    assert_eq!(bound.path(), socket);
    tokio::spawn(serve_control(bound, state, limits, shutdown));
    Daemon {
        tcp,
        socket,
        control,
        metrics,
        withdraw_file,
        _status: status_tx,
        _shutdown: shutdown_tx,
        _dir: dir,
    }
}

async fn call(
    endpoint: DaemonEndpoint,
    method: &'static str,
    path: &str,
) -> Result<String, crate::client::ClientError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || request(&endpoint, method, &path, Duration::from_secs(5)))
        .await
        .unwrap()
}

/// A raw request on the control socket with extra header lines; the status line.
async fn raw_control(socket: &Path, head: &'static str) -> String {
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.lines().next().unwrap_or_default().to_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn withdraw_over_the_control_socket_switches_all_or_one_vip_and_keeps_the_file_in_step() {
    let d = daemon(LIMITS).await;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the control socket is owner-only");
    let control = || DaemonEndpoint::Control(d.socket.clone());

    let answer = call(control(), "POST", "/withdraw?vip=10.0.0.1")
        .await
        .unwrap();
    assert!(answer.contains("withdrawing 10.0.0.1"), "{answer}");
    assert!(!d.control.is_withdrawn_all());
    assert_eq!(d.control.withdrawals().vips.len(), 1);
    assert!(
        std::fs::read_to_string(&d.withdraw_file)
            .unwrap()
            .contains("10.0.0.1")
    );

    let err = call(control(), "POST", "/withdraw?vip=10.0.0.300")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("400") && err.contains("vip=10.0.0.300: not an IP address"),
        "{err}"
    );
    assert_eq!(
        d.control.withdrawals().vips.len(),
        1,
        "a bad request changes nothing"
    );

    call(control(), "POST", "/withdraw").await.unwrap();
    assert!(d.control.is_withdrawn_all());
    let err = call(control(), "GET", "/withdraw")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("405"), "{err}");
    // The control socket serves the reads `lbctl withdraw` polls (the summary).
    // (The JSON keeps the field names from before the rename, for scripts.)
    let status = call(control(), "GET", "/status?summary&pretty")
        .await
        .unwrap();
    assert!(status.contains("\"mode\": \"speaker\""), "{status}");
    assert!(status.contains("\"draining\": "), "{status}");
    assert!(status.contains("\"drained_vips\""), "{status}");

    let answer = call(control(), "POST", "/withdraw?undo").await.unwrap();
    assert!(answer.contains("withdrawal ended"), "{answer}");
    assert!(
        d.control.withdrawals().is_empty(),
        "undo without a VIP ends every withdrawal"
    );
    assert!(!d.withdraw_file.exists());
}

/// `/drain`, the former name of `/withdraw`, still switches (an older `lbctl drain` or a
/// script). Mutation: serve only `/withdraw` and this gets 404.
#[tokio::test]
async fn the_former_path_drain_still_withdraws() {
    let d = daemon(LIMITS).await;
    let control = || DaemonEndpoint::Control(d.socket.clone());
    let answer = call(control(), "POST", "/drain?vip=10.0.0.1")
        .await
        .unwrap();
    assert!(answer.contains("withdrawing 10.0.0.1"), "{answer}");
    assert_eq!(d.control.withdrawals().vips.len(), 1);
    call(control(), "POST", "/drain?undo").await.unwrap();
    assert!(d.control.withdrawals().is_empty());
}

#[tokio::test]
async fn tcp_serves_reads_from_the_snapshot_and_refuses_withdraw_naming_the_socket() {
    let d = daemon(LIMITS).await;
    let tcp = || DaemonEndpoint::Tcp(d.tcp);
    assert_eq!(call(tcp(), "GET", "/healthz").await.unwrap(), "ok\n");
    for (method, path) in [
        ("POST", "/withdraw?undo"),
        ("GET", "/withdraw"),
        ("POST", "/drain"),
    ] {
        let err = call(tcp(), method, path).await.unwrap_err().to_string();
        assert!(err.contains("403"), "{err}");
        assert!(
            err.contains(&d.socket.display().to_string()),
            "names the socket: {err}"
        );
    }
    assert!(!d.control.is_withdrawn_all());
    assert!(!d.withdraw_file.exists(), "nothing switched over TCP");
    let err = call(tcp(), "PUT", "/status").await.unwrap_err().to_string();
    assert!(err.contains("405"), "{err}");

    let body = call(tcp(), "GET", "/status").await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["kernel_dump"], true, "{body}");
    let age = doc["table_age_secs"].as_f64().unwrap();
    assert!(
        (7.0..60.0).contains(&age),
        "the table's age is reported: {age}"
    );
    assert!(doc["table_at"].as_u64().is_some(), "{body}");
    assert!(!body.contains('\n'), "compact for programs: {body}");
}

/// `/status` takes filters and `summary`/`pretty`; a bad value or an unknown parameter is a
/// 400 that names it, on both listeners. Mutation: ignore unknown parameters and the typo
/// `vips=` answers 200 with the whole table.
#[tokio::test]
async fn status_queries_are_parsed_and_bad_ones_refused_naming_the_parameter() {
    let d = daemon(LIMITS).await;
    for endpoint in [
        DaemonEndpoint::Tcp(d.tcp),
        DaemonEndpoint::Control(d.socket.clone()),
    ] {
        for (path, names) in [
            ("/status?vips=10.0.0.1", "unknown query parameter `vips`"),
            (
                "/status?vip=10.0.0.300",
                "vip=10.0.0.300: not an IP address",
            ),
            (
                "/status?service=web",
                "service=web: expected NAMESPACE/NAME",
            ),
            ("/status?key=", "key=: expected a ConfigMap key"),
            ("/status?summary=maybe", "summary=maybe: expected nothing"),
            ("/status?vip=10.0.0.1&vip=10.0.0.2", "`vip` given twice"),
        ] {
            let err = call(endpoint.clone(), "GET", path)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("400") && err.contains(names), "{path}: {err}");
        }
        let body = call(
            endpoint.clone(),
            "GET",
            "/status?vip=10.0.0.1&service=shop/web",
        )
        .await
        .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["services"], serde_json::json!([]), "{body}");
        let body = call(endpoint.clone(), "GET", "/status?summary")
            .await
            .unwrap();
        let summary: crate::daemon::StatusSummary = serde_json::from_str(&body).unwrap();
        assert_eq!(summary.counts.services, 0);
        assert!(summary.bgp.is_some(), "the summary carries BGP: {body}");
        assert!(summary.table_age_secs.is_some(), "{body}");
        let pretty = call(endpoint, "GET", "/status?pretty").await.unwrap();
        assert!(pretty.starts_with("{\n  \"controller\""), "{pretty}");
    }
}

#[tokio::test]
async fn the_control_socket_refuses_browser_cross_site_requests() {
    let d = daemon(LIMITS).await;
    let origin = raw_control(
        &d.socket,
        "POST /withdraw HTTP/1.0\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(origin.contains("403"), "{origin}");
    let cross = raw_control(
        &d.socket,
        "POST /withdraw HTTP/1.0\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(cross.contains("403"), "{cross}");
    assert!(
        !d.control.is_withdrawn_all(),
        "no refused request switched anything"
    );
    let typed = raw_control(
        &d.socket,
        "POST /withdraw HTTP/1.0\r\nSec-Fetch-Site: none\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(typed.contains("200"), "{typed}");
    assert!(d.control.is_withdrawn_all());
}

/// Connects and sends `prefix`; returns how long after the send the server hung up (reading
/// until EOF or an error) and what it sent before.
fn hang_up_after(address: SocketAddr, prefix: &[u8], limit: Duration) -> (Duration, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(prefix).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {limit:?}: the server did not cut the client off")
            }
            Err(_) => break,
        }
    }
    (started.elapsed(), got)
}

/// Mutation: without `.timer(TokioTimer::new())` and the header-read timeout, the half
/// header is waited for forever and this fails with "still open".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_half_a_header_is_cut_off_after_the_timeout() {
    let d = daemon(ServeLimits {
        header_read_timeout: Duration::from_millis(600),
        ..LIMITS
    })
    .await;
    let address = d.tcp;
    let (after, got) = tokio::task::spawn_blocking(move || {
        hang_up_after(
            address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow:",
            Duration::from_secs(5),
        )
    })
    .await
    .unwrap();
    assert!(
        after >= Duration::from_millis(400),
        "cut off by the timeout, not at once: {after:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200"),
        "no answer to half a request"
    );
    // An idle connection that sends nothing is cut off the same way.
    let (after, _) =
        tokio::task::spawn_blocking(move || hang_up_after(address, b"", Duration::from_secs(5)))
            .await
            .unwrap();
    assert!(after < Duration::from_secs(3), "{after:?}");
    assert_eq!(
        call(DaemonEndpoint::Tcp(d.tcp), "GET", "/healthz")
            .await
            .unwrap(),
        "ok\n"
    );
}

/// Mutation: without the semaphore, the extra connections are served (kept open) and the
/// "closed at once" check fails; the refused counter stays 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_hits_the_cap_and_a_fresh_client_is_served_later() {
    let d = daemon(ServeLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(2),
        ..LIMITS
    })
    .await;
    let address = d.tcp;
    let flood: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    // Let the server accept them all.
    let open = || {
        d.metrics
            .http
            .connections_open
            .with_label_values(&["tcp"])
            .get()
    };
    let waited = Instant::now();
    while open() < 8 && waited.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open(), 8);
    // Over the cap: closed at once, well before the header timeout.
    let (after, got) =
        tokio::task::spawn_blocking(move || hang_up_after(address, b"", Duration::from_secs(5)))
            .await
            .unwrap();
    assert!(after < Duration::from_millis(1000), "{after:?}");
    assert!(got.is_empty());
    let refused = d
        .metrics
        .http
        .connections_refused_total
        .with_label_values(&["tcp"])
        .get();
    assert!(refused >= 1, "refusals are counted");
    // The control socket has its own cap: operators are not locked out by the flood.
    assert!(
        call(DaemonEndpoint::Control(d.socket.clone()), "GET", "/status")
            .await
            .is_ok()
    );
    // The idle flood is cut off by the header timeout; a fresh client is then served.
    let healthz = async {
        loop {
            if let Ok(body) = call(DaemonEndpoint::Tcp(address), "GET", "/healthz").await {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(10), healthz)
        .await
        .unwrap();
    assert_eq!(body, "ok\n");
    drop(flood);
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_a_live_one_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A crashed daemon leaves its file: nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let bound = ControlSocket::bind(&path).unwrap();
    // A second daemon must not steal the socket of a running one.
    let err = ControlSocket::bind(&path).err().unwrap().to_string();
    assert!(err.contains("another process is listening"), "{err}");
    assert!(
        UnixStream::connect(&path).is_ok(),
        "the first socket still works"
    );
    drop(bound);
    assert!(
        !path.exists(),
        "the daemon removes its socket when it stops"
    );

    let file = dir.path().join("plain");
    std::fs::write(&file, "keep me").unwrap();
    let err = ControlSocket::bind(&file).err().unwrap().to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

/// A listener whose accept always fails with EMFILE, recording when it was called.
struct Exhausted {
    calls: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

impl Listener for Exhausted {
    type Stream = tokio::io::DuplexStream;

    async fn accept(&self) -> std::io::Result<(Self::Stream, Peer)> {
        let count = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(tokio::time::Instant::now());
            calls.len()
        };
        if count > 12 {
            std::future::pending::<()>().await;
        }
        Err(std::io::Error::from_raw_os_error(24)) // EMFILE
    }
}

/// Mutation: without the backoff the failed accepts follow each other at once (gaps of 0).
#[tokio::test(start_paused = true)]
async fn accept_errors_back_off_exponentially_up_to_a_second() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (_status_tx, status) = watch::channel(Arc::new(StatusSnapshot::default()));
    let metrics = Arc::new(Metrics::new().unwrap());
    let state = HttpState {
        metrics: Arc::clone(&metrics),
        status,
        bgp: None,
        control_socket: PathBuf::from("/run/lbctl/control.sock"),
    };
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let listener = Exhausted {
        calls: Arc::clone(&calls),
    };
    tokio::spawn(serve(listener, Api::Read, state, LIMITS, shutdown));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 13);
    let gaps: Vec<u128> = calls
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(
        gaps,
        [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000]
    );
    assert_eq!(
        metrics
            .http
            .accept_errors_total
            .with_label_values(&["tcp"])
            .get(),
        12
    );
}
