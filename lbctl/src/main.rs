//! `lbctl`: the one binary of the LVS/IPVS load-balancer control plane.
//!
//! Operator commands (`validate`, `webhook`, `plan`, `diff`, `apply`, `status`, `withdraw`) and the daemon (`run`,
//! the Kubernetes controller). Exit codes: 0 success, 1 problems found or operations failed, 2 `diff`
//! found pending changes, 3 the delete guard held back deletions, 64 unusable input.

// An I/O room as a whole (see clippy.toml): the commands read files, talk to the control
// socket and read the clock.
#![allow(clippy::disallowed_methods)]
// The commands' doc comments are clap help text (`[bgp]` is a settings section), not links.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod commands;
mod usage;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// Exit code for input that cannot be used at all (sysexits EX_USAGE).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            if usage::is_usage(&err) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Validate {
            file,
            settings,
            endpoints,
            output,
        } => commands::validate::run(&file, settings.as_deref(), endpoints.as_deref(), output),
        Command::Webhook(args) => commands::webhook::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Plan { files, output } => commands::plan::run(&files, output),
        Command::Diff {
            files,
            state_file,
            output,
        } => commands::diff::run(&files, state_file, output),
        Command::Apply {
            files,
            state_file,
            force,
            no_vips,
            output,
        } => commands::apply::run(&files, state_file, force, !no_vips, output),
        Command::Run(args) => commands::run::run(args),
        Command::Status(args) => commands::status::run(&args),
        Command::Withdraw(args) => commands::withdraw::run(&args),
        Command::Cleanup { output } => commands::cleanup::run(output),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::ManPages { out_dir } => commands::completions::man_pages(&out_dir),
        Command::NodeBypass {
            director_ranges,
            pod_ranges,
            backend,
            interval,
            cleanup,
            output,
        } => commands::node_bypass::run(&commands::node_bypass::BypassRequest {
            director_ranges,
            pod_ranges,
            backend,
            interval,
            cleanup,
            output,
        }),
    }
}
