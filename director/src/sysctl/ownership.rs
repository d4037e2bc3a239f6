//! Which IPVS sysctls lbctl may write: pure decisions from the current value, the wanted value
//! and what lbctl itself wrote before (the [`OwnedSysctls`] record).
//!
//! The IPVS sysctls are per network namespace, shared with anything else that uses IPVS there
//! (kube-proxy in IPVS mode sets `conntrack=1`). So lbctl writes a value only when
//! - one of its own services needs it ([`Need::Required`]: `conntrack=1` for FullNAT,
//!   `expire_*=1`, `conn_reuse_mode=0` next to FullNAT's `conntrack=1` on old kernels), or
//! - it is a mere preference ([`Need::Preferred`]: `conntrack=0` without FullNAT,
//!   `conn_reuse_mode=1`) and the current value is the one lbctl recorded writing: it undoes
//!   its own earlier write, never someone else's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::WantedSysctl;

/// How much lbctl depends on a wanted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// A service lbctl runs does not work right without it: written whatever the value is.
    Required,
    /// Better for lbctl's services but not needed: written only over lbctl's own value.
    Preferred,
}

/// What lbctl does (or would do) with one sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SysctlAction {
    /// The current value is the wanted one.
    InPlace,
    /// Write the wanted value.
    Write,
    /// The current value was set by someone else and lbctl only prefers another: left alone.
    LeaveForeign,
    /// Sysctls are not managed (`manage_sysctls`): nothing is written, the difference is reported.
    NotManaged,
}

/// The sysctl values lbctl wrote itself in one network namespace since boot.
///
/// `scope` names the boot and namespace (the values reset at boot, and each namespace has its
/// own): a record from another scope is ignored, so a reboot never makes lbctl think it owns a
/// value someone else set afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedSysctls {
    /// Boot id and network namespace the values belong to.
    pub scope: String,
    /// Name below `net.ipv4.vs.` -> the value lbctl last wrote.
    pub written: BTreeMap<String, u32>,
}

impl OwnedSysctls {
    /// An empty record for `scope`.
    pub fn new(scope: &str) -> Self {
        OwnedSysctls {
            scope: scope.to_owned(),
            written: BTreeMap::new(),
        }
    }

    /// The value lbctl wrote to `name`, if the record belongs to `scope`.
    pub fn owned(&self, scope: &str, name: &str) -> Option<u32> {
        if self.scope == scope {
            self.written.get(name).copied()
        } else {
            None
        }
    }
}

/// Decides what to do with one sysctl.
///
/// `owned`: the value lbctl recorded writing (see [`OwnedSysctls::owned`]); `manage`: whether
/// sysctls are managed at all.
pub fn decide(want: &WantedSysctl, current: u32, owned: Option<u32>, manage: bool) -> SysctlAction {
    if current == want.value {
        SysctlAction::InPlace
    } else if !manage {
        SysctlAction::NotManaged
    } else if want.need == Need::Required || owned == Some(current) {
        SysctlAction::Write
    } else {
        SysctlAction::LeaveForeign
    }
}

/// The record after a pass: an entry stays only while the value is still the one lbctl wrote
/// (someone who changed it since owns it now), and every write adds one.
///
/// `outcomes`: per sysctl, its name, the value before the pass and the action taken.
pub fn next_record(
    previous: &OwnedSysctls,
    scope: &str,
    outcomes: &[(&str, u32, u32, SysctlAction)],
) -> OwnedSysctls {
    let mut next = OwnedSysctls::new(scope);
    for &(name, before, wanted, action) in outcomes {
        let value = match action {
            SysctlAction::Write => Some(wanted),
            _ => previous.owned(scope, name).filter(|&owned| owned == before),
        };
        if let Some(value) = value {
            next.written.insert(name.to_owned(), value);
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(value: u32, need: Need) -> WantedSysctl {
        WantedSysctl {
            name: "conntrack",
            value,
            need,
            reason: "test",
        }
    }

    #[test]
    fn a_required_value_is_written_over_anything() {
        // Mutation: treating Required like Preferred leaves FullNAT without conntrack.
        assert_eq!(
            decide(&want(1, Need::Required), 0, None, true),
            SysctlAction::Write
        );
        assert_eq!(
            decide(&want(1, Need::Required), 1, None, true),
            SysctlAction::InPlace
        );
    }

    #[test]
    fn a_preferred_value_never_lowers_a_foreign_one() {
        // kube-proxy's conntrack=1, no FullNAT here: left alone (the old code wrote 0).
        assert_eq!(
            decide(&want(0, Need::Preferred), 1, None, true),
            SysctlAction::LeaveForeign
        );
        // lbctl wrote 0 earlier, someone set 1 since: theirs now.
        assert_eq!(
            decide(&want(0, Need::Preferred), 1, Some(0), true),
            SysctlAction::LeaveForeign
        );
    }

    #[test]
    fn a_preferred_value_undoes_lbctls_own_write() {
        // lbctl raised conntrack to 1 for a FullNAT service that is gone: it lowers it back.
        assert_eq!(
            decide(&want(0, Need::Preferred), 1, Some(1), true),
            SysctlAction::Write
        );
    }

    #[test]
    fn unmanaged_sysctls_are_only_reported() {
        assert_eq!(
            decide(&want(1, Need::Required), 0, None, false),
            SysctlAction::NotManaged
        );
        assert_eq!(
            decide(&want(0, Need::Preferred), 1, Some(1), false),
            SysctlAction::NotManaged
        );
        assert_eq!(
            decide(&want(1, Need::Required), 1, None, false),
            SysctlAction::InPlace
        );
    }

    #[test]
    fn a_record_from_another_boot_or_namespace_owns_nothing() {
        let mut record = OwnedSysctls::new("boot-a net:[1]");
        record.written.insert("conntrack".to_owned(), 1);
        assert_eq!(record.owned("boot-a net:[1]", "conntrack"), Some(1));
        assert_eq!(record.owned("boot-b net:[1]", "conntrack"), None);
        assert_eq!(record.owned("boot-a net:[1]", "conn_reuse_mode"), None);
    }

    #[test]
    fn the_record_keeps_writes_and_still_unchanged_values_only() {
        let scope = "s";
        let mut previous = OwnedSysctls::new(scope);
        previous.written.insert("conntrack".to_owned(), 1);
        previous.written.insert("expire_nodest_conn".to_owned(), 1);
        previous.written.insert("conn_reuse_mode".to_owned(), 0);
        let next = next_record(
            &previous,
            scope,
            &[
                // Ours and unchanged: still ours.
                ("conntrack", 1, 1, SysctlAction::InPlace),
                // Someone set 0 since; Required, so written again: ours again.
                ("expire_nodest_conn", 0, 1, SysctlAction::Write),
                ("expire_quiescent_template", 0, 1, SysctlAction::Write),
                // Someone set 1 since and we only prefer 0: theirs.
                ("conn_reuse_mode", 1, 0, SysctlAction::LeaveForeign),
            ],
        );
        let expected: BTreeMap<String, u32> = [
            ("conntrack".to_owned(), 1),
            ("expire_nodest_conn".to_owned(), 1),
            ("expire_quiescent_template".to_owned(), 1),
        ]
        .into();
        assert_eq!(next.written, expected);
        // From another scope nothing carries over but this pass's writes.
        let other = next_record(
            &previous,
            "other",
            &[("conntrack", 1, 1, SysctlAction::InPlace)],
        );
        assert!(other.written.is_empty());
    }
}
