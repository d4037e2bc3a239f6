//! The desired-state builder: entries + settings + endpoints + health -> [`DesiredState`].
//!
//! Pure and order-independent: entries are processed sorted by key, every collection is ordered,
//! problems are sorted. Rules, in order, per entry: the VIP must be in the managed ranges; the
//! entry may ask only for what the settings allow (exec programs, SNAT sources: see
//! [`crate::policy`]); the entry must resolve without errors; and none of its virtual services may already belong to a
//! key that sorts earlier (the lexicographically smaller key wins a conflict, the other key is
//! rejected with a problem naming both). A rejected key contributes nothing.

mod common;
mod service_entry;
mod static_entry;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use self::common::Resolved;
use crate::configmap::render_entry;
use crate::desired::DesiredState;
use crate::endpoints::EndpointSnapshot;
use crate::entry::{Entry, Target};
use crate::health::HealthResults;
use crate::model::{ForwardMethod, ServiceKey};
use crate::policy::entry_policy_problems;
use crate::problem::Problem;
use crate::settings::Settings;

/// The desired state and every problem met while building it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredOutcome {
    /// What the director should program.
    pub state: DesiredState,
    /// Problems (errors name keys that were left out), sorted.
    pub problems: Vec<Problem>,
}

impl DesiredOutcome {
    /// Keys rejected by an error: the daemon may keep their last good version instead.
    pub fn rejected_keys(&self) -> BTreeSet<&str> {
        self.problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| p.key.as_str())
            .collect()
    }
}

/// Builds the desired state from parsed entries (see the module docs for the rules).
pub fn build_desired_state(
    entries: &[Entry],
    settings: &Settings,
    endpoints: &EndpointSnapshot,
    health: &HealthResults,
) -> DesiredOutcome {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    // By key, then (only for entries that share a key, which a ConfigMap never has) by their
    // rendered text: rendering every entry to sort 10,000 distinct keys cost more than the rest
    // of the build.
    sorted.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| render_entry(a).cmp(&render_entry(b)))
    });

    let mut outcome = DesiredOutcome::default();
    // Borrowed keys: the owner is named only in a conflict, so no key is copied for the map.
    let mut owners: BTreeMap<ServiceKey, &str> = BTreeMap::new();
    for entry in sorted {
        if !settings.manages(entry.vip) {
            outcome.problems.push(outside_ranges(entry, settings));
            continue;
        }
        let refused = entry_policy_problems(entry, settings);
        if !refused.is_empty() {
            outcome.problems.extend(refused);
            continue;
        }
        let mut resolved = resolve(entry, settings, endpoints, health);
        if !resolved.has_errors()
            && let Some((key, owner)) = resolved
                .candidates
                .iter()
                .find_map(|c| owners.get(&c.service.key).map(|o| (c.service.key, o)))
        {
            resolved.problems.push(Problem::error(
                &entry.key,
                None,
                format!(
                    "{key} is also defined by key {owner}; the lexicographically smaller key \
                     wins, so key {} is ignored",
                    entry.key
                ),
            ));
        }
        let rejected = resolved.has_errors();
        outcome.problems.append(&mut resolved.problems);
        if rejected {
            continue;
        }
        for candidate in resolved.candidates {
            let key = candidate.service.key;
            owners.insert(key, &entry.key);
            outcome.state.vips.insert(key.vip);
            let net = &mut outcome.state.netfilter;
            match (candidate.service.forward, candidate.snat_pool) {
                (ForwardMethod::Fullnat, Some(pool)) => {
                    net.snat.insert(key, pool);
                }
                (ForwardMethod::Fullnat, None) => {}
                _ => {
                    net.notrack.insert(key);
                }
            }
            outcome.state.services.insert(key, candidate.service);
        }
    }
    outcome.problems.sort();
    outcome.problems.dedup();
    outcome
}

fn resolve(
    entry: &Entry,
    settings: &Settings,
    endpoints: &EndpointSnapshot,
    health: &HealthResults,
) -> Resolved {
    match &entry.target {
        Target::Static {
            port,
            protocol,
            real_servers,
        } => static_entry::resolve_static(entry, *port, *protocol, real_servers, settings, health),
        Target::Service { service, protocol } => {
            service_entry::resolve_service(entry, service, *protocol, settings, endpoints, health)
        }
    }
}

fn outside_ranges(entry: &Entry, settings: &Settings) -> Problem {
    let message = if settings.managed_vip_ranges.is_empty() {
        format!(
            "VIP {vip} is not managed: the settings have no managed_vip_ranges, so no VIP is \
             managed; add a range that holds it, e.g. managed_vip_ranges = [\"{vip}/{host}\"]",
            vip = entry.vip,
            host = if entry.vip.is_ipv4() { 32 } else { 128 }
        )
    } else {
        let ranges: Vec<String> = settings
            .managed_vip_ranges
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "VIP {} is outside the managed VIP ranges ({})",
            entry.vip,
            ranges.join(", ")
        )
    };
    Problem::error(&entry.key, None, message)
}
