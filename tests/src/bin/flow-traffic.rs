//! `flow-traffic`: long-lived TCP flows for the director failover scenarios (lab 70-71).
//!
//! `flow-traffic serve --listen ADDR --name NAME` on each real server; `flow-traffic client
//! --target VIP:PORT ...` in the client, which prints `flow-traffic ready: ...` once its
//! connections are up and `flow-traffic summary: ...` at the end. See
//! `lb_tests::flow_traffic`.
//!
//! `flow-traffic udp-serve|sctp-serve --listen ADDR --name NAME` and `flow-traffic
//! udp-client|sctp-client --target VIP:PORT [--source-port P] [--count N] ...` for UDP and
//! SCTP services: each answer's server name on its own line; exit 1 when one does not come.

// An I/O room as a whole (see clippy.toml): it holds sockets and reads the clock.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;

use lb_tests::flow_traffic::options::{Command, USAGE, parse};
use lb_tests::flow_traffic::{probe, run};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOW_TRAFFIC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(c) => c,
        Err(problem) => {
            eprintln!("flow-traffic: {problem}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    match command {
        Command::Serve { listen, name } => {
            on_runtime(async move { served(listen, run::serve(listen, name).await) })
        }
        Command::Client(options) => on_runtime(async move {
            let tally = run::client(options).await;
            println!("{}", tally.summary());
            ExitCode::SUCCESS
        }),
        // UDP and SCTP: blocking sockets, no runtime.
        Command::UdpServe { listen, name } => served(listen, probe::udp_serve(listen, &name)),
        Command::SctpServe { listen, name } => served(listen, probe::sctp_serve(listen, &name)),
        Command::UdpClient(o) => probed(probe::udp_client(&o, &mut std::io::stdout())),
        Command::SctpClient(o) => probed(probe::sctp_client(&o, &mut std::io::stdout())),
    }
}

/// Runs the TCP modes on a runtime of one thread: the lab VM has one CPU, and the work is
/// waiting on sockets.
fn on_runtime(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("flow-traffic: cannot start the runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// The exit of a server, which returns only when it could not start.
fn served(listen: std::net::SocketAddr, result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flow-traffic: cannot serve on {listen}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The exit of a UDP or SCTP client: 1 when a message went unanswered (the reason on stderr).
fn probed(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flow-traffic: {e}");
            ExitCode::from(1)
        }
    }
}
