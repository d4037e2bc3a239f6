//! Probes against real local servers on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lb_config::{Protocol, RealServerKey, ServiceKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::ProbeFailure;
use crate::health::check::{Check, CheckKey, ProbeSpec, Timing};
use crate::health::probe::ExecPolicy;
use crate::health::runner::{probe_once, test_limits, test_limits_with};

/// An HTTP server answering every request with `answer`, after `delay`.
async fn http_server(answer: &'static str, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(seen.starts_with(b"GET /healthz HTTP/1.0\r\n"), "{seen:?}");
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn check(probe: ProbeSpec, timeout: Duration) -> Check {
    Check {
        key: CheckKey {
            service: ServiceKey {
                vip: "203.0.113.9".parse().unwrap(),
                protocol: Protocol::Tcp,
                port: 80,
            },
            real_server: RealServerKey {
                addr: "10.1.2.3".parse().unwrap(),
                port: 8080,
            },
        },
        probe,
        timing: Timing {
            interval: Duration::from_secs(1),
            timeout,
            rise: 1,
            fall: 1,
        },
    }
}

fn http(addr: SocketAddr, status: u16, body: Option<&str>) -> ProbeSpec {
    ProbeSpec::Http {
        addr,
        tls: false,
        path: "/healthz".to_owned(),
        expect_status: status,
        expect_body: body.map(str::to_owned),
    }
}

async fn run(probe: ProbeSpec) -> Result<(), ProbeFailure> {
    probe_once(&check(probe, Duration::from_secs(2)), &test_limits(4, 4)).await
}

const OK: &str = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: ready\n";

#[tokio::test]
async fn tcp_up_and_down() {
    let up = http_server(OK, Duration::ZERO).await;
    run(ProbeSpec::Tcp { addr: up }).await.unwrap();
    let down = closed_port().await;
    let err = run(ProbeSpec::Tcp { addr: down }).await.unwrap_err();
    assert!(matches!(err, ProbeFailure::Connect { .. }), "{err}");
}

#[tokio::test]
async fn http_status_and_body() {
    let addr = http_server(OK, Duration::ZERO).await;
    run(http(addr, 200, None)).await.unwrap();
    run(http(addr, 200, Some("ready"))).await.unwrap();
    let err = run(http(addr, 204, None)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProbeFailure::Status {
                got: 200,
                want: 204,
                ..
            }
        ),
        "{err}"
    );
    let err = run(http(addr, 200, Some("draining"))).await.unwrap_err();
    assert!(matches!(err, ProbeFailure::Body { .. }), "{err}");

    let broken = http_server("SSH-2.0-OpenSSH\r\n", Duration::ZERO).await;
    let err = run(http(broken, 200, None)).await.unwrap_err();
    assert!(matches!(err, ProbeFailure::Malformed { .. }), "{err}");
    let unavailable = http_server("HTTP/1.1 503 Service Unavailable\r\n\r\n", Duration::ZERO).await;
    let err = run(http(unavailable, 200, None)).await.unwrap_err();
    assert!(
        matches!(err, ProbeFailure::Status { got: 503, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let slow = http_server(OK, Duration::from_secs(10)).await;
    let started = Instant::now();
    let err = probe_once(
        &check(http(slow, 200, None), Duration::from_millis(200)),
        &test_limits(4, 4),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProbeFailure::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn https_to_a_plain_http_server_fails_the_handshake() {
    // A plain server that answers at once, whatever the client sends (a TLS ClientHello).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(OK.as_bytes()).await;
        }
    });
    let spec = ProbeSpec::Http {
        addr,
        tls: true,
        path: "/healthz".to_owned(),
        expect_status: 200,
        expect_body: None,
    };
    let err = run(spec).await.unwrap_err();
    assert!(matches!(err, ProbeFailure::Tls { .. }), "{err}");
}

/// A key pair and a self-signed certificate made by the openssl CLI in `dir`: X.509 v1 when
/// `v1` (no extensions: what `openssl req -x509` makes without a config), else v3.
fn self_signed(dir: &std::path::Path, name: &str, v1: bool) -> (Vec<u8>, Vec<u8>) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let mut command = std::process::Command::new("openssl");
    if v1 {
        command.env("OPENSSL_CONF", "/dev/null");
    }
    let out = command
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let version = if v1 {
        "Version: 1 (0x0)"
    } else {
        "Version: 3 (0x2)"
    };
    assert!(String::from_utf8_lossy(&text.stdout).contains(version));
    (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
}

/// A TLS server (TLS 1.2 only, or 1.3 only) that presents `cert_pem` and signs with `key_pem`
/// (not checked to match: a mismatch makes every handshake signature wrong) and answers OK.
async fn tls_server(cert_pem: &[u8], key_pem: &[u8], tls13: bool) -> SocketAddr {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{self, ServerConfig, sign};

    let chain = vec![CertificateDer::from_pem_slice(cert_pem).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let signer = provider.key_provider.load_private_key(key).unwrap();
    let certified = sign::CertifiedKey::new(chain, signer);
    let version = if tls13 {
        &rustls::version::TLS13
    } else {
        &rustls::version::TLS12
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(std::sync::Arc::new(sign::SingleCertAndKey::from(certified)));
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = [0u8; 2048];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(OK.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn https(addr: SocketAddr) -> ProbeSpec {
    ProbeSpec::Http {
        addr,
        tls: true,
        path: "/healthz".to_owned(),
        expect_status: 200,
        expect_body: Some("ready".to_owned()),
    }
}

#[tokio::test]
async fn https_accepts_v1_and_v3_certificates_over_tls12_and_tls13() {
    // webpki refuses X.509 v1 certificates outright; the check must not (it does not judge
    // certificates, like keepalived's SSL_GET), while it still checks the handshake signature.
    let dir = tempfile::tempdir().unwrap();
    for v1 in [true, false] {
        let (cert, key) = self_signed(dir.path(), if v1 { "v1" } else { "v3" }, v1);
        for tls13 in [true, false] {
            let addr = tls_server(&cert, &key, tls13).await;
            run(https(addr))
                .await
                .unwrap_or_else(|e| panic!("v1 {v1}, TLS 1.3 {tls13}: {e}"));
        }
    }
}

#[tokio::test]
async fn https_fails_when_the_handshake_is_signed_by_another_key() {
    // The control of the test above: the server presents one certificate and signs with
    // another key, so the signature cannot match the certificate's public key.
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(dir.path(), "shown", true);
    let (_, other_key) = self_signed(dir.path(), "other", true);
    for tls13 in [true, false] {
        let addr = tls_server(&cert, &other_key, tls13).await;
        let err = run(https(addr)).await.unwrap_err();
        assert!(
            matches!(err, ProbeFailure::Tls { .. }),
            "TLS 1.3 {tls13}: {err}"
        );
        assert!(
            err.to_string().contains("BadSignature"),
            "TLS 1.3 {tls13}: {err}"
        );
    }
}

fn exec(script: &str) -> ProbeSpec {
    ProbeSpec::Exec {
        command: vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()],
    }
}

#[tokio::test]
async fn exec_exit_codes_decide() {
    run(exec("exit 0")).await.unwrap();
    let err = run(exec("exit 3")).await.unwrap_err();
    match err {
        ProbeFailure::Exit { status, .. } => assert_eq!(status.code(), Some(3)),
        other => panic!("expected an exit failure, got {other}"),
    }
    // A missing program is the director's problem, not the real server's.
    let err = run(ProbeSpec::Exec {
        command: vec!["/nonexistent/check".to_owned()],
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ProbeFailure::ExecRefused { .. }), "{err}");
    let err = run(ProbeSpec::Exec { command: vec![] }).await.unwrap_err();
    assert!(matches!(err, ProbeFailure::EmptyCommand), "{err}");
}

#[tokio::test]
async fn exec_learns_the_real_server_from_its_environment() {
    let script = r#"test "$LB_REAL_SERVER_ADDR" = 10.1.2.3 && test "$LB_REAL_SERVER_PORT" = 8080 \
        && test "$LB_VIP" = 203.0.113.9 && test "$LB_VPORT" = 80 && test "$LB_PROTOCOL" = tcp"#;
    run(exec(script)).await.unwrap();
}

#[tokio::test]
async fn a_hanging_exec_check_is_killed_at_the_timeout() {
    let marker = std::env::temp_dir().join(format!("lbctl-exec-kill-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let script = format!("sleep 2; touch {}", marker.display());
    let err = probe_once(
        &check(exec(&script), Duration::from_millis(200)),
        &test_limits(4, 4),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ProbeFailure::Timeout(_)), "{err}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!marker.exists(), "the timed-out check kept running");
}

/// The child of an exec check: not root, no capability in any set, no supplementary group,
/// and an environment of the five `LB_*` variables only (`sh` adds `PWD`, which must be `/`).
/// Mutation: without `.uid()` in `exec::run` (tests as root, as in CI) `id -u` is 0; without
/// `.env_clear()` the test's own environment shows up.
#[tokio::test]
async fn exec_checks_run_unprivileged_with_only_their_variables() {
    let script = r#"test "$(id -u)" != 0 \
        && grep -Eq '^CapEff:[[:space:]]+0+$' /proc/self/status \
        && grep -Eq '^CapPrm:[[:space:]]+0+$' /proc/self/status \
        && grep -Eq '^CapAmb:[[:space:]]+0+$' /proc/self/status \
        && grep -Eq '^Groups:[[:space:]]*$' /proc/self/status \
        && test "$(env | grep -v '^LB_' | grep -v '^PWD=/$' | wc -l)" = 0 \
        && test "$(env | grep -c '^LB_')" = 5"#;
    run(exec(script)).await.unwrap();
}

/// With exec checks off (the default policy), nothing runs and the failure says it is the
/// director's own: it does not count against the real server.
#[tokio::test]
async fn a_disabled_policy_refuses_every_exec_check() {
    let marker = std::env::temp_dir().join(format!("lbctl-exec-off-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let spec = ProbeSpec::Exec {
        command: vec!["/usr/bin/touch".to_owned(), marker.display().to_string()],
    };
    let limits = test_limits_with(4, 4, ExecPolicy::Disabled);
    let err = probe_once(&check(spec.clone(), Duration::from_secs(2)), &limits)
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeFailure::ExecRefused { .. }), "{err}");
    assert_eq!(err.no_verdict_reason(), Some("exec_refused"));
    assert!(!marker.exists(), "a refused program ran");
    // Control: the same check under the tests' sandbox runs the program.
    run(spec).await.unwrap();
    assert!(marker.exists());
    let _ = std::fs::remove_file(&marker);
}

/// A program outside the allowed directories is refused before it starts, even when the
/// ConfigMap layer was bypassed.
#[tokio::test]
async fn a_program_outside_the_allowed_directories_is_refused() {
    let err = run(ProbeSpec::Exec {
        command: vec!["/proc/self/exe".to_owned()],
    })
    .await;
    match err {
        Err(ProbeFailure::ExecRefused { reason, .. }) => {
            assert!(reason.contains("outside the allowed"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A probe failure prints its I/O cause once under anyhow's `{:#}` and in plain Display (the
/// health log and `/status` use Display). Mutation: mark the cause `#[source]` again.
#[test]
fn a_probe_failure_prints_its_cause_once() {
    let failure = ProbeFailure::Connect {
        addr: "192.0.2.10:80".parse().unwrap(),
        cause: std::io::Error::other("no route today"),
    };
    assert!(failure.to_string().contains("no route today"));
    let text = format!("{:#}", anyhow::Error::new(failure));
    assert_eq!(text.matches("no route today").count(), 1, "{text}");
}
