//! Reading and writing the IPVS sysctls under the ownership rules of [`super::ownership`], and
//! the same comparison without writing (`lbctl diff`).

// I/O room (see clippy.toml): reads and writes the sysctl files.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ownership::{OwnedSysctls, SysctlAction, decide, next_record};
use super::record::{read_record, write_record};
use super::{WantedSysctl, path_of, read_sysctl};
use crate::netfilter::NetfilterError;

/// What happened (or would happen) to one sysctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysctlChange {
    /// `net.ipv4.vs.NAME`.
    pub name: String,
    /// The value before.
    pub before: u32,
    /// The value after (for a check: the value a sync would leave).
    pub after: u32,
    /// The value lbctl wants.
    pub wanted: u32,
    /// What lbctl did or would do.
    pub action: SysctlAction,
    /// Why this value.
    pub reason: &'static str,
}

impl SysctlChange {
    /// Whether the value was (or would be) written.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Where the sysctls live, what lbctl recorded writing, and whether it may write at all.
#[derive(Debug, Clone)]
pub struct SysctlSync {
    /// `/proc/sys` in production, a temporary directory in tests.
    pub root: PathBuf,
    /// The ownership record (see [`record_path_for`]); `None`: lbctl owns nothing, so it
    /// lowers nothing.
    pub record: Option<PathBuf>,
    /// Boot and network namespace (see [`host_scope`]); `None` (unknown): lbctl owns nothing.
    pub scope: Option<String>,
    /// `manage_sysctls` in effect: `false` writes nothing and reports the differences.
    pub manage: bool,
}

/// The ownership record next to a state file: `state.json` -> `state.sysctls.json`.
pub fn record_path_for(state_file: &Path) -> PathBuf {
    state_file.with_extension("sysctls.json")
}

/// The boot id (`ROOT/kernel/random/boot_id`) and network namespace (`/proc/self/ns/net`) the
/// sysctl values belong to; `None` when either cannot be read.
pub fn host_scope(root: &Path) -> Option<String> {
    let boot = std::fs::read_to_string(root.join("kernel/random/boot_id")).ok()?;
    let netns = std::fs::read_link("/proc/self/ns/net").ok()?;
    Some(format!("{} {}", boot.trim(), netns.display()))
}

impl SysctlSync {
    /// Writes what [`decide`] allows, records lbctl's values, and
    /// returns every sysctl before and after.
    pub fn apply(&self, wanted: &[WantedSysctl]) -> Result<Vec<SysctlChange>, NetfilterError> {
        self.run(wanted, true)
    }

    /// What [`apply`](Self::apply) would do, without writing anything.
    pub fn check(&self, wanted: &[WantedSysctl]) -> Result<Vec<SysctlChange>, NetfilterError> {
        self.run(wanted, false)
    }

    fn run(
        &self,
        wanted: &[WantedSysctl],
        write: bool,
    ) -> Result<Vec<SysctlChange>, NetfilterError> {
        let previous = self.record.as_deref().map(read_record).unwrap_or_default();
        let scope = self.scope.as_deref();
        let mut changes = Vec::new();
        let mut failure = None;
        for want in wanted {
            let before = read_sysctl(&self.root, want.name)?;
            let owned = scope.and_then(|scope| previous.owned(scope, want.name));
            let action = decide(want, before, owned, self.manage);
            if write && action == SysctlAction::Write {
                let path = path_of(&self.root, want.name);
                if let Err(cause) = std::fs::write(&path, format!("{}\n", want.value)) {
                    failure = Some(NetfilterError::Proc { path, cause });
                    break;
                }
                tracing::info!(
                    sysctl = want.name,
                    before,
                    after = want.value,
                    reason = want.reason,
                    "IPVS sysctl set"
                );
            } else if write && action == SysctlAction::LeaveForeign {
                tracing::debug!(
                    sysctl = want.name,
                    value = before,
                    preferred = want.value,
                    "IPVS sysctl left as someone else set it"
                );
            }
            changes.push(SysctlChange {
                name: format!("net.ipv4.vs.{}", want.name),
                before,
                after: if action == SysctlAction::Write {
                    want.value
                } else {
                    before
                },
                wanted: want.value,
                action,
                reason: want.reason,
            });
        }
        if write && let (Some(path), Some(scope)) = (&self.record, scope) {
            self.save_record(path, &previous, scope, wanted, &changes)?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(changes),
        }
    }

    /// Persists the record when it differs from the one read.
    fn save_record(
        &self,
        path: &Path,
        previous: &OwnedSysctls,
        scope: &str,
        wanted: &[WantedSysctl],
        changes: &[SysctlChange],
    ) -> Result<(), NetfilterError> {
        let outcomes: Vec<(&str, u32, u32, SysctlAction)> = wanted
            .iter()
            .zip(changes)
            .map(|(want, change)| (want.name, change.before, change.wanted, change.action))
            .collect();
        let next = next_record(previous, scope, &outcomes);
        if &next != previous {
            write_record(path, &next)?;
        }
        Ok(())
    }
}
