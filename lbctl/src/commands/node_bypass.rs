//! `lbctl node-bypass`: on a Kubernetes node, NOTRACK and FORWARD ACCEPT for the traffic between
//! the directors' local-address ranges and the pod ranges; once, or every `--interval` seconds
//! until SIGINT/SIGTERM (the DaemonSet in deploy/node-bypass/).
//!
//! Each pass is a full sync (compare, then one transaction per table that differs), so a CNI
//! that inserts its FORWARD chain ahead of ours is put behind again at the next pass. On exit
//! the rules stay (a restarting pod must not open a window); `--cleanup` removes them.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;
use ipnetwork::IpNetwork;
use lb_config::NetfilterBackend;
use lb_director::netfilter::{
    Netfilter, Owner, RuleSet, SyncOutcome, ToolRunner, backend_for, node_bypass_rules,
};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use crate::cli::Output;

/// Backends for the node bypass (`auto` prefers iptables here: see docs/netfilter.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BypassBackend {
    /// iptables when available, else nftables.
    Auto,
    /// The system's iptables (nf_tables or legacy, whichever `iptables` is).
    Iptables,
    /// `iptables-legacy` explicitly.
    IptablesLegacy,
    /// Native nftables (an `accept` there cannot override a CNI's iptables drop).
    Nftables,
}

impl From<BypassBackend> for NetfilterBackend {
    fn from(value: BypassBackend) -> Self {
        match value {
            BypassBackend::Auto => NetfilterBackend::Auto,
            BypassBackend::Iptables => NetfilterBackend::Iptables,
            BypassBackend::IptablesLegacy => NetfilterBackend::IptablesLegacy,
            BypassBackend::Nftables => NetfilterBackend::Nftables,
        }
    }
}

/// What `node-bypass` was asked to do.
pub(crate) struct BypassRequest {
    /// Source ranges of the directors (their FullNAT pools / local addresses).
    pub(crate) director_ranges: Vec<IpNetwork>,
    /// Pod CIDRs of the cluster.
    pub(crate) pod_ranges: Vec<IpNetwork>,
    /// Which backend.
    pub(crate) backend: BypassBackend,
    /// Seconds between passes; `None` = one pass.
    pub(crate) interval: Option<u64>,
    /// Remove our node rules instead of installing them.
    pub(crate) cleanup: bool,
    /// Report format.
    pub(crate) output: Output,
}

/// Runs one pass or the loop; returns the exit code.
pub(crate) fn run(request: &BypassRequest) -> Result<i32> {
    let backend = backend_for(
        request.backend.into(),
        Owner::NodeBypass,
        ToolRunner::direct(),
    )
    .context("cannot choose a netfilter backend")?;
    let Some(mut backend) = backend else {
        anyhow::bail!("node-bypass needs a backend");
    };
    if request.cleanup {
        let outcome = backend.remove(Owner::NodeBypass)?;
        print(&outcome, request.output)?;
        return Ok(0);
    }
    if request.director_ranges.is_empty() || request.pod_ranges.is_empty() {
        anyhow::bail!("node-bypass needs --director-ranges and --pod-ranges");
    }
    let rules = node_bypass_rules(&request.director_ranges, &request.pod_ranges);
    let Some(interval) = request.interval else {
        let outcome = backend.sync(&rules)?;
        print(&outcome, request.output)?;
        return Ok(0);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_loop(
        backend.as_mut(),
        &rules,
        interval.max(1),
        request.output,
    ))?;
    Ok(0)
}

/// Syncs every `interval` seconds until SIGINT or SIGTERM; a failed pass is logged and retried.
async fn run_loop(
    backend: &mut (dyn Netfilter + Send),
    rules: &RuleSet,
    interval: u64,
    output: Output,
) -> Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut ticker = tokio::time::interval(Duration::from_secs(interval));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match backend.sync(rules) {
                Ok(outcome) if outcome.changed() => print(&outcome, output)?,
                Ok(_) => {}
                Err(e) => error!(error = %e, "node-bypass pass failed; retrying at the next interval"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    info!("node-bypass stopping; rules stay installed");
    Ok(())
}

fn print(outcome: &SyncOutcome, output: Output) -> Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string(&json!(outcome))?),
        Output::Text => {
            for table in &outcome.tables {
                let family = table.family.map(|f| format!("{f:?} ")).unwrap_or_default();
                println!(
                    "{} {family}{}: {:?} ({} rule(s))",
                    outcome.backend, table.table, table.change, table.rules
                );
            }
        }
    }
    Ok(())
}
