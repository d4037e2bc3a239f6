//! The native nftables backend: one table of our own per owner (`inet lbctl`,
//! `inet lbctl_node`), replaced in one `nft -f` transaction, never touching other tables.
//!
//! Contract: reads `nft list table`, compares it with the rendered listing (each set's elements
//! in any order) and writes only when they differ (a second sync is a no-op). An empty rule set
//! deletes our table.
//!
//! Caveat (documented in docs/netfilter.md): an `accept` in our table does not stop other
//! tables' chains on the same hook, so the node bypass's FORWARD ACCEPT cannot override a
//! CNI's drop that lives in iptables' filter table; use the iptables backend on such nodes.

pub mod render;

use tracing::info;

use super::Netfilter;
use super::error::NetfilterError;
use super::outcome::{Change, SyncOutcome, TableChange};
use super::ruleset::{Owner, RuleSet};
use super::runner::ToolRunner;

/// The nftables backend (see the module docs).
#[derive(Debug, Clone)]
pub struct NftBackend {
    runner: ToolRunner,
    /// A listing read to detect nft ([`NftBackend::probe`]), used by the first comparison
    /// instead of listing the table again.
    probed: Option<(Owner, Option<String>)>,
}

impl NftBackend {
    /// A backend running `nft` through `runner`.
    pub fn new(runner: ToolRunner) -> Self {
        NftBackend {
            runner,
            probed: None,
        }
    }

    /// A backend whose first step is already done: listing `owner`'s table proves that nft
    /// and the kernel's nf_tables work (a missing table is an answer too), and the next sync
    /// compares with that listing instead of reading it again. Why: each nft run costs about
    /// half a second on a slow CPU, and `auto` would otherwise run one just to detect nft.
    pub fn probe(runner: ToolRunner, owner: Owner) -> Result<Self, NetfilterError> {
        let mut backend = NftBackend::new(runner);
        let listing = backend.list(owner)?;
        backend.probed = Some((owner, listing));
        Ok(backend)
    }

    /// Our table's current listing, or `None` when it does not exist.
    pub fn current(&mut self, owner: Owner) -> Result<Option<String>, NetfilterError> {
        match self.probed.take() {
            Some((probed, listing)) if probed == owner => Ok(listing),
            _ => self.list(owner),
        }
    }

    fn list(&self, owner: Owner) -> Result<Option<String>, NetfilterError> {
        match self.runner.run(
            "nft",
            &["-s", "list", "table", "inet", owner.nft_table()],
            None,
        ) {
            Ok(text) => Ok(Some(text)),
            Err(NetfilterError::Tool { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Compares our table with `rules` and, when `write`, replaces (or deletes) it if it
    /// differs.
    fn replace(&mut self, rules: &RuleSet, write: bool) -> Result<SyncOutcome, NetfilterError> {
        let Some(script) = render::replace_script(rules) else {
            if write {
                return self.remove(rules.owner);
            }
            let change = match self.current(rules.owner)? {
                Some(_) => Change::Removed,
                None => Change::Unchanged,
            };
            return Ok(Self::outcome(rules.owner, change, 0));
        };
        let wanted = render::table_listing(rules).unwrap_or_default();
        let current = self.current(rules.owner)?;
        if current.as_deref().map(render::comparable) == Some(render::comparable(&wanted)) {
            return Ok(Self::outcome(
                rules.owner,
                Change::Unchanged,
                rule_count(rules),
            ));
        }
        if write {
            self.runner.run("nft", &["-f", "-"], Some(&script))?;
            info!(
                table = rules.owner.nft_table(),
                rules = rule_count(rules),
                "nftables table replaced"
            );
        }
        Ok(Self::outcome(
            rules.owner,
            Change::Replaced,
            rule_count(rules),
        ))
    }

    fn outcome(owner: Owner, change: Change, rules: usize) -> SyncOutcome {
        SyncOutcome {
            backend: "nftables",
            tables: vec![TableChange {
                family: None,
                table: owner.nft_table().to_owned(),
                change,
                rules,
            }],
        }
    }
}

fn rule_count(rules: &RuleSet) -> usize {
    rules.notrack.len()
        + rules.snat.iter().map(|r| r.pool.len()).sum::<usize>()
        + rules.forward_accept.len()
}

impl Netfilter for NftBackend {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn sync(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError> {
        self.replace(rules, true)
    }

    fn check(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError> {
        self.replace(rules, false)
    }

    fn remove(&mut self, owner: Owner) -> Result<SyncOutcome, NetfilterError> {
        if self.current(owner)?.is_none() {
            return Ok(Self::outcome(owner, Change::Unchanged, 0));
        }
        self.runner
            .run("nft", &["delete", "table", "inet", owner.nft_table()], None)?;
        info!(table = owner.nft_table(), "nftables table removed");
        Ok(Self::outcome(owner, Change::Removed, 0))
    }
}
