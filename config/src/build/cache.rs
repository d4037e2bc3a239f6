//! [`BuildCache`]: the desired-state build for a caller that builds again and again from mostly
//! the same entries (the daemon, on every input change of a 10,000-key ConfigMap).
//!
//! Two levels, both giving exactly what [`build_desired_state`] gives:
//! - every key's resolution is kept while the settings are unchanged, so only changed entries
//!   are resolved again, plus those an endpoint or health change can affect (see `stale`);
//! - when only a few keys need it and none of them shares a virtual service with any other key
//!   (so the "smaller key wins" rule cannot involve them), the last outcome is patched: those
//!   keys' old services and problems out, their new ones in. Anything else (a conflict in
//!   reach, many changes, new settings, repeated keys) assembles everything again.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use super::common::Resolved;
use super::paired::paired;
use super::stale::stale_keys;
use super::{DesiredOutcome, OwnPart, assemble, insert_candidates, own_part, resolve};
use crate::endpoints::EndpointSnapshot;
use crate::entry::Entry;
use crate::health::HealthResults;
use crate::model::ServiceKey;
use crate::settings::Settings;

/// Most changed keys a build patches; more assemble everything again (a patch is per key, a
/// full assembly per ConfigMap: beyond this the assembly is the cheaper one).
const MAX_PATCHED_KEYS: usize = 64;

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct BuildCache {
    inputs: Option<(Settings, EndpointSnapshot, HealthResults)>,
    /// The resolution of every entry that was in range and allowed, by key.
    by_key: HashMap<String, (Arc<Entry>, Resolved)>,
    last: Option<LastBuild>,
    /// Keys whose cached resolution an endpoint or health change made stale.
    stale: BTreeSet<String>,
    patched: bool,
}

/// The last build, for the next one to patch.
#[derive(Debug, Clone)]
struct LastBuild {
    /// Its entries, by key (no key twice).
    entries: Vec<Arc<Entry>>,
    outcome: DesiredOutcome,
    /// For each virtual service, how many keys' error-free resolutions want it: a key whose
    /// services nobody else wants cannot be in a conflict.
    claims: HashMap<ServiceKey, u32>,
}

/// One changed key: its entry in the last build and in this one.
struct Change<'a> {
    key: &'a str,
    old: Option<&'a Arc<Entry>>,
    new: Option<&'a Arc<Entry>>,
}

impl BuildCache {
    /// [`build_desired_state`](super::build_desired_state) of `entries`, resolving only what
    /// changed and patching the last outcome when that is safe (see the module docs).
    pub fn build<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a Arc<Entry>>,
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
    ) -> DesiredOutcome {
        match &self.inputs {
            Some((s, e, h)) if s == settings => {
                if e != endpoints || h != health {
                    let stale = stale_keys(&self.by_key, (e, endpoints), (h, health));
                    self.stale.extend(stale);
                    self.inputs = Some((settings.clone(), endpoints.clone(), health.clone()));
                }
            }
            _ => {
                self.by_key.clear();
                self.last = None;
                self.stale.clear();
                self.inputs = Some((settings.clone(), endpoints.clone(), health.clone()));
            }
        }
        let mut entries: Vec<&Arc<Entry>> = entries.into_iter().collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let unique = entries.windows(2).all(|w| w[0].key != w[1].key);
        if unique && let Some(outcome) = self.patch(&entries, settings, endpoints, health) {
            self.patched = true;
            self.stale.clear();
            return outcome;
        }
        self.patched = false;
        self.assemble_all(&entries, unique, settings, endpoints, health)
    }

    /// Whether the last build patched the one before (rather than assembling every entry).
    pub fn patched(&self) -> bool {
        self.patched
    }

    /// Assembles every entry, resolving those not resolved before.
    fn assemble_all(
        &mut self,
        entries: &[&Arc<Entry>],
        unique: bool,
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
    ) -> DesiredOutcome {
        let mut previous = std::mem::take(&mut self.by_key);
        let stale = std::mem::take(&mut self.stale);
        let by_key = &mut self.by_key;
        let outcome = assemble(entries.iter().copied(), settings, |entry: &Arc<Entry>| {
            let (key, resolved) = match previous.remove_entry(&entry.key) {
                Some((key, (cached, resolved)))
                    if (Arc::ptr_eq(&cached, entry) || cached == *entry)
                        && !stale.contains(&key) =>
                {
                    (key, resolved)
                }
                _ => (
                    entry.key.clone(),
                    resolve(entry, settings, endpoints, health),
                ),
            };
            by_key.insert(key, (Arc::clone(entry), resolved.clone()));
            resolved
        });
        self.last = unique.then(|| {
            let mut claims = HashMap::new();
            for (_, resolved) in self.by_key.values() {
                add_claims(&mut claims, resolved);
            }
            LastBuild {
                entries: entries.iter().map(|e| Arc::clone(e)).collect(),
                outcome: outcome.clone(),
                claims,
            }
        });
        outcome
    }

    /// The last outcome with the changed keys replaced, or `None` when that is not safe.
    fn patch(
        &mut self,
        entries: &[&Arc<Entry>],
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
    ) -> Option<DesiredOutcome> {
        let mut last = self.last.take()?;
        let inputs = (settings, endpoints, health);
        let outcome = patch_last(&mut last, &mut self.by_key, &self.stale, entries, inputs)?;
        self.last = Some(last);
        Some(outcome)
    }
}

/// [`BuildCache::patch`] on the last build and the resolutions.
fn patch_last(
    last: &mut LastBuild,
    by_key: &mut HashMap<String, (Arc<Entry>, Resolved)>,
    stale: &BTreeSet<String>,
    entries: &[&Arc<Entry>],
    (settings, endpoints, health): (&Settings, &EndpointSnapshot, &HealthResults),
) -> Option<DesiredOutcome> {
    let changes = changed_keys(&last.entries, entries, stale)?;
    // The changed keys' parts, resolved again.
    let parts: Vec<Option<(&Arc<Entry>, OwnPart)>> = changes
        .iter()
        .map(|change| {
            change.new.map(|entry| {
                let part = own_part(entry, settings, &mut |e: &Arc<Entry>| {
                    resolve(e, settings, endpoints, health)
                });
                (entry, part)
            })
        })
        .collect();
    if !conflict_free(&last.claims, by_key, &changes, &parts) {
        return None;
    }
    let outcome = &mut last.outcome;
    let mut vips_touched: BTreeSet<IpAddr> = BTreeSet::new();
    for change in &changes {
        // The old version's services (if it was accepted) leave.
        let Some((_, resolved)) = by_key.remove(change.key) else {
            continue;
        };
        remove_claims(&mut last.claims, &resolved);
        for candidate in &resolved.candidates {
            let key = candidate.service.key;
            let owned = outcome
                .state
                .services
                .get(&key)
                .is_some_and(|s| s.origin.config_key == change.key);
            if owned {
                outcome.state.services.remove(&key);
                outcome.state.netfilter.notrack.remove(&key);
                outcome.state.netfilter.snat.remove(&key);
                vips_touched.insert(key.vip);
            }
        }
    }
    // And their problems; then the new versions' parts come in.
    let keys: BTreeSet<&str> = changes.iter().map(|c| c.key).collect();
    outcome.problems.retain(|p| !keys.contains(p.key.as_str()));
    for (entry, part) in parts.into_iter().flatten() {
        match part {
            OwnPart::Refused(problems) => outcome.problems.extend(problems),
            OwnPart::Resolved(resolved) => {
                add_claims(&mut last.claims, &resolved);
                by_key.insert(entry.key.clone(), (Arc::clone(entry), resolved.clone()));
                outcome.problems.extend(resolved.problems.iter().cloned());
                if !resolved.has_errors() {
                    insert_candidates(&mut outcome.state, resolved.candidates);
                }
            }
        }
    }
    for vip in vips_touched {
        if !outcome.state.services.keys().any(|k| k.vip == vip) {
            outcome.state.vips.remove(&vip);
        }
    }
    outcome.problems.sort();
    outcome.problems.dedup();
    let result = outcome.clone();
    last.entries = entries.iter().map(|e| Arc::clone(e)).collect();
    Some(result)
}

/// The keys whose entry differs between two key-ordered lists or whose resolution is `stale`,
/// or `None` when there are more than [`MAX_PATCHED_KEYS`].
fn changed_keys<'a>(
    old: &'a [Arc<Entry>],
    new: &[&'a Arc<Entry>],
    stale: &BTreeSet<String>,
) -> Option<Vec<Change<'a>>> {
    if stale.len() > MAX_PATCHED_KEYS {
        return None;
    }
    let mut changes = Vec::new();
    for pair in paired(old, new.iter().copied(), |o, n| o.key.cmp(&n.key)) {
        let unchanged = |o: &Arc<Entry>, n: &Arc<Entry>| {
            (Arc::ptr_eq(o, n) || o == n) && !stale.contains(&n.key)
        };
        let change = match pair {
            (Some(o), Some(n)) if unchanged(o, n) => continue,
            (old, Some(n)) => Change {
                key: &n.key,
                old,
                new: Some(n),
            },
            (Some(o), None) => Change {
                key: &o.key,
                old: Some(o),
                new: None,
            },
            // `paired` yields no pair of two nones.
            (None, None) => continue,
        };
        changes.push(change);
        if changes.len() > MAX_PATCHED_KEYS {
            return None;
        }
    }
    Some(changes)
}

/// Whether no service that a changed key wanted before or wants now is wanted by any other key
/// (nor twice among the changed keys' new versions): then no key's outcome depends on another's.
fn conflict_free(
    claims: &HashMap<ServiceKey, u32>,
    by_key: &HashMap<String, (Arc<Entry>, Resolved)>,
    changes: &[Change<'_>],
    parts: &[Option<(&Arc<Entry>, OwnPart)>],
) -> bool {
    // Claims of the changed keys' old versions, to tell them from everybody else's.
    let mut own_old: HashMap<ServiceKey, u32> = HashMap::new();
    for change in changes {
        if let Some((cached, resolved)) = by_key.get(change.key) {
            // The cache must hold the old version (it always does; if not, do not guess).
            if change
                .old
                .is_none_or(|old| !Arc::ptr_eq(old, cached) && old != cached)
            {
                return false;
            }
            add_claims(&mut own_old, resolved);
        }
    }
    let others = |key: &ServiceKey| {
        let all = claims.get(key).copied().unwrap_or(0);
        all.saturating_sub(own_old.get(key).copied().unwrap_or(0))
    };
    if own_old.keys().any(|k| others(k) > 0) {
        return false;
    }
    let mut wanted_now: HashMap<ServiceKey, u32> = HashMap::new();
    for (_, part) in parts.iter().flatten() {
        if let OwnPart::Resolved(resolved) = part {
            add_claims(&mut wanted_now, resolved);
        }
    }
    wanted_now.iter().all(|(k, n)| *n == 1 && others(k) == 0)
}

/// Counts the services an error-free resolution wants.
fn add_claims(claims: &mut HashMap<ServiceKey, u32>, resolved: &Resolved) {
    if resolved.has_errors() {
        return;
    }
    for candidate in &resolved.candidates {
        *claims.entry(candidate.service.key).or_insert(0) += 1;
    }
}

/// Uncounts what [`add_claims`] counted.
fn remove_claims(claims: &mut HashMap<ServiceKey, u32>, resolved: &Resolved) {
    if resolved.has_errors() {
        return;
    }
    for candidate in &resolved.candidates {
        let key = candidate.service.key;
        match claims.get_mut(&key) {
            Some(count) if *count > 1 => *count -= 1,
            _ => {
                claims.remove(&key);
            }
        }
    }
}
