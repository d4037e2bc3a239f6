//! The netfilter step of a pass: NOTRACK and FullNAT SNAT rules, the IPVS sysctls each mode
//! needs, and the conntrack counters that reveal SNAT port exhaustion; and the same comparison
//! without writing, for `lbctl diff`.
//!
//! Wiring only: the rules are rendered by [`crate::netfilter`] (pure) and written by its
//! backends; this file picks the backend from the settings and shapes the report.

use std::path::{Path, PathBuf};

use lb_config::Settings;
use lb_ipvs_sync::netlink::features::{PROC_SYS, kernel_version};
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::netfilter::conntrack_stats::CONNTRACK_STAT_PATH;
use crate::netfilter::director::{DirectorRules, Exemption};
use crate::netfilter::{
    Change, ConntrackStats, Netfilter, NetfilterError, Owner, SyncOutcome, ToolRunner, backend_for,
    read_conntrack_stats,
};
use crate::sysctl::{
    SysctlAction, SysctlChange, SysctlSync, ThresholdChange, WantedSysctl, failover_sysctls,
    host_scope, record_path_for, sync_threshold, wanted_sysctls,
};

/// Where the netfilter step acts: the tools it runs and the files it reads and writes.
/// Production uses the host ([`NetfilterHost::default`]); tests point it at scripted tools
/// and a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetfilterHost {
    /// Runs `iptables-restore`, `nft`, ...
    pub runner: ToolRunner,
    /// The root of the sysctls (`/proc/sys`).
    pub proc_sys: PathBuf,
    /// The conntrack statistics file.
    pub conntrack_stat: PathBuf,
}

impl Default for NetfilterHost {
    fn default() -> Self {
        NetfilterHost {
            runner: ToolRunner::direct(),
            proc_sys: PathBuf::from(PROC_SYS),
            conntrack_stat: PathBuf::from(CONNTRACK_STAT_PATH),
        }
    }
}

/// The netfilter step failed; the rules in force are the old ones (each table is replaced in
/// one transaction).
#[derive(Debug, Error)]
pub enum NetfilterStepError {
    /// No backend could be chosen (`auto` found no working tool).
    #[error("cannot choose a netfilter backend")]
    Backend(#[source] NetfilterError),
    /// The backend refused the rules.
    #[error("cannot sync the netfilter rules with {backend}")]
    Rules {
        /// The backend's name.
        backend: &'static str,
        /// What the tool said.
        #[source]
        source: NetfilterError,
    },
    /// The backend could not list the rules (`lbctl diff`).
    #[error("cannot read the netfilter rules with {backend}")]
    ReadRules {
        /// The backend's name.
        backend: &'static str,
        /// What the tool said.
        #[source]
        source: NetfilterError,
    },
    /// The IPVS sysctls could not be set.
    #[error("cannot set the IPVS sysctls")]
    Sysctls(#[source] NetfilterError),
    /// The IPVS sysctls could not be read (`lbctl diff`).
    #[error("cannot read the IPVS sysctls")]
    ReadSysctls(#[source] NetfilterError),
}

impl NetfilterStepError {
    /// Whether a tool or the kernel did not answer in time.
    pub fn is_timeout(&self) -> bool {
        match self {
            NetfilterStepError::Backend(source)
            | NetfilterStepError::Rules { source, .. }
            | NetfilterStepError::ReadRules { source, .. }
            | NetfilterStepError::Sysctls(source)
            | NetfilterStepError::ReadSysctls(source) => source.is_timeout(),
        }
    }
}

/// What the netfilter step did.
#[derive(Debug, Clone, Serialize)]
pub struct NetfilterReport {
    /// The backend used; `None` when `netfilter_backend = "none"`.
    pub backend: Option<&'static str>,
    /// Per-table results; `None` when no backend is used.
    pub rules: Option<SyncOutcome>,
    /// Services of the intents that got no rule, and why.
    pub exempt: Vec<Exemption>,
    /// The IPVS sysctls, before and after.
    pub sysctls: Vec<SysctlChange>,
    /// `net.ipv4.vs.sync_threshold`, when `[failover.connection_sync]` sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_threshold: Option<ThresholdChange>,
    /// Conntrack counters (port exhaustion shows as `insert_failed`/`drop`), when readable.
    pub conntrack: Option<ConntrackStats>,
}

/// Installs the director's netfilter rules with the settings' backend, then sets the IPVS
/// sysctls (as `manage_sysctls` allows; the record of the values written lives next to
/// `state_file`). Runs before the IPVS pass, so that a FullNAT service's SNAT exists before
/// its first connection is forwarded.
pub fn sync_netfilter(
    settings: &Settings,
    planned: &DirectorRules,
    state_file: Option<&Path>,
    host: &NetfilterHost,
) -> Result<NetfilterReport, NetfilterStepError> {
    let (backend_name, rules) = match director_backend(settings, host)? {
        Some(mut backend) => {
            let outcome =
                backend
                    .sync(&planned.rules)
                    .map_err(|source| NetfilterStepError::Rules {
                        backend: backend.name(),
                        source,
                    })?;
            (Some(backend.name()), Some(outcome))
        }
        None => (None, None),
    };
    let wanted = director_sysctls(settings, planned, host);
    let sysctls = sysctl_sync(settings, state_file, host)
        .apply(&wanted)
        .map_err(NetfilterStepError::Sysctls)?;
    let sync_threshold = sync_threshold(
        &host.proc_sys,
        wanted_sync_threshold(settings),
        settings.manage_sysctls.enabled(settings.netfilter_backend),
        true,
    )
    .map_err(NetfilterStepError::Sysctls)?;
    let conntrack = read_conntrack_stats(&host.conntrack_stat).ok();
    Ok(NetfilterReport {
        sync_threshold,
        backend: backend_name,
        rules,
        exempt: planned.exempt.clone(),
        sysctls,
        conntrack,
    })
}

/// What a sync would change in the director's netfilter rules, without writing (`lbctl diff`);
/// `None` when the settings' backend is `none`.
pub fn check_netfilter(
    settings: &Settings,
    planned: &DirectorRules,
    host: &NetfilterHost,
) -> Result<Option<SyncOutcome>, NetfilterStepError> {
    let Some(mut backend) = director_backend(settings, host)? else {
        return Ok(None);
    };
    let outcome =
        backend
            .check(&planned.rules)
            .map_err(|source| NetfilterStepError::ReadRules {
                backend: backend.name(),
                source,
            })?;
    Ok(Some(outcome))
}

/// What a sync would do to the IPVS sysctls, without writing (`lbctl diff`).
pub fn check_sysctls(
    settings: &Settings,
    planned: &DirectorRules,
    state_file: &Path,
    host: &NetfilterHost,
) -> Result<Vec<SysctlChange>, NetfilterStepError> {
    let wanted = director_sysctls(settings, planned, host);
    sysctl_sync(settings, Some(state_file), host)
        .check(&wanted)
        .map_err(NetfilterStepError::ReadSysctls)
}

/// The sync thresholds `[failover.connection_sync]` asks for (only with connection sync on).
fn wanted_sync_threshold(settings: &Settings) -> Option<[u32; 2]> {
    let sync = &settings.failover.connection_sync;
    sync.sync_threshold.filter(|_| sync.enabled())
}

/// Every IPVS sysctl this director wants: what its services need, then `[failover]`.
fn director_sysctls(
    settings: &Settings,
    planned: &DirectorRules,
    host: &NetfilterHost,
) -> Vec<WantedSysctl> {
    let mut wanted = wanted_sysctls(planned.needs_vs_conntrack, kernel_version(&host.proc_sys));
    wanted.extend(failover_sysctls(&settings.failover));
    wanted
}

/// The sysctl writer for these settings.
fn sysctl_sync(settings: &Settings, state_file: Option<&Path>, host: &NetfilterHost) -> SysctlSync {
    SysctlSync {
        root: host.proc_sys.clone(),
        record: state_file.map(record_path_for),
        scope: host_scope(&host.proc_sys),
        manage: settings.manage_sysctls.enabled(settings.netfilter_backend),
    }
}

/// The settings' backend for the director's rules (`None`: backend `none`).
fn director_backend(
    settings: &Settings,
    host: &NetfilterHost,
) -> Result<Option<Box<dyn Netfilter + Send>>, NetfilterStepError> {
    backend_for(
        settings.netfilter_backend,
        Owner::Director,
        host.runner.clone(),
    )
    .map_err(NetfilterStepError::Backend)
}

/// One sysctl for a report line: `NAME=VALUE`, with what was or would be done when it is
/// not simply in place.
pub fn sysctl_text(change: &SysctlChange) -> String {
    let SysctlChange {
        name,
        before,
        after,
        wanted,
        ..
    } = change;
    match change.action {
        SysctlAction::InPlace => format!("{name}={after}"),
        SysctlAction::Write => format!("{name}={after} (was {before})"),
        SysctlAction::LeaveForeign => {
            format!("{name}={after} (not set by lbctl, left; lbctl prefers {wanted})")
        }
        SysctlAction::NotManaged => {
            format!("{name}={after} (manage_sysctls off; the services want {wanted})")
        }
    }
}

/// The tables a sync changed (or would change), e.g. `V4 raw Replaced`; empty when none.
pub fn changed_tables(outcome: &SyncOutcome) -> Vec<String> {
    outcome
        .tables
        .iter()
        .filter(|t| t.change != Change::Unchanged)
        .map(|t| match t.family {
            Some(family) => format!("{family:?} {} {:?}", t.table, t.change),
            None => format!("{} {:?}", t.table, t.change),
        })
        .collect()
}

impl NetfilterReport {
    /// The report as one JSON value (the `netfilter` member of `apply -o json`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Comment lines for `apply`'s text output.
    pub fn text_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match (&self.backend, &self.rules) {
            (Some(name), Some(outcome)) => {
                let changed = changed_tables(outcome);
                lines.push(format!(
                    "# netfilter ({name}): {} rule(s); {}",
                    outcome.rules(),
                    if changed.is_empty() {
                        "unchanged".to_owned()
                    } else {
                        changed.join(", ")
                    }
                ));
            }
            _ => lines.push("# netfilter: backend none (rules left to the operator)".to_owned()),
        }
        for exemption in &self.exempt {
            lines.push(format!(
                "# netfilter: no rule for {}: {}",
                exemption.service, exemption.reason
            ));
        }
        let sysctls: Vec<String> = self.sysctls.iter().map(sysctl_text).collect();
        lines.push(format!("# sysctl: {}", sysctls.join(" ")));
        if let Some(ct) = &self.conntrack {
            lines.push(format!(
                "# conntrack: insert_failed {} drop {} early_drop {}",
                ct.insert_failed, ct.drop, ct.early_drop
            ));
        }
        lines
    }
}
