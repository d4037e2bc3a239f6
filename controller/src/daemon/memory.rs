//! Keep the last good state, key by key: the desired-state build of the daemon.
//!
//! Pure: no I/O, no clock (the caller passes `now`). A key whose new value does not parse, or
//! whose new version the builder rejects, keeps the version that last built cleanly; a key
//! that is gone from the ConfigMap is gone (removing a key is how operators remove a VIP). An
//! absent ConfigMap keeps every remembered key when `keep_on_absent` (the default), else means
//! "no entries" (the delete guard still holds back a mass removal). An unreadable document
//! keeps everything.
//!
//! The remembered versions are persisted (their values as written, [`KeyMemory::versions`],
//! written to the state file by the pass) and seeded back at start ([`KeyMemory::seed`]), so a
//! restart while a key is invalid serves that key's last good version as if the daemon had
//! never stopped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lb_config::{
    BuildCache, DesiredOutcome, EndpointSnapshot, Entry, HealthResults, Problem, Settings,
    build_desired_state_shared, parse_entry,
};
use lb_director::sync::persisted::{KeptVersion, KeptVersions};

use super::input::ConfigInput;
use super::status::{KeptFrom, KeptKey};

/// The last good version of every key.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyMemory {
    good: BTreeMap<String, Good>,
    /// Keys served from their kept version now, and since when.
    kept_since: BTreeMap<String, u64>,
    /// `good` as the state file holds it; a new `Arc` only when a version changed.
    versions: Arc<KeptVersions>,
    /// Each key's resolution at the last build: an edit of one key re-resolves only that key.
    cache: BuildCache,
    /// Built once and dropped (`lbctl apply`, `diff`): no cache to fill for a next build.
    once: bool,
}

/// One remembered version.
#[derive(Debug, Clone)]
struct Good {
    entry: Arc<Entry>,
    /// The value as written (what the state file keeps).
    value: Arc<str>,
    /// When this value first built cleanly.
    since: u64,
    from: KeptFrom,
}

/// One build and what it says about the ConfigMap.
#[derive(Debug, Clone)]
pub(crate) struct BuildResult {
    /// The desired state and the builder's problems.
    pub(crate) outcome: DesiredOutcome,
    /// Source problems and builder problems, sorted, de-duplicated.
    pub(crate) problems: Vec<Problem>,
    /// Keys running on their last good version because the current one is rejected, by key.
    pub(crate) kept: Vec<KeptKey>,
    /// Those of `kept` that were not kept at the previous build (to report once).
    pub(crate) newly_kept: Vec<KeptKey>,
    /// Whether the whole ConfigMap was kept (absent or unreadable).
    pub(crate) kept_all: bool,
}

/// A key's entry in a build: its current version, or the one kept for it.
#[derive(Debug, Clone)]
enum Pick {
    Fresh(Arc<Entry>),
    Kept(Arc<Entry>),
}

impl Pick {
    fn entry(&self) -> &Arc<Entry> {
        match self {
            Pick::Fresh(e) | Pick::Kept(e) => e,
        }
    }
}

impl KeyMemory {
    /// A memory for one build (the caller drops it after): the same results as
    /// [`KeyMemory::default`], without the build cache that only a next build would read.
    pub(crate) fn for_one_build() -> Self {
        KeyMemory {
            once: true,
            ..KeyMemory::default()
        }
    }

    /// Remembers the versions a state file holds (at start, before the first build). Returns
    /// the keys skipped because their persisted value does not parse any more (e.g. written
    /// by another lbctl version), with the problems found.
    pub(crate) fn seed(&mut self, versions: &Arc<KeptVersions>) -> Vec<(String, Vec<Problem>)> {
        let mut skipped = Vec::new();
        for (key, version) in versions.iter() {
            match parse_entry(key, &version.value) {
                (Some(entry), _) => {
                    self.good.insert(
                        key.clone(),
                        Good {
                            entry: Arc::new(entry),
                            value: version.value.clone(),
                            since: version.since,
                            from: KeptFrom::StateFile,
                        },
                    );
                }
                (None, problems) => skipped.push((key.clone(), problems)),
            }
        }
        // What the file holds: the first build rewrites it only when something changes.
        self.versions = Arc::clone(versions);
        skipped
    }

    /// The remembered versions as the state file keeps them.
    pub(crate) fn versions(&self) -> Arc<KeptVersions> {
        Arc::clone(&self.versions)
    }

    /// Builds the desired state from `input`, substituting last good versions, and remembers
    /// the versions that built cleanly; `now`: seconds since the Unix epoch.
    pub(crate) fn build(
        &mut self,
        input: &ConfigInput,
        keep_on_absent: bool,
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
        now: u64,
    ) -> BuildResult {
        let (mut chosen, kept_all) = match input {
            ConfigInput::Present {
                entries, values, ..
            } => {
                // Both in key order: one merge; the keys are borrowed from the input.
                let mut fresh = entries.iter().peekable();
                let chosen: BTreeMap<Cow<'_, str>, Pick> = values
                    .keys()
                    .filter_map(|key| {
                        while fresh.next_if(|e| e.key < *key).is_some() {}
                        let pick = match fresh.next_if(|e| e.key == *key) {
                            Some(e) => Pick::Fresh(Arc::clone(e)),
                            None => Pick::Kept(Arc::clone(&self.good.get(key)?.entry)),
                        };
                        Some((Cow::Borrowed(key.as_str()), pick))
                    })
                    .collect();
                (chosen, false)
            }
            ConfigInput::Absent if !keep_on_absent => (BTreeMap::new(), false),
            ConfigInput::Absent | ConfigInput::Unreadable { .. } => (
                self.good
                    .iter()
                    .map(|(key, g)| (Cow::Owned(key.clone()), Pick::Kept(Arc::clone(&g.entry))))
                    .collect(),
                true,
            ),
        };
        let mut outcome = self.build_chosen(&chosen, settings, endpoints, health);
        // A fresh version the builder rejects falls back to the last good one, once.
        let fallbacks: Vec<(Cow<'_, str>, Pick)> = outcome
            .rejected_keys()
            .into_iter()
            .filter_map(|key| {
                let old = self.good.get(key)?;
                let differs = chosen.get(key).map(Pick::entry) != Some(&old.entry);
                differs.then(|| {
                    let pick = Pick::Kept(Arc::clone(&old.entry));
                    (Cow::Owned(key.to_owned()), pick)
                })
            })
            .collect();
        if !fallbacks.is_empty() {
            chosen.extend(fallbacks);
            let retry = self.build_chosen(&chosen, settings, endpoints, health);
            // Keep the builder's complaints about the fresh versions: operators must see them.
            let mut problems = outcome.problems;
            problems.extend(retry.problems.iter().cloned());
            outcome = DesiredOutcome {
                state: retry.state,
                problems,
            };
        }
        let rejected: BTreeSet<String> = outcome
            .rejected_keys()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let (kept, newly_kept) = if kept_all {
            (Vec::new(), Vec::new())
        } else {
            self.track_kept(&chosen, now)
        };
        // Remember what built cleanly now; a key rejected now keeps its older good version.
        if let ConfigInput::Present { values, .. } = input {
            self.remember(chosen, &rejected, values, now);
        } else if !kept_all {
            self.remember(chosen, &rejected, &BTreeMap::new(), now);
        }
        let mut problems: Vec<Problem> = input.problems().to_vec();
        problems.extend(outcome.problems.iter().cloned());
        problems.sort();
        problems.dedup();
        BuildResult {
            outcome,
            problems,
            kept,
            newly_kept,
            kept_all,
        }
    }

    /// The kept keys of this build with their origin; those kept only from now on as well.
    fn track_kept(
        &mut self,
        chosen: &BTreeMap<Cow<'_, str>, Pick>,
        now: u64,
    ) -> (Vec<KeptKey>, Vec<KeptKey>) {
        let mut since = BTreeMap::new();
        let mut kept = Vec::new();
        let mut newly = Vec::new();
        for key in chosen
            .iter()
            .filter(|(_, pick)| matches!(pick, Pick::Kept(_)))
            .map(|(key, _)| key)
        {
            let Some(good) = self.good.get(key.as_ref()) else {
                continue;
            };
            let previous = self.kept_since.get(key.as_ref()).copied();
            let started = previous.unwrap_or(now);
            since.insert(key.to_string(), started);
            let row = KeptKey {
                key: key.to_string(),
                kept_since: started,
                version_since: good.since,
                from: good.from,
            };
            if previous.is_none() {
                newly.push(row.clone());
            }
            kept.push(row);
        }
        self.kept_since = since;
        (kept, newly)
    }

    /// Replaces the remembered versions with those of this build (`values`: the ConfigMap as
    /// written), and the persisted form when one changed.
    fn remember(
        &mut self,
        chosen: BTreeMap<Cow<'_, str>, Pick>,
        rejected: &BTreeSet<String>,
        values: &BTreeMap<String, String>,
        now: u64,
    ) {
        let mut changed = false;
        // Both maps are in key order: one merge, no tree search per key (10,000 keys).
        let mut old = std::mem::take(&mut self.good).into_iter().peekable();
        let mut good = Vec::with_capacity(chosen.len());
        for (key, pick) in chosen {
            let key: &str = &key;
            // Whatever sorts before this key was remembered but is gone from the ConfigMap.
            while old.next_if(|(k, _)| k.as_str() < key).is_some() {
                changed = true;
            }
            // The remembered key's own text is kept: no copy of 10,000 keys per build.
            let old = old.next_if(|(k, _)| k == key);
            match pick {
                Pick::Fresh(entry) if !rejected.contains(key) => {
                    let value = values.get(key);
                    let good_now = match old {
                        // The same value: keep its `since` and its text (no copy of it).
                        Some((k, old)) if value.is_some_and(|v| *old.value == **v) => (
                            k,
                            Good {
                                entry,
                                from: KeptFrom::Memory,
                                ..old
                            },
                        ),
                        _ => {
                            changed = true;
                            let good = Good {
                                entry,
                                value: Arc::from(value.map_or("", String::as_str)),
                                since: now,
                                from: KeptFrom::Memory,
                            };
                            (key.to_owned(), good)
                        }
                    };
                    good.push(good_now);
                }
                _ => good.extend(old),
            }
        }
        changed |= old.next().is_some();
        self.good = good.into_iter().collect();
        if changed {
            self.versions = Arc::new(
                self.good
                    .iter()
                    .map(|(key, g)| {
                        let version = KeptVersion {
                            value: g.value.clone(),
                            since: g.since,
                        };
                        (key.clone(), version)
                    })
                    .collect(),
            );
        }
    }

    fn build_chosen(
        &mut self,
        chosen: &BTreeMap<Cow<'_, str>, Pick>,
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
    ) -> DesiredOutcome {
        let entries = chosen.values().map(Pick::entry);
        if self.once {
            return build_desired_state_shared(entries, settings, endpoints, health);
        }
        self.cache.build(entries, settings, endpoints, health)
    }

    /// Keys with a remembered good version.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.good.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{RealServerKey, ServiceKey};

    use super::*;

    fn settings() -> Settings {
        Settings::from_toml_str("managed_vip_ranges = [\"10.0.0.0/24\"]\n").unwrap()
    }

    fn reals(outcome: &DesiredOutcome, vip: &str) -> Vec<RealServerKey> {
        let key = ServiceKey {
            vip: vip.parse().unwrap(),
            protocol: lb_config::Protocol::Tcp,
            port: 80,
        };
        outcome.state.services[&key]
            .real_servers
            .keys()
            .copied()
            .collect()
    }

    fn run(memory: &mut KeyMemory, text: &str) -> BuildResult {
        run_at(memory, text, 100)
    }

    fn run_at(memory: &mut KeyMemory, text: &str, now: u64) -> BuildResult {
        memory.build(
            &ConfigInput::from_text(text),
            true,
            &settings(),
            &EndpointSnapshot::default(),
            &HealthResults::default(),
            now,
        )
    }

    fn kept_keys(result: &BuildResult) -> Vec<&str> {
        result.kept.iter().map(|k| k.key.as_str()).collect()
    }

    #[test]
    fn a_key_that_stops_parsing_keeps_its_last_good_version_per_key() {
        let mut memory = KeyMemory::default();
        let first = run(
            &mut memory,
            "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n",
        );
        assert_eq!(first.outcome.state.services.len(), 2);
        // Key 1 breaks, key 2 changes validly: key 1 keeps its old version, key 2 moves on.
        let second = run(
            &mut memory,
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.3:80\n",
        );
        assert_eq!(second.outcome.state.services.len(), 2);
        assert_eq!(
            reals(&second.outcome, "10.0.0.1")[0].to_string(),
            "10.1.0.1:80"
        );
        assert_eq!(
            reals(&second.outcome, "10.0.0.2")[0].to_string(),
            "10.1.0.3:80"
        );
        assert_eq!(kept_keys(&second), ["10.0.0.1-80"]);
        assert!(
            second
                .problems
                .iter()
                .any(|p| p.key == "10.0.0.1-80" && p.is_error())
        );
        // Still broken on the next build: still kept.
        let third = run(
            &mut memory,
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.3:80\n",
        );
        assert_eq!(third.outcome.state.services.len(), 2);
        // Fixed: the new version is used.
        let fourth = run(
            &mut memory,
            "10.0.0.1-80: 10.1.0.9:80\n10.0.0.2-80: 10.1.0.3:80\n",
        );
        assert_eq!(
            reals(&fourth.outcome, "10.0.0.1")[0].to_string(),
            "10.1.0.9:80"
        );
        assert!(fourth.kept.is_empty());
    }

    #[test]
    fn a_removed_key_is_removed_and_a_new_bad_key_contributes_nothing() {
        let mut memory = KeyMemory::default();
        run(&mut memory, "10.0.0.1-80: 10.1.0.1:80\n");
        let next = run(&mut memory, "10.0.0.2-80: 10.1.0.1:8o\n");
        assert!(next.outcome.state.services.is_empty());
        assert_eq!(memory.keys().count(), 0);
    }

    #[test]
    fn a_builder_rejection_is_reported_and_leaves_other_keys_alone() {
        let mut memory = KeyMemory::default();
        run(&mut memory, "10.0.0.1-80: 10.1.0.1:80\n");
        // Outside the managed ranges: parses, but the builder rejects it.
        let text = "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n";
        run(&mut memory, text);
        let mut memory2 = memory.clone();
        let narrowed = Settings::from_toml_str("managed_vip_ranges = [\"10.0.0.1/32\"]\n").unwrap();
        let result = memory2.build(
            &ConfigInput::from_text(text),
            true,
            &narrowed,
            &EndpointSnapshot::default(),
            &HealthResults::default(),
            100,
        );
        assert_eq!(result.outcome.state.services.len(), 1);
        assert!(result.problems.iter().any(|p| p.key == "10.0.0.2-80"));
    }

    #[test]
    fn absent_configmap_keeps_everything_or_empties_when_configured() {
        let mut memory = KeyMemory::default();
        run(&mut memory, "10.0.0.1-80: 10.1.0.1:80\n");
        let args = (
            settings(),
            EndpointSnapshot::default(),
            HealthResults::default(),
        );
        let kept = memory.build(&ConfigInput::Absent, true, &args.0, &args.1, &args.2, 100);
        assert!(kept.kept_all);
        assert_eq!(kept.outcome.state.services.len(), 1);
        let emptied = memory.build(&ConfigInput::Absent, false, &args.0, &args.1, &args.2, 100);
        assert!(emptied.outcome.state.services.is_empty());
        let unreadable = run(&mut KeyMemory::default(), "a: [unclosed\n");
        assert!(unreadable.kept_all);
    }

    /// A memory as a restarted daemon has it: seeded from what another memory persisted.
    // A memory for one build gives what the cached one gives, fallbacks included: a key that
    // does not parse and one the builder rejects (FullNAT without a pool) are both served from
    // their seeded versions. Fails if `for_one_build` builds a different outcome (mutation:
    // `build_desired_state_shared` skipping its last entry).
    #[test]
    fn a_memory_for_one_build_builds_what_the_cached_one_builds() {
        let seeded =
            "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n10.0.0.3-80: 10.1.0.3:80\n";
        let texts = [
            seeded,
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.9:80\n\
             10.0.0.3-80: 10.1.0.3:80; method=fullnat\n10.0.0.4-80: 10.1.0.4:80\n",
            "a: [unclosed\n",
        ];
        let mut before = KeyMemory::default();
        run_at(&mut before, seeded, 50);
        for text in texts {
            let (mut cached, mut once) = (KeyMemory::default(), KeyMemory::for_one_build());
            cached.seed(&before.versions());
            once.seed(&before.versions());
            let (a, b) = (run_at(&mut cached, text, 200), run_at(&mut once, text, 200));
            assert_eq!(a.outcome, b.outcome, "{text}");
            assert_eq!(a.problems, b.problems, "{text}");
            assert_eq!((a.kept, a.newly_kept), (b.kept, b.newly_kept), "{text}");
            assert_eq!(a.kept_all, b.kept_all, "{text}");
            assert_eq!(cached.versions(), once.versions(), "{text}");
        }
    }

    fn restarted(before: &KeyMemory) -> KeyMemory {
        let mut memory = KeyMemory::default();
        let skipped = memory.seed(&before.versions());
        assert!(skipped.is_empty(), "{skipped:?}");
        memory
    }

    // Fails if seed() is not called or does not fill the memory (the VIP of the invalid key
    // would have no service after a restart: a drain), or if the kept key is not reported as
    // coming from the state file.
    #[test]
    fn a_restart_with_an_invalid_key_serves_the_persisted_version() {
        let mut before = KeyMemory::default();
        run_at(
            &mut before,
            "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n",
            50,
        );
        let mut after = restarted(&before);
        let first = run_at(
            &mut after,
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.3:80\n",
            200,
        );
        assert_eq!(first.outcome.state.services.len(), 2);
        assert_eq!(
            reals(&first.outcome, "10.0.0.1")[0].to_string(),
            "10.1.0.1:80"
        );
        assert_eq!(
            reals(&first.outcome, "10.0.0.2")[0].to_string(),
            "10.1.0.3:80"
        );
        let expected = KeptKey {
            key: "10.0.0.1-80".to_owned(),
            kept_since: 200,
            version_since: 50,
            from: KeptFrom::StateFile,
        };
        assert_eq!(first.kept, std::slice::from_ref(&expected));
        assert_eq!(first.newly_kept, [expected]);
        // Reported once: the next build still keeps it but it is not new.
        let again = run_at(
            &mut after,
            "10.0.0.1-80: 10.1.0.1:8o\n10.0.0.2-80: 10.1.0.3:80\n",
            300,
        );
        assert_eq!(again.kept[0].kept_since, 200);
        assert!(again.newly_kept.is_empty());
        // The persisted version of the kept key is still the old one; the other key moved on.
        let versions = after.versions();
        assert_eq!(&*versions["10.0.0.1-80"].value, "10.1.0.1:80");
        assert_eq!(&*versions["10.0.0.2-80"].value, "10.1.0.3:80");
        assert_eq!(versions["10.0.0.2-80"].since, 200);
        // Fixed: served from the new text, nothing kept, and that text is what persists.
        let fixed = run_at(
            &mut after,
            "10.0.0.1-80: 10.1.0.9:80\n10.0.0.2-80: 10.1.0.3:80\n",
            400,
        );
        assert!(fixed.kept.is_empty());
        assert_eq!(
            reals(&fixed.outcome, "10.0.0.1")[0].to_string(),
            "10.1.0.9:80"
        );
        assert_eq!(&*after.versions()["10.0.0.1-80"].value, "10.1.0.9:80");
    }

    // Fails if a seeded key missing from the ConfigMap is served (removing a key while the
    // daemon is down must still remove the VIP) or stays in the persisted versions.
    #[test]
    fn a_persisted_key_removed_from_the_configmap_is_dropped() {
        let mut before = KeyMemory::default();
        run(
            &mut before,
            "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n",
        );
        let mut after = restarted(&before);
        let first = run(&mut after, "10.0.0.2-80: 10.1.0.2:80\n");
        assert_eq!(first.outcome.state.services.len(), 1);
        assert!(first.kept.is_empty());
        assert_eq!(after.versions().keys().collect::<Vec<_>>(), ["10.0.0.2-80"]);
    }

    // Fails if an unchanged build replaces the persisted versions (the state file would be
    // rewritten on every pass), or a changed value does not.
    #[test]
    fn the_persisted_versions_change_only_when_a_value_changes() {
        let mut memory = KeyMemory::default();
        run(&mut memory, "10.0.0.1-80: 10.1.0.1:80\n");
        let first = memory.versions();
        run_at(&mut memory, "10.0.0.1-80: 10.1.0.1:80\n", 500);
        assert!(Arc::ptr_eq(&first, &memory.versions()));
        // An invalid version changes nothing either.
        run_at(&mut memory, "10.0.0.1-80: 10.1.0.1:8o\n", 600);
        assert!(Arc::ptr_eq(&first, &memory.versions()));
        run_at(&mut memory, "10.0.0.1-80: 10.1.0.1:80 weight=2\n", 700);
        assert_eq!(memory.versions()["10.0.0.1-80"].since, 700);
        // Seeded and unchanged: the file as read is not rewritten.
        let mut after = restarted(&memory);
        let seeded = after.versions();
        run(&mut after, "10.0.0.1-80: 10.1.0.1:80 weight=2\n");
        assert!(Arc::ptr_eq(&seeded, &after.versions()));
    }

    // Fails if seed() takes a value that no longer parses (it would be served unchecked).
    #[test]
    fn a_persisted_value_that_does_not_parse_is_skipped() {
        let versions = Arc::new(KeptVersions::from([(
            "10.0.0.1-80".to_owned(),
            KeptVersion {
                value: "10.1.0.1:8o".into(),
                since: 1,
            },
        )]));
        let mut memory = KeyMemory::default();
        let skipped = memory.seed(&versions);
        assert_eq!(skipped.len(), 1);
        assert_eq!(memory.keys().count(), 0);
        let result = run(&mut memory, "10.0.0.1-80: 10.1.0.1:8o\n");
        assert!(result.outcome.state.services.is_empty());
    }
}
