//! Chooses the backend from the settings, detecting one for `auto`.
//!
//! Contract: `auto` on a director prefers native nftables (our own table, independent of
//! whatever else the host runs) and falls back to the system's iptables; on a node it prefers
//! iptables, because the FORWARD ACCEPT must live in the same filter table as the CNI's chains to
//! take effect (see the nft module docs). Detection runs the tools' harmless read commands: on
//! a director, the listing of our own nft table (which the sync then reuses), on a node
//! `nft list tables`; and `iptables-restore --version`.

use lb_config::NetfilterBackend;
use tracing::debug;

use super::Netfilter;
use super::error::NetfilterError;
use super::iptables::{IptablesBackend, IptablesVariant};
use super::nft::NftBackend;
use super::ruleset::Owner;
use super::runner::ToolRunner;

/// The backend for `choice`, or `None` for `none` (the operator manages these rules).
pub fn backend_for(
    choice: NetfilterBackend,
    owner: Owner,
    runner: ToolRunner,
) -> Result<Option<Box<dyn Netfilter + Send>>, NetfilterError> {
    let backend: Box<dyn Netfilter + Send> = match choice {
        NetfilterBackend::Disabled => return Ok(None),
        NetfilterBackend::Iptables => {
            Box::new(IptablesBackend::new(IptablesVariant::System, runner))
        }
        NetfilterBackend::IptablesLegacy => {
            Box::new(IptablesBackend::new(IptablesVariant::Legacy, runner))
        }
        NetfilterBackend::Nftables => Box::new(NftBackend::new(runner)),
        NetfilterBackend::Auto => detect(owner, runner)?,
    };
    Ok(Some(backend))
}

/// Detects a working backend for `owner` (see the module docs for the order).
pub fn detect(
    owner: Owner,
    runner: ToolRunner,
) -> Result<Box<dyn Netfilter + Send>, NetfilterError> {
    if owner == Owner::Director {
        // Listing our own table is the detection: it succeeds (or finds no table) exactly
        // when nft and nf_tables work, and the sync that follows reuses the listing.
        let nft = NftBackend::probe(runner.clone(), owner);
        debug!(nft_ok = nft.is_ok(), ?owner, "netfilter backend detection");
        return match nft {
            Ok(backend) => Ok(Box::new(backend)),
            Err(nft) => match runner.run("iptables-restore", &["--version"], None) {
                Ok(_) => Ok(system_iptables(runner)),
                Err(iptables) => Err(no_backend(&nft, &iptables)),
            },
        };
    }
    let nft = runner.run("nft", &["list", "tables"], None);
    let iptables = runner.run("iptables-restore", &["--version"], None);
    debug!(
        nft_ok = nft.is_ok(),
        iptables_ok = iptables.is_ok(),
        ?owner,
        "netfilter backend detection"
    );
    match (nft, iptables) {
        (_, Ok(_)) => Ok(system_iptables(runner)),
        (Ok(_), Err(_)) => Ok(Box::new(NftBackend::new(runner))),
        (Err(nft), Err(iptables)) => Err(no_backend(&nft, &iptables)),
    }
}

/// The system's iptables (iptables-nft or legacy, whichever `iptables-restore` is).
fn system_iptables(runner: ToolRunner) -> Box<dyn Netfilter + Send> {
    Box::new(IptablesBackend::new(IptablesVariant::System, runner))
}

/// Neither tool works: both failures, for the operator.
fn no_backend(nft: &NetfilterError, iptables: &NetfilterError) -> NetfilterError {
    NetfilterError::NoBackend {
        detail: format!("nft: {nft}; iptables-restore: {iptables}"),
    }
}

#[cfg(test)]
mod tests {
    // Tests write scripted tools to a temporary directory and run them.
    #![allow(clippy::disallowed_methods, clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use lb_config::{Protocol, ServiceKey};

    use super::*;
    use crate::netfilter::nft::render::table_listing;
    use crate::netfilter::ruleset::{RuleSet, Selector};

    /// `nft` and `iptables-restore` as shell scripts in `dir` that log their arguments to
    /// `dir/calls`; the runner finds them first on its PATH.
    fn tools(dir: &Path, nft: &str, iptables: &str) -> ToolRunner {
        for (name, body) in [("nft", nft), ("iptables-restore", iptables)] {
            let path = dir.join(name);
            let script = format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}/calls'\n{body}\n",
                dir.display()
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        ToolRunner::with_prefix([
            "env".to_owned(),
            format!("PATH={}:/usr/bin:/bin", dir.display()),
        ])
    }

    fn calls(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rules() -> RuleSet {
        let key = ServiceKey {
            vip: "10.0.0.100".parse().unwrap(),
            port: 80,
            protocol: Protocol::Tcp,
        };
        RuleSet {
            notrack: vec![Selector::to_service(&key)],
            ..RuleSet::empty(Owner::Director)
        }
    }

    /// On a director, listing our own table is the detection and the sync's first read: an
    /// unchanged table costs one nft run. Mutation: a sync that lists again (the probe's
    /// listing not reused) makes two.
    #[test]
    fn a_director_detects_nft_with_the_listing_its_sync_reuses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("listing"), table_listing(&rules()).unwrap()).unwrap();
        let nft = format!(
            "[ \"$1 $2 $3\" = '-s list table' ] && exec cat '{}/listing'\nexit 1",
            dir.path().display()
        );
        let runner = tools(dir.path(), &nft, "echo v1.8.9");
        let mut backend = detect(Owner::Director, runner).unwrap();
        assert_eq!(backend.name(), "nftables");
        let outcome = backend.sync(&rules()).unwrap();
        assert!(!outcome.changed(), "{outcome:?}");
        assert_eq!(calls(dir.path()), ["nft -s list table inet lbctl"]);
    }

    /// A missing table is an answer (nft works); a refusal of nf_tables is not, and the
    /// director falls back to iptables.
    #[test]
    fn a_director_falls_back_to_iptables_only_when_nft_fails() {
        let dir = tempfile::tempdir().unwrap();
        let missing = "echo 'Error: No such file or directory' >&2; exit 1";
        let runner = tools(dir.path(), missing, "echo v1.8.9");
        assert_eq!(detect(Owner::Director, runner).unwrap().name(), "nftables");

        let dir = tempfile::tempdir().unwrap();
        let refused = "echo 'Error: Could not process rule: Operation not supported' >&2; exit 1";
        let runner = tools(dir.path(), refused, "echo v1.8.9");
        assert_eq!(detect(Owner::Director, runner).unwrap().name(), "iptables");

        let dir = tempfile::tempdir().unwrap();
        let runner = tools(dir.path(), refused, "exit 1");
        assert!(matches!(
            detect(Owner::Director, runner),
            Err(NetfilterError::NoBackend { .. })
        ));
    }

    /// A node prefers iptables while it works, nft otherwise.
    #[test]
    fn a_node_prefers_iptables() {
        let dir = tempfile::tempdir().unwrap();
        let runner = tools(dir.path(), "exit 0", "echo v1.8.9");
        assert_eq!(
            detect(Owner::NodeBypass, runner).unwrap().name(),
            "iptables"
        );
        let dir = tempfile::tempdir().unwrap();
        let runner = tools(dir.path(), "exit 0", "exit 1");
        assert_eq!(
            detect(Owner::NodeBypass, runner).unwrap().name(),
            "nftables"
        );
    }
}
