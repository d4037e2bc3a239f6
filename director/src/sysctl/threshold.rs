//! `net.ipv4.vs.sync_threshold`: the one IPVS sysctl with two numbers ("3 50": a connection is
//! sent to the backups once it has seen `threshold` packets, then every `period` packets), so
//! it does not fit the single-value ownership rules of [`super::ownership`]. Only written
//! when `[failover.connection_sync] sync_threshold` names both numbers (the operator asked:
//! written over any value); unset, it is never touched.

// I/O room (see clippy.toml): writes the sysctl file (the read is `read_parsed`'s).
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use serde::Serialize;

use super::{SysctlAction, path_of, read_parsed};
use crate::netfilter::NetfilterError;

const NAME: &str = "sync_threshold";

/// What happened (or would happen) to `net.ipv4.vs.sync_threshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThresholdChange {
    /// `[threshold, period]` before.
    pub before: [u32; 2],
    /// `[threshold, period]` after (for a check: what a sync would leave).
    pub after: [u32; 2],
    /// What lbctl did: in place, written, or not managed.
    pub action: SysctlAction,
}

/// Parses the file's text: two integers separated by white space.
fn parse(text: &str) -> Option<[u32; 2]> {
    let mut numbers = text.split_whitespace().map(str::parse::<u32>);
    match (numbers.next(), numbers.next(), numbers.next()) {
        (Some(Ok(threshold)), Some(Ok(period)), None) => Some([threshold, period]),
        _ => None,
    }
}

/// Brings the sysctl below `root` to `wanted` (`None`: leaves it alone and reports nothing);
/// `write` false or `manage` false only reports.
pub fn sync_threshold(
    root: &Path,
    wanted: Option<[u32; 2]>,
    manage: bool,
    write: bool,
) -> Result<Option<ThresholdChange>, NetfilterError> {
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    let before = read_parsed(root, NAME, "two integers", parse)?;
    let action = if before == wanted {
        SysctlAction::InPlace
    } else if manage {
        SysctlAction::Write
    } else {
        SysctlAction::NotManaged
    };
    let mut after = before;
    if action == SysctlAction::Write {
        after = wanted;
        if write {
            let line = format!("{} {}\n", wanted[0], wanted[1]);
            let path = path_of(root, NAME);
            std::fs::write(&path, line).map_err(|cause| NetfilterError::Proc { path, cause })?;
            tracing::info!(
                sysctl = NAME,
                before = ?before,
                after = ?wanted,
                "IPVS sysctl set ([failover.connection_sync] sync_threshold)"
            );
        }
    }
    Ok(Some(ThresholdChange {
        before,
        after,
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4/vs")).unwrap();
        std::fs::write(dir.path().join("net/ipv4/vs/sync_threshold"), text).unwrap();
        dir
    }

    fn read(dir: &tempfile::TempDir) -> String {
        std::fs::read_to_string(dir.path().join("net/ipv4/vs/sync_threshold")).unwrap()
    }

    #[test]
    fn written_only_when_asked_and_different() {
        // Mutation: writing without `wanted` (or comparing one number only) changes a value
        // nobody configured; skipping the write leaves the kernel's 3 50.
        let dir = root("3\t50\n");
        assert_eq!(sync_threshold(dir.path(), None, true, true).unwrap(), None);
        let change = sync_threshold(dir.path(), Some([3, 100]), true, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            (change.before, change.after, change.action),
            ([3, 50], [3, 100], SysctlAction::Write)
        );
        assert_eq!(read(&dir), "3 100\n");
        let again = sync_threshold(dir.path(), Some([3, 100]), true, true)
            .unwrap()
            .unwrap();
        assert_eq!(again.action, SysctlAction::InPlace);
    }

    #[test]
    fn unmanaged_and_checks_write_nothing_and_garbage_is_an_error() {
        let dir = root("3\t50\n");
        let unmanaged = sync_threshold(dir.path(), Some([2, 10]), false, true)
            .unwrap()
            .unwrap();
        assert_eq!(unmanaged.action, SysctlAction::NotManaged);
        let check = sync_threshold(dir.path(), Some([2, 10]), true, false)
            .unwrap()
            .unwrap();
        assert_eq!(check.after, [2, 10]);
        assert_eq!(read(&dir), "3\t50\n");
        let bad = root("3\n");
        assert!(sync_threshold(bad.path(), Some([2, 10]), true, true).is_err());
    }
}
