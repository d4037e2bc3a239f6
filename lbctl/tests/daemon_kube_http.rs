//! `lbctl run --kubeconfig` against a plain-HTTP API server on a host without a CA bundle.
//!
//! Black box: the real binary, the fake API server of `lb-tests` in this process, and a trust
//! store that points nowhere (`SSL_CERT_FILE`/`SSL_CERT_DIR`). The lab VM has no CA bundle,
//! and the daemon used to exit at start ("No CA certificates were loaded from the system")
//! although an `http://` server needs none. The host has no IPVS, so the daemon's syncs fail;
//! what this test checks is that it builds its client, completes the initial lists and
//! serves `/readyz` with the reason that comes after the lists. The kernel side is scenario
//! 20-run-kubernetes in the lab VM.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lb_tests::fake_apiserver::FakeApiServer;
use serde_json::json;

/// Kills the daemon when the test ends, whatever the outcome.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lbctl-kube-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One HTTP/1.0 GET; the whole response, or `None` when nothing listens yet.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: lbctl\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_api_server_works_without_a_system_trust_store() {
    let server = FakeApiServer::start(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    server.apply(json!({
        "kind": "ConfigMap",
        "metadata": {"name": "lab-vips", "namespace": "lb-system"},
        "data": {"10.0.0.100-80": "10.0.1.11:80"}
    }));
    let dir = scratch_dir();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let listen = free_port();
    let settings = dir.join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "managed_vip_ranges = [\"10.0.0.96/28\"]\nstate_file = \"{}\"\n\
             [kubernetes]\nnamespace = \"lb-system\"\nconfigmap = \"lab-vips\"\n\
             allow_insecure_http = true\n",
            dir.join("state.json").display()
        ),
    )
    .unwrap();
    let nowhere = dir.join("no-such-ca");
    let control_socket = dir.join("control.sock");
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .args(["run", "--no-vips", "--settings"])
            .arg(&settings)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--listen", &listen.to_string()])
            .arg("--control-socket")
            .arg(&control_socket)
            .env("SSL_CERT_FILE", &nowhere)
            .env("SSL_CERT_DIR", &nowhere)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lbctl run"),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = daemon.0.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("lbctl run exited ({status}) instead of serving: {stderr}");
        }
        let readyz = tokio::task::spawn_blocking(move || get(listen, "/readyz"))
            .await
            .unwrap();
        // Past the lists: ready (a host with IPVS) or the sync failed (a host without).
        if readyz
            .as_deref()
            .is_some_and(|r| r.ends_with("\r\n\r\nready\n") || r.contains("the last sync failed"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not complete its lists within 30 s; last /readyz: {readyz:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Operator actions are on the owner-only control socket, never on the TCP listener.
    let mode = std::fs::metadata(&control_socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without `allow_insecure_http`, an `http://` API server is refused at start with a usage
/// error (exit 64) that names the setting; nothing is contacted. Mutation: dropping the check
/// makes the daemon start (the test then fails on the timeout below).
#[test]
fn plain_http_api_server_is_refused_without_the_setting() {
    let dir = scratch_dir().join("refused");
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:9\"}\n\
         contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let settings = dir.join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "managed_vip_ranges = [\"10.0.0.96/28\"]\nstate_file = \"{}\"\n",
            dir.join("state.json").display()
        ),
    )
    .unwrap();
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .args(["run", "--no-vips", "--settings"])
            .arg(&settings)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--listen", &free_port().to_string()])
            .arg("--control-socket")
            .arg(dir.join("control.sock"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lbctl run"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "lbctl run did not refuse the http:// server"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    daemon
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("http://127.0.0.1:9/ is not https")
            && stderr.contains("allow_insecure_http = true"),
        "{stderr}"
    );
}
