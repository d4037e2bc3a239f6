//! The netfilter step of a director sync: NOTRACK and FullNAT SNAT rules, the IPVS sysctls each
//! mode needs, and the conntrack counters that reveal SNAT port exhaustion.
//!
//! Wiring only: the rules are rendered by `lb_director::netfilter` (pure) and written by its
//! backends; this file picks the backend from the settings and shapes the report.

use std::path::Path;

use anyhow::{Context, Result};
use lb_config::{DesiredState, Settings};
use lb_director::netfilter::conntrack_stats::CONNTRACK_STAT_PATH;
use lb_director::netfilter::director::{DirectorRules, Exemption};
use lb_director::netfilter::{
    ConntrackStats, Netfilter, Owner, SyncOutcome, ToolRunner, backend_for, director_rules,
    read_conntrack_stats,
};
use lb_director::sysctl::{
    SysctlAction, SysctlChange, SysctlSync, host_scope, record_path_for, wanted_sysctls,
};
use lb_ipvs_sync::netlink::features::{PROC_SYS, kernel_version};
use serde::Serialize;
use serde_json::Value;

/// What the netfilter step did.
#[derive(Debug, Clone, Serialize)]
pub struct NetfilterReport {
    /// The backend used; `None` when `netfilter_backend = "none"`.
    pub(crate) backend: Option<&'static str>,
    /// Per-table results; `None` when no backend is used.
    pub(crate) rules: Option<SyncOutcome>,
    /// Services of the intents that got no rule, and why.
    pub(crate) exempt: Vec<Exemption>,
    /// The IPVS sysctls, before and after.
    pub(crate) sysctls: Vec<SysctlChange>,
    /// Conntrack counters (port exhaustion shows as `insert_failed`/`drop`), when readable.
    pub(crate) conntrack: Option<ConntrackStats>,
}

/// Installs the director's netfilter rules (`director_rules` of the desired state) with the
/// settings' backend, then sets the IPVS sysctls (as `manage_sysctls` allows; lbctl's record of
/// the values it wrote lives next to `state_file`). Call it after IPVS is loaded and before the
/// IPVS pass, so that a FullNAT service's SNAT exists before its first connection is forwarded.
pub fn sync_netfilter(
    settings: &Settings,
    planned: &DirectorRules,
    state_file: Option<&Path>,
) -> Result<NetfilterReport> {
    let (backend_name, rules) = match director_backend(settings)? {
        Some(mut backend) => {
            let outcome = backend.sync(&planned.rules).with_context(|| {
                format!("cannot sync the netfilter rules with {}", backend.name())
            })?;
            (Some(backend.name()), Some(outcome))
        }
        None => (None, None),
    };
    let root = Path::new(PROC_SYS);
    let wanted = wanted_sysctls(planned.needs_vs_conntrack, kernel_version(root));
    let sysctls = sysctl_sync(settings, state_file)
        .apply(&wanted)
        .context("cannot set the IPVS sysctls")?;
    let conntrack = read_conntrack_stats(Path::new(CONNTRACK_STAT_PATH)).ok();
    Ok(NetfilterReport {
        backend: backend_name,
        rules,
        exempt: planned.exempt.clone(),
        sysctls,
        conntrack,
    })
}

/// What a sync would change in the director's netfilter rules for `desired`, without writing
/// (`lbctl diff`); `None` when the settings' backend is `none`.
pub fn check_netfilter(settings: &Settings, desired: &DesiredState) -> Result<Option<SyncOutcome>> {
    let planned = director_rules(desired);
    let Some(mut backend) = director_backend(settings)? else {
        return Ok(None);
    };
    let outcome = backend
        .check(&planned.rules)
        .with_context(|| format!("cannot read the netfilter rules with {}", backend.name()))?;
    Ok(Some(outcome))
}

/// What a sync would do to the IPVS sysctls for `desired`, without writing (`lbctl diff`).
pub fn check_sysctls(
    settings: &Settings,
    desired: &DesiredState,
    state_file: &Path,
) -> Result<Vec<SysctlChange>> {
    let planned = director_rules(desired);
    let wanted = wanted_sysctls(
        planned.needs_vs_conntrack,
        kernel_version(Path::new(PROC_SYS)),
    );
    sysctl_sync(settings, Some(state_file))
        .check(&wanted)
        .context("cannot read the IPVS sysctls")
}

/// The production sysctl writer for these settings.
fn sysctl_sync(settings: &Settings, state_file: Option<&Path>) -> SysctlSync {
    let root = Path::new(PROC_SYS);
    SysctlSync {
        root: root.to_path_buf(),
        record: state_file.map(record_path_for),
        scope: host_scope(root),
        manage: settings.manage_sysctls.enabled(settings.netfilter_backend),
    }
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

/// The settings' backend for the director's rules (`None`: backend `none`).
fn director_backend(settings: &Settings) -> Result<Option<Box<dyn Netfilter + Send>>> {
    backend_for(
        settings.netfilter_backend,
        Owner::Director,
        ToolRunner::direct(),
    )
    .context("cannot choose a netfilter backend")
}

/// The tables a sync changed (or would change), e.g. `V4 raw Replaced`; empty when none.
pub fn changed_tables(outcome: &SyncOutcome) -> Vec<String> {
    outcome
        .tables
        .iter()
        .filter(|t| t.change != lb_director::netfilter::Change::Unchanged)
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
