//! Keep the last good state, key by key: the desired-state build of the daemon.
//!
//! Pure: no I/O, no clock. A key whose new value does not parse, or whose new version the
//! builder rejects, keeps the version that last built cleanly; a key that is gone from the
//! ConfigMap is gone (removing a key is how operators remove a VIP). An absent ConfigMap keeps
//! every remembered key when `keep_on_absent` (the default), else means "no entries" (the
//! delete guard still holds back a mass removal). An unreadable document keeps everything.

use std::collections::{BTreeMap, BTreeSet};

use lb_config::{
    DesiredOutcome, EndpointSnapshot, Entry, HealthResults, Problem, Settings, build_desired_state,
};

use super::input::ConfigInput;

/// The last good version of every key.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeyMemory {
    good: BTreeMap<String, Entry>,
}

/// One build and what it says about the ConfigMap.
#[derive(Debug, Clone)]
pub(crate) struct BuildResult {
    /// The desired state and the builder's problems.
    pub(crate) outcome: DesiredOutcome,
    /// Source problems and builder problems, sorted, de-duplicated.
    pub(crate) problems: Vec<Problem>,
    /// Keys running on their last good version because the current one is rejected.
    pub(crate) kept_keys: BTreeSet<String>,
    /// Whether the whole ConfigMap was kept (absent or unreadable).
    pub(crate) kept_all: bool,
}

impl KeyMemory {
    /// Builds the desired state from `input`, substituting last good versions, and remembers
    /// the versions that built cleanly.
    pub(crate) fn build(
        &mut self,
        input: &ConfigInput,
        keep_on_absent: bool,
        settings: &Settings,
        endpoints: &EndpointSnapshot,
        health: &HealthResults,
    ) -> BuildResult {
        let (mut chosen, kept_all) = match input {
            ConfigInput::Present { entries, keys, .. } => {
                let fresh: BTreeMap<&str, &Entry> =
                    entries.iter().map(|e| (e.key.as_str(), e)).collect();
                let chosen: BTreeMap<String, Entry> = keys
                    .iter()
                    .filter_map(|key| {
                        fresh
                            .get(key.as_str())
                            .copied()
                            .or_else(|| self.good.get(key))
                            .map(|e| (key.clone(), e.clone()))
                    })
                    .collect();
                (chosen, false)
            }
            ConfigInput::Absent if !keep_on_absent => (BTreeMap::new(), false),
            ConfigInput::Absent | ConfigInput::Unreadable { .. } => (self.good.clone(), true),
        };
        let mut outcome = build(&chosen, settings, endpoints, health);
        // A fresh version the builder rejects falls back to the last good one, once.
        let fallbacks: Vec<(String, Entry)> = outcome
            .rejected_keys()
            .into_iter()
            .filter_map(|key| {
                let old = self.good.get(key)?;
                (chosen.get(key) != Some(old)).then(|| (key.to_owned(), old.clone()))
            })
            .collect();
        if !fallbacks.is_empty() {
            chosen.extend(fallbacks);
            let retry = build(&chosen, settings, endpoints, health);
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
        let kept_keys: BTreeSet<String> = match input {
            ConfigInput::Present { entries, .. } => chosen
                .iter()
                .filter(|(key, entry)| !entries.iter().any(|e| &e.key == *key && e == *entry))
                .map(|(key, _)| key.clone())
                .collect(),
            _ => BTreeSet::new(),
        };
        // Remember what built cleanly now; a key rejected now keeps its older good version.
        if !kept_all {
            let mut good = BTreeMap::new();
            for (key, entry) in chosen {
                if !rejected.contains(&key) {
                    good.insert(key, entry);
                } else if let Some(old) = self.good.remove(&key) {
                    good.insert(key, old);
                }
            }
            self.good = good;
        }
        let mut problems: Vec<Problem> = input.problems().to_vec();
        problems.extend(outcome.problems.iter().cloned());
        problems.sort();
        problems.dedup();
        BuildResult {
            outcome,
            problems,
            kept_keys,
            kept_all,
        }
    }

    /// Keys with a remembered good version.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.good.keys().map(String::as_str)
    }
}

fn build(
    chosen: &BTreeMap<String, Entry>,
    settings: &Settings,
    endpoints: &EndpointSnapshot,
    health: &HealthResults,
) -> DesiredOutcome {
    let entries: Vec<Entry> = chosen.values().cloned().collect();
    build_desired_state(&entries, settings, endpoints, health)
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
        memory.build(
            &ConfigInput::from_text(text),
            true,
            &settings(),
            &EndpointSnapshot::default(),
            &HealthResults::default(),
        )
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
        assert_eq!(second.kept_keys, BTreeSet::from(["10.0.0.1-80".to_owned()]));
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
        assert!(fourth.kept_keys.is_empty());
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
        let kept = memory.build(&ConfigInput::Absent, true, &args.0, &args.1, &args.2);
        assert!(kept.kept_all);
        assert_eq!(kept.outcome.state.services.len(), 1);
        let emptied = memory.build(&ConfigInput::Absent, false, &args.0, &args.1, &args.2);
        assert!(emptied.outcome.state.services.is_empty());
        let unreadable = run(&mut KeyMemory::default(), "a: [unclosed\n");
        assert!(unreadable.kept_all);
    }
}
