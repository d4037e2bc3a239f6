//! What a sync or removal did, table by table: for reports, logs and metrics.
//!
//! Pure data.

use serde::Serialize;

use super::ruleset::Family;

/// What happened to one table (or the nftables table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Already as wanted (or absent and not wanted): nothing was run.
    Unchanged,
    /// Our chain(s) were replaced in one transaction.
    Replaced,
    /// Our chain(s) and jumps were removed.
    Removed,
}

/// The result for one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableChange {
    /// The family, for iptables; `None` for nftables' `inet` table (both families).
    pub family: Option<Family>,
    /// `raw`, `nat`, `filter`, or the nftables table name.
    pub table: String,
    /// What happened.
    pub change: Change,
    /// How many rules of ours the table holds now.
    pub rules: usize,
}

/// The result of one sync or removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncOutcome {
    /// The backend that did it (`iptables`, `iptables-legacy`, `nftables`).
    pub backend: &'static str,
    /// Per table.
    pub tables: Vec<TableChange>,
}

impl SyncOutcome {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.tables.iter().any(|t| t.change != Change::Unchanged)
    }

    /// Total rules of ours now installed.
    pub fn rules(&self) -> usize {
        self.tables.iter().map(|t| t.rules).sum()
    }
}
