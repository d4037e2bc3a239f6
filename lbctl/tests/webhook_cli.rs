//! `lbctl webhook` as operators start it: the binary with PEM files made by openssl and a
//! settings file, asked over HTTPS by curl (the CA pinned, the Service name resolved to
//! loopback). Proves the flags reach the server: the ConfigMap named in the settings is
//! checked against the settings' ranges, another name is allowed (the control), and a missing
//! key file stops it with exit 64 naming the file.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "lbctl-webhook.kube-system.svc";

fn openssl(dir: &Path, args: &str) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl {args}");
}

fn pki(dir: &Path) {
    openssl(
        dir,
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.crt -days 1 -subj /CN=ca -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign",
    );
    openssl(
        dir,
        &format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout \
        tls.key -out tls.csr -subj /CN={NAME}"
        ),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:{NAME}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        "x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile ext.cnf -out tls.crt",
    );
}

struct Webhook(Child);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn review(name: &str) -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "e911857d-c318-11e8-bbad-025000000001",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "lb", "name": name, "operation": "CREATE",
            "userInfo": {"username": "admin"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": "lb"},
                       "data": {"192.0.2.10-80": "198.51.100.1:80"}},
            "dryRun": false
        }
    })
    .to_string()
}

/// POSTs `body` to /validate; the parsed response.
fn post(dir: &Path, port: u16, body: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .current_dir(dir)
        .args(["-sS", "--fail", "--cacert", "ca.crt", "--resolve"])
        .arg(format!("{NAME}:{port}:127.0.0.1"))
        .args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            body,
        ])
        .arg(format!("https://{NAME}:{port}/validate"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_binary_guards_the_configmap_its_settings_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    pki(dir);
    std::fs::write(
        dir.join("settings.toml"),
        "managed_vip_ranges = [\"203.0.113.224/27\"]\n[kubernetes]\nnamespace = \"lb\"\nconfigmap = \"vips\"\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _webhook = Webhook(
        Command::new(env!("CARGO_BIN_EXE_lbctl"))
            .current_dir(dir)
            .args(["webhook", "--tls-cert", "tls.crt", "--tls-key", "tls.key"])
            .args(["--settings", "settings.toml", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "lbctl webhook did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let denied = post(dir, port, &review("vips"));
    assert_eq!(denied["response"]["allowed"], false, "{denied}");
    let message = denied["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("192.0.2.10-80: VIP 192.0.2.10 is outside the managed VIP ranges"),
        "{message}"
    );
    // Control: the same data under another name is not this webhook's business.
    let other = post(dir, port, &review("other"));
    assert_eq!(other["response"]["allowed"], true, "{other}");
}

#[test]
fn a_missing_key_file_stops_it_with_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .current_dir(dir.path())
        .args([
            "webhook",
            "--tls-cert",
            "tls.crt",
            "--tls-key",
            "nope.key",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.key"), "{stderr}");
}
