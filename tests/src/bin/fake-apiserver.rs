//! `fake-apiserver`: the in-memory Kubernetes API server of the tests, as a process (the lab
//! VM runs it next to `lbctl run`).
//!
//! Usage: `fake-apiserver [--listen ADDR] [--admin ADDR] [--load FILE.json]`
//! (defaults 127.0.0.1:6443 and 127.0.0.1:6444; FILE holds a JSON array of objects to create).
//! Prints `ready API ADMIN` on stdout once both ports listen. See `lb_tests::fake_apiserver`.

// An I/O room as a whole (see clippy.toml): it serves a socket and reads files.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::process::ExitCode;

use lb_tests::fake_apiserver::FakeApiServer;
use serde_json::Value;

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "fake-apiserver: {problem}\nusage: fake-apiserver [--listen ADDR] [--admin ADDR] [--load FILE.json]"
    );
    ExitCode::from(64)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAKE_APISERVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 6443));
    let mut admin: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 6444));
    let mut load: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--listen" => value("--listen").and_then(|v| {
                v.parse()
                    .map_err(|e| format!("--listen: {e}"))
                    .map(|a| listen = a)
            }),
            "--admin" => value("--admin").and_then(|v| {
                v.parse()
                    .map_err(|e| format!("--admin: {e}"))
                    .map(|a| admin = a)
            }),
            "--load" => value("--load").map(|v| load = Some(v)),
            other => Err(format!("unknown argument {other}")),
        };
        if let Err(problem) = parsed {
            return usage(&problem);
        }
    }
    let objects: Vec<Value> = match &load {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => return usage(&format!("cannot load {path}: {e}")),
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fake-apiserver: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let server = match FakeApiServer::start(listen, admin).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fake-apiserver: cannot listen: {e}");
                return ExitCode::from(1);
            }
        };
        for obj in objects {
            if server.apply(obj).is_none() {
                eprintln!("fake-apiserver: skipped an object of unknown kind");
            }
            // The seed's creations need no history (no client has seen a version yet), and
            // keeping it would hold every loaded object twice: at 10,000 Services with
            // realistic objects that is about 1 GiB more in the lab VM.
            server.shared().compact();
        }
        println!("ready {} {}", server.api_addr, server.admin_addr);
        let _ = tokio::signal::ctrl_c().await;
        ExitCode::SUCCESS
    })
}
