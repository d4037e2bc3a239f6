//! Netfilter rules of the director and the nodes: conntrack bypass (NOTRACK) and FullNAT's SNAT.
//!
//! Contract:
//! - Rendering is pure: [`director::director_rules`] and [`node_bypass::node_bypass_rules`]
//!   build a backend-neutral [`RuleSet`]; [`iptables::render`] and [`nft::render`] turn it into
//!   tool text. No I/O, no clock.
//! - All netfilter I/O goes through the [`Netfilter`] trait, implemented by
//!   [`IptablesBackend`] (`iptables-restore --noflush`, system or legacy) and [`NftBackend`]
//!   (`nft -f`), which spawn tools through a [`ToolRunner`].
//! - Our rules live only in chains (or an nftables table) of our own, hooked by one jump rule
//!   each; a sync replaces them in one transaction per table, skips the write when the kernel
//!   already matches, and never edits anyone else's rules.

mod child;
pub mod conntrack_stats;
pub mod detect;
pub mod director;
pub mod error;
pub mod iptables;
pub mod nft;
pub mod node_bypass;
pub mod outcome;
pub mod ruleset;
pub mod runner;

pub use conntrack_stats::{ConntrackStats, read_conntrack_stats};
pub use detect::backend_for;
pub use director::{DirectorRules, director_rules, needs_vs_conntrack};
pub use error::NetfilterError;
pub use iptables::{IptablesBackend, IptablesVariant};
pub use nft::NftBackend;
pub use node_bypass::node_bypass_rules;
pub use outcome::{Change, SyncOutcome, TableChange};
pub use ruleset::{Family, Owner, RuleSet, Selector, SnatRule};
pub use runner::{DEFAULT_TOOL_TIMEOUT, ToolRunner};

/// The netfilter boundary: installs one owner's rule set, or removes it.
///
/// Why a trait: the daemon, `lbctl apply`, `cleanup` and `node-bypass` do not care which tool
/// writes the rules, and tests can substitute a backend.
pub trait Netfilter {
    /// The backend's name for reports (`iptables`, `iptables-legacy`, `nftables`).
    fn name(&self) -> &'static str;

    /// Makes the kernel hold exactly `rules` for `rules.owner`: compares first and writes only
    /// what differs, atomically per table. An empty rule set removes the owner's rules.
    fn sync(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError>;

    /// What [`Netfilter::sync`] would do, without writing anything: the same comparison, with
    /// each table's [`Change`] saying what a sync would make of it (`lbctl diff`).
    fn check(&mut self, rules: &RuleSet) -> Result<SyncOutcome, NetfilterError>;

    /// Removes every chain, jump or table `owner` installed, and nothing else.
    fn remove(&mut self, owner: Owner) -> Result<SyncOutcome, NetfilterError>;
}
