//! The admission webhook over real HTTPS on loopback: a CA and server certificates made with
//! the openssl CLI, the server of `lbctl webhook`, and AdmissionReview requests shaped like the
//! API server's, sent by a hyper client over rustls (and raw TLS for hostile clients).
//!
//! Each test has its control: a good ConfigMap is allowed where a bad one is denied, the
//! server answers a good review after a refused one, the rotated certificate is refused by
//! the old CA and accepted by the new one (and the reverse before rotation).

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use lb_config::Settings;
use lb_controller::configmap_check::ConfigMapChecks;
use lb_controller::webhook::{GuardedConfigMap, TlsFiles, WebhookConfig, WebhookLimits, bind};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// The name in the server certificate, as the API server dials the Service.
const SERVER_NAME: &str = "lbctl-webhook.kube-system.svc";
const UID: &str = "0df28fbd-5f5f-11e8-bc74-36e6bb280816";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`: `name.crt`, `name.key`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(format!("{name}.crt"))
}

/// A server certificate for [`SERVER_NAME`] signed by CA `ca`, written to `out.crt`/`out.key`.
fn make_server_cert(dir: &Path, ca: &str, out: &str) -> TlsFiles {
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{SERVER_NAME}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{out}.key"),
            "-out",
            &format!("{out}.csr"),
            "-subj",
            &format!("/CN={SERVER_NAME}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{out}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            &format!("{out}.crt"),
        ],
    );
    TlsFiles {
        cert: dir.join(format!("{out}.crt")),
        key: dir.join(format!("{out}.key")),
    }
}

struct Running {
    address: SocketAddr,
    _stop: oneshot::Sender<()>,
}

fn limits() -> WebhookLimits {
    WebhookLimits {
        max_body_bytes: 3 * 1024 * 1024,
        request_timeout: Duration::from_millis(800),
        max_connections: 64,
        cert_check_interval: Duration::from_millis(100),
    }
}

async fn start(tls: TlsFiles, limits: WebhookLimits) -> Running {
    let settings =
        Settings::from_toml_str("managed_vip_ranges = [\"203.0.113.224/28\"]\n").unwrap();
    let checks = ConfigMapChecks::new(Some(settings), None).unwrap();
    let config = WebhookConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls,
        guarded: GuardedConfigMap {
            namespace: "kube-system".into(),
            name: "lvs-vips".into(),
        },
        limits,
    };
    let bound = bind(config, checks).await.unwrap();
    let address = bound.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bound.serve(async move {
        let _ = stopped.await;
    }));
    Running {
        address,
        _stop: stop,
    }
}

fn client_config(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

async fn tls_connect(address: SocketAddr, ca: &Path) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    TlsConnector::from(client_config(ca))
        .connect(ServerName::try_from(SERVER_NAME).unwrap(), tcp)
        .await
}

/// One HTTPS request with hyper's client; returns the status and body.
async fn https(
    address: SocketAddr,
    ca: &Path,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let tls = tls_connect(address, ca).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", SERVER_NAME)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

fn configmap(data: &Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "lvs-vips", "namespace": "kube-system",
                     "uid": "8b6f3a1e-1111-4c1e-9c5a-2f0f5c4d0e01", "resourceVersion": "4711"},
        "data": data
    })
}

/// An AdmissionReview as the API server sends it for a write of the guarded ConfigMap.
fn review(operation: &str, data: &Value, old: Option<&Value>) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "requestResource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "lvs-vips",
            "namespace": "kube-system",
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": configmap(data),
            "oldObject": old.map(configmap),
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-client-side-apply"}
        }
    })
    .to_string()
    .into_bytes()
}

/// The `response` of a 200 review answer, checked for the API server's required fields.
fn review_response(status: u16, body: &[u8]) -> Value {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    let doc: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(doc["kind"], "AdmissionReview");
    assert_eq!(doc["response"]["uid"], UID);
    doc["response"].clone()
}

/// The `response` to the review `body`, sent to `/validate` over HTTPS trusting `ca`.
async fn validate(address: SocketAddr, ca: &Path, body: Vec<u8>) -> Value {
    let (status, answer) = https(address, ca, "POST", "/validate", body).await;
    review_response(status, &answer)
}

/// The `response` to a CREATE of a good ConfigMap.
async fn good_review(address: SocketAddr, ca: &Path) -> Value {
    validate(address, ca, review("CREATE", &good_data(), None)).await
}

fn good_data() -> Value {
    json!({
        "203.0.113.225-80": "198.51.100.130:80, 198.51.100.20:80",
        "203.0.113.225-443": "198.51.100.130:443, 198.51.100.20:443; scheduler=mh",
        "203.0.113.226": "gslb/nginx-ingress:s"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_over_https_allow_good_and_deny_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path(), "ca");
    let server = start(make_server_cert(dir.path(), "ca", "server"), limits()).await;

    let r = good_review(server.address, &ca).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("status").is_none(), "{r}");

    // One bad key among good ones: denied, naming the key and the problem, and only it.
    let mut bad = good_data();
    bad["203.0.113.227-80"] = json!("198.51.100.7:8o");
    let r = validate(
        server.address,
        &ca,
        review("UPDATE", &bad, Some(&good_data())),
    )
    .await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 422);
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("203.0.113.227-80: column 14:"),
        "{message}"
    );
    assert!(message.contains("\"8o\""), "{message}");
    assert!(!message.contains("203.0.113.225-80"), "{message}");

    // A VIP outside the settings' managed ranges (203.0.113.224/28).
    let mut outside = good_data();
    outside["192.0.2.10-80"] = json!("198.51.100.1:80");
    let r = validate(server.address, &ca, review("CREATE", &outside, None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("192.0.2.10-80") && message.contains("managed"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_malformed_reviews_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path(), "ca");
    let server = start(make_server_cert(dir.path(), "ca", "server"), limits()).await;

    // A declared length over the limit: 413 at once, without sending the body.
    let mut tls = tls_connect(server.address, &ca).await.unwrap();
    tls.write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n{").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .unwrap()
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A chunked body that grows past the limit: 413 once it does; the writer is cut off.
    let tls = tls_connect(server.address, &ca).await.unwrap();
    let (mut read, mut write) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        write
            .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
            .await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 * 1024 * 1024 {
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        Ok::<usize, std::io::Error>(sent)
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .unwrap()
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let sent = writer.await.unwrap();
    assert!(
        sent.is_err(),
        "the server read the whole 64 MiB body: {sent:?}"
    );

    // A big but real review (an UPDATE of a ConfigMap with 15,000 keys, ~1.3 MiB): answered.
    let data: serde_json::Map<String, Value> = (1..=15_000)
        .map(|port| {
            (
                format!("203.0.113.230-{port}"),
                json!(format!("198.51.100.{}:{port}", port % 250 + 1)),
            )
        })
        .collect();
    let data = Value::Object(data);
    let body = review("UPDATE", &data, Some(&data));
    assert!(body.len() > 1024 * 1024, "{}", body.len());
    assert_eq!(validate(server.address, &ca, body).await["allowed"], true);

    // Malformed JSON: 400 naming the problem.
    let (status, body) = https(
        server.address,
        &ca,
        "POST",
        "/validate",
        b"{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": ".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).starts_with("the body is not JSON"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // The wrong review version: 400 naming both.
    let wrong = String::from_utf8(review("CREATE", &good_data(), None))
        .unwrap()
        .replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1");
    let (status, body) = https(server.address, &ca, "POST", "/validate", wrong.into_bytes()).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("found apiVersion \"admission.k8s.io/v1beta1\"")
    );

    // Paths and methods.
    assert_eq!(
        https(server.address, &ca, "GET", "/healthz", Vec::new())
            .await
            .0,
        200
    );
    assert_eq!(
        https(server.address, &ca, "GET", "/validate", Vec::new())
            .await
            .0,
        405
    );
    assert_eq!(
        https(server.address, &ca, "POST", "/mutate", Vec::new())
            .await
            .0,
        404
    );

    // Still serving after all that.
    assert_eq!(good_review(server.address, &ca).await["allowed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path(), "ca");
    let server = start(make_server_cert(dir.path(), "ca", "server"), limits()).await;
    let request = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

    // Plain HTTP to the TLS port: no HTTP answer. Control: the same bytes over TLS get 200.
    let mut plain = TcpStream::connect(server.address).await.unwrap();
    plain.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer))
        .await
        .unwrap()
        .ok();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut tls = tls_connect(server.address, &ca).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.ok();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A head that never ends: closed after the request timeout (0.8 s), not kept.
    let mut tls = tls_connect(server.address, &ca).await.unwrap();
    tls.write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .expect("closed within 5 s")
        .ok();
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );

    // A body that stops half way: 408 after the request timeout.
    let mut tls = tls_connect(server.address, &ca).await.unwrap();
    tls.write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"api")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .expect("answered within 5 s")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Replaces `to` with `from` the way the kubelet updates a mounted Secret: a rename.
fn replace(from: &Path, to: &Path) {
    let staged = to.with_extension("new");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = make_ca(dir.path(), "old-ca");
    let new_ca = make_ca(dir.path(), "new-ca");
    let served = make_server_cert(dir.path(), "old-ca", "served");
    let rotated = make_server_cert(dir.path(), "new-ca", "rotated");
    let server = start(served.clone(), limits()).await;

    // Before: the old CA verifies the server, the new one does not (control).
    assert!(tls_connect(server.address, &old_ca).await.is_ok());
    assert!(tls_connect(server.address, &new_ca).await.is_err());

    // A broken pair (new certificate, old key) is not served: the old one stays.
    replace(&rotated.cert, &served.cert);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tls_connect(server.address, &old_ca).await.is_ok(),
        "a mismatched pair was served"
    );
    assert!(tls_connect(server.address, &old_ca).await.is_ok());

    // The key follows: the new certificate is served from the next check on.
    replace(&rotated.key, &served.key);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(good_review(server.address, &new_ca).await["allowed"], true);
    assert!(
        tls_connect(server.address, &old_ca).await.is_err(),
        "still the old certificate"
    );
}
