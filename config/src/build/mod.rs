//! The desired-state builder: entries + settings + endpoints + health -> [`DesiredState`].
//!
//! Pure and order-independent: entries are processed sorted by key, every collection is ordered,
//! problems are sorted. Rules, in order, per entry: the VIP must be in the managed ranges; the
//! entry may ask only for what the settings allow (exec programs, SNAT sources: see
//! [`crate::policy`]); the entry must resolve without errors; and none of its virtual services may already belong to a
//! key that sorts earlier (the lexicographically smaller key wins a conflict, the other key is
//! rejected with a problem naming both). A rejected key contributes nothing.

mod cache;
mod common;
mod paired;
mod service_entry;
mod stale;
mod static_entry;

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::cache::BuildCache;
use self::common::{Candidate, Resolved};
use crate::configmap::render_entry;
use crate::desired::DesiredState;
use crate::endpoints::EndpointSnapshot;
use crate::entry::{Entry, Target};
use crate::health::HealthResults;
use crate::model::ForwardMethod;
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
    assemble(entries, settings, |entry: &Entry| {
        resolve(entry, settings, endpoints, health)
    })
}

/// [`build_desired_state`] over shared entries, for a caller that builds once: the same
/// outcome as a fresh [`BuildCache`], without filling a cache (copies of every key, resolution
/// and the whole outcome) that would be dropped unread (`lbctl apply` and `diff`).
pub fn build_desired_state_shared<'a>(
    entries: impl IntoIterator<Item = &'a Arc<Entry>>,
    settings: &Settings,
    endpoints: &EndpointSnapshot,
    health: &HealthResults,
) -> DesiredOutcome {
    assemble(entries, settings, |entry: &Arc<Entry>| {
        resolve(entry, settings, endpoints, health)
    })
}

/// The build's rules over resolved entries (see the module docs); `resolve` is asked only for
/// entries inside the managed ranges that pass the settings' policy.
pub(super) fn assemble<'a, E: Borrow<Entry> + 'a>(
    entries: impl IntoIterator<Item = &'a E>,
    settings: &Settings,
    mut resolve: impl FnMut(&E) -> Resolved,
) -> DesiredOutcome {
    let mut sorted: Vec<&E> = entries.into_iter().collect();
    // By key, then (only for entries that share a key, which a ConfigMap never has) by their
    // rendered text: rendering every entry to sort 10,000 distinct keys cost more than the rest
    // of the build.
    sorted.sort_by(|a, b| {
        let (a, b): (&Entry, &Entry) = ((*a).borrow(), (*b).borrow());
        a.key
            .cmp(&b.key)
            .then_with(|| render_entry(a).cmp(&render_entry(b)))
    });

    let mut outcome = DesiredOutcome::default();
    for item in sorted {
        let entry: &Entry = item.borrow();
        let mut resolved = match own_part(item, settings, &mut resolve) {
            OwnPart::Refused(problems) => {
                outcome.problems.extend(problems);
                continue;
            }
            OwnPart::Resolved(resolved) => resolved,
        };
        // The owner of a service is the key whose entry put it in the state (its origin): the
        // state's own map answers, no second map of 10,000 owners is kept beside it.
        if !resolved.has_errors()
            && let Some((key, owner)) = resolved.candidates.iter().find_map(|c| {
                let owner = outcome.state.services.get(&c.service.key)?;
                Some((c.service.key, &owner.origin.config_key))
            })
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
        insert_candidates(&mut outcome.state, resolved.candidates);
    }
    outcome.problems.sort();
    outcome.problems.dedup();
    outcome
}

/// An entry's part of a build before conflicts with other keys.
pub(super) enum OwnPart {
    /// Outside the managed ranges or refused by the settings' policy: problems only.
    Refused(Vec<Problem>),
    /// Resolved (its errors, if any, reject it).
    Resolved(Resolved),
}

/// The scope and policy checks, then `resolve`: what an entry gives on its own.
pub(super) fn own_part<E: Borrow<Entry>>(
    item: &E,
    settings: &Settings,
    resolve: &mut impl FnMut(&E) -> Resolved,
) -> OwnPart {
    let entry: &Entry = item.borrow();
    if !settings.manages(entry.vip) {
        return OwnPart::Refused(vec![outside_ranges(entry, settings)]);
    }
    let refused = entry_policy_problems(entry, settings);
    if !refused.is_empty() {
        return OwnPart::Refused(refused);
    }
    OwnPart::Resolved(resolve(item))
}

/// Adds an accepted entry's virtual services, their VIPs and netfilter intents.
pub(super) fn insert_candidates(state: &mut DesiredState, candidates: Vec<Candidate>) {
    for candidate in candidates {
        let key = candidate.service.key;
        state.vips.insert(key.vip);
        let net = &mut state.netfilter;
        match (candidate.service.forward, candidate.snat_pool) {
            (ForwardMethod::Fullnat, Some(pool)) => {
                net.snat.insert(key, pool);
            }
            (ForwardMethod::Fullnat, None) => {}
            _ => {
                net.notrack.insert(key);
            }
        }
        state.services.insert(key, candidate.service);
    }
}

pub(super) fn resolve(
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
