//! The iptables backend: our chains replaced through `iptables-restore --noflush`, one
//! transaction per table, for IPv4 and IPv6, with the system's iptables or `iptables-legacy`.
//!
//! Contract: reads with `*-save -t TABLE`, compares with the rendered rules, and runs a restore
//! only when they differ, so a second sync is a no-op. Never flushes a table and never names a
//! foreign rule; see [`plan`] for the exact transaction.

pub mod plan;
pub mod render;
pub mod save;

use tracing::{info, warn};

use super::Netfilter;
use super::error::NetfilterError;
use super::outcome::{Change, SyncOutcome, TableChange};
use super::ruleset::{Family, Owner, RuleSet};
use super::runner::ToolRunner;
use render::{TableSpec, owner_tables, table_specs};

/// Which iptables binaries to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IptablesVariant {
    /// `iptables-restore`: whatever the system's iptables is (nf_tables or legacy).
    System,
    /// `iptables-legacy-restore`: the x_tables kernel interface explicitly.
    Legacy,
}

impl IptablesVariant {
    /// The backend name in reports.
    pub fn name(self) -> &'static str {
        match self {
            IptablesVariant::System => "iptables",
            IptablesVariant::Legacy => "iptables-legacy",
        }
    }

    fn tool(self, family: Family, verb: &str) -> String {
        let base = match family {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        };
        match self {
            IptablesVariant::System => format!("{base}-{verb}"),
            IptablesVariant::Legacy => format!("{base}-legacy-{verb}"),
        }
    }
}

/// Seconds `iptables-restore -w` waits for the xtables lock held by another tool.
const LOCK_WAIT_SECS: &str = "10";

/// The iptables backend (see the module docs).
#[derive(Debug, Clone)]
pub struct IptablesBackend {
    variant: IptablesVariant,
    runner: ToolRunner,
}

impl IptablesBackend {
    /// A backend using `variant`'s tools through `runner`.
    pub fn new(variant: IptablesVariant, runner: ToolRunner) -> Self {
        IptablesBackend { variant, runner }
    }

    /// Whether reading `spec`'s table could create it as a side effect that we must avoid: the
    /// legacy tools instantiate a table when they read it, after which iptables-nft warns about
    /// "legacy tables present" forever. A legacy table not listed in
    /// `/proc/net/ip{,6}_tables_names` holds nothing of ours and is not read when we want no
    /// rules there.
    fn skip_absent_legacy(&self, spec: &TableSpec) -> bool {
        if self.variant != IptablesVariant::Legacy || !spec.rules.is_empty() {
            return false;
        }
        let names = match spec.family {
            Family::V4 => "/proc/net/ip_tables_names",
            Family::V6 => "/proc/net/ip6_tables_names",
        };
        match self.runner.run("cat", &[names], None) {
            Ok(text) => !text.lines().any(|line| line.trim() == spec.table),
            // No x_tables at all: nothing can be there.
            Err(_) => true,
        }
    }

    /// Reads one table; a table the kernel does not have yet reads as empty.
    fn read(&self, spec: &TableSpec) -> Result<save::TableState, NetfilterError> {
        if self.skip_absent_legacy(spec) {
            return Ok(save::TableState::default());
        }
        let tool = self.variant.tool(spec.family, "save");
        match self.runner.run(&tool, &["-t", spec.table], None) {
            Ok(text) => Ok(save::parse_table(&text, spec.table)),
            Err(NetfilterError::Tool { stderr, .. }) => {
                warn!(tool, table = spec.table, %stderr, "cannot read table; treating it as empty");
                Ok(save::TableState::default())
            }
            Err(other) => Err(other),
        }
    }

    /// Compares each table with `specs` and, when `write`, restores those that differ.
    fn apply_specs(
        &mut self,
        specs: &[TableSpec],
        write: bool,
    ) -> Result<SyncOutcome, NetfilterError> {
        let mut tables = Vec::new();
        for spec in specs {
            let current = self.read(spec)?;
            let change = match plan::restore_input(spec, &current) {
                None => Change::Unchanged,
                Some(input) => {
                    let change = if spec.rules.is_empty() {
                        Change::Removed
                    } else {
                        Change::Replaced
                    };
                    if write {
                        let tool = self.variant.tool(spec.family, "restore");
                        self.runner.run(
                            &tool,
                            &["--noflush", "-w", LOCK_WAIT_SECS],
                            Some(&input),
                        )?;
                        info!(
                            tool,
                            table = spec.table,
                            chain = spec.chain,
                            rules = spec.rules.len(),
                            ?change,
                            "netfilter chain written"
                        );
                    }
                    change
                }
            };
            tables.push(TableChange {
                family: Some(spec.family),
                table: spec.table.to_owned(),
                change,
                rules: spec.rules.len(),
            });
        }
        Ok(SyncOutcome {
            backend: self.variant.name(),
            tables,
        })
    }
}

impl Netfilter for IptablesBackend {
    fn name(&self) -> &'static str {
        self.variant.name()
    }

    fn sync(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError> {
        self.apply_specs(&table_specs(rules), true)
    }

    fn check(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError> {
        self.apply_specs(&table_specs(rules), false)
    }

    fn remove(&mut self, owner: Owner) -> Result<SyncOutcome, NetfilterError> {
        self.apply_specs(&owner_tables(owner), true)
    }
}
