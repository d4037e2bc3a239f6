//! Parsing `iptables-save -t TABLE` output into chains and rules.
//!
//! Pure: text in, data out. Counters and comments lines are ignored; rule lines keep the exact
//! spelling the tool printed (minus `-A CHAIN `), which is what our renderer produces.

use std::collections::{BTreeMap, BTreeSet};

/// One table as `iptables-save` showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    /// Every chain, built-in or user-defined.
    pub chains: BTreeSet<String>,
    /// Rule bodies per chain, in order.
    pub rules: BTreeMap<String, Vec<String>>,
}

impl TableState {
    /// The rules of a chain (empty when the chain has none or does not exist).
    pub fn rules_of(&self, chain: &str) -> &[String] {
        self.rules.get(chain).map_or(&[], Vec::as_slice)
    }

    /// How many rules of `builtin` are exactly `body`.
    pub fn count(&self, builtin: &str, body: &str) -> usize {
        self.rules_of(builtin).iter().filter(|r| *r == body).count()
    }
}

/// Parses the section of `table` in `iptables-save` output; a missing section is an empty table.
pub fn parse_table(text: &str, table: &str) -> TableState {
    let mut state = TableState::default();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            inside = name == table;
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "COMMIT" {
            inside = false;
        } else if let Some(decl) = line.strip_prefix(':') {
            if let Some(name) = decl.split_whitespace().next() {
                state.chains.insert(name.to_owned());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, body) = rule.split_once(' ').unwrap_or((rule, ""));
            state
                .rules
                .entry(chain.to_owned())
                .or_default()
                .push(body.to_owned());
        }
    }
    state
}
