//! `flow-traffic`: long-lived TCP flows for the director failover scenarios (lab 70-71).
//!
//! `flow-traffic serve --listen ADDR --name NAME` on each real server; `flow-traffic client
//! --target VIP:PORT ...` in the client, which prints `flow-traffic ready: ...` once its
//! connections are up and `flow-traffic summary: ...` at the end. See
//! `lb_tests::flow_traffic`.

// An I/O room as a whole (see clippy.toml): it holds sockets and reads the clock.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;

use lb_tests::flow_traffic::options::{Command, USAGE, parse};
use lb_tests::flow_traffic::run;

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
    // One thread: the lab VM has one CPU, and the work is waiting on sockets.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flow-traffic: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Serve { listen, name } => match run::serve(listen, name).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("flow-traffic: cannot serve on {listen}: {e}");
                    ExitCode::from(1)
                }
            },
            Command::Client(options) => {
                let tally = run::client(options).await;
                println!("{}", tally.summary());
                ExitCode::SUCCESS
            }
        }
    })
}
