//! What the daemon's core loop consumes: the ConfigMap, the endpoint snapshot, health results,
//! the settings and whether the sources can reach their origin, each as a `tokio::sync::watch`
//! channel.
//!
//! Pure data plus constructors. The producers are interchangeable: the Kubernetes watchers
//! (`crate::kube`), the file pollers (`--config-file`, `--endpoints-file`), the health checker,
//! or a test. `None` in the config and endpoint channels means "initial list not complete yet":
//! the daemon writes nothing to the kernel until both are `Some`.

use std::collections::{BTreeMap, btree_map};
use std::iter::Peekable;
use std::sync::Arc;
use std::time::SystemTime;

use lb_config::{
    DOCUMENT_KEY, EndpointSnapshot, Entry, HealthResults, Problem, Settings, parse_entry,
    read_configmap_data,
};
use tokio::sync::watch;

/// The ConfigMap as its source last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigInput {
    /// The ConfigMap exists; every key was parsed on its own.
    Present {
        /// Keys that parsed without errors, by key order; shared with the next version of the
        /// ConfigMap for every key whose value did not change.
        entries: Vec<Arc<Entry>>,
        /// Problems of every key (a key with an error has no entry).
        problems: Vec<Problem>,
        /// Every key present, good or bad (a bad key is not a removed key), with its value as
        /// written: the daemon persists the last good value of each key.
        values: BTreeMap<String, String>,
    },
    /// The ConfigMap does not exist (deleted, or not created yet).
    Absent,
    /// The document could not be read at all (file mode: not YAML): keep everything.
    Unreadable {
        /// Why.
        problems: Vec<Problem>,
    },
}

impl ConfigInput {
    /// From a ConfigMap's `data` (the Kubernetes source).
    #[cfg(test)]
    pub(crate) fn from_data(data: BTreeMap<String, String>) -> Self {
        Self::from_data_after(data, None)
    }

    /// [`ConfigInput::from_data`], parsing only the keys whose value differs from `previous`
    /// (the version the source published before): an edit of one key of 10,000 parses one.
    pub(crate) fn from_data_after(
        data: BTreeMap<String, String>,
        previous: Option<&ConfigInput>,
    ) -> Self {
        Self::from_values(data, Vec::new(), previous)
    }

    /// From file text: a manifest or the bare data map (the file source).
    pub fn from_text(text: &str) -> Self {
        Self::from_text_after(text, None)
    }

    /// [`ConfigInput::from_text`], parsing only the keys whose value differs from `previous`.
    pub fn from_text_after(text: &str, previous: Option<&ConfigInput>) -> Self {
        let (data, problems) = read_configmap_data(text);
        match data {
            Some(values)
                if !problems
                    .iter()
                    .any(|p| p.key == DOCUMENT_KEY && p.is_error()) =>
            {
                Self::from_values(values, problems, previous)
            }
            _ => ConfigInput::Unreadable { problems },
        }
    }

    /// Parses every key of `values` on its own, taking the entry and problems of a key whose
    /// value `previous` already parsed; `problems`: the document's own.
    fn from_values(
        values: BTreeMap<String, String>,
        mut problems: Vec<Problem>,
        previous: Option<&ConfigInput>,
    ) -> Self {
        let mut parsed_before = ParsedBefore::of(previous);
        let mut entries = Vec::new();
        for (key, value) in &values {
            if let Some((entry, found)) = parsed_before.get(key, value) {
                entries.extend(entry);
                problems.extend(found.into_iter().cloned());
                continue;
            }
            let (entry, mut found) = parse_entry(key, value);
            entries.extend(entry.map(Arc::new));
            problems.append(&mut found);
        }
        problems.sort();
        ConfigInput::Present {
            entries,
            problems,
            values,
        }
    }

    /// The problems the source found (parse problems, or why the document is unreadable).
    pub(crate) fn problems(&self) -> &[Problem] {
        match self {
            ConfigInput::Present { problems, .. } | ConfigInput::Unreadable { problems } => {
                problems
            }
            ConfigInput::Absent => &[],
        }
    }
}

/// What the previous version of the ConfigMap parsed: cursors over its key-ordered values,
/// entries and problems, asked in key order (one merge, no lookup per key).
struct ParsedBefore<'a> {
    values: Peekable<btree_map::Iter<'a, String, String>>,
    entries: Peekable<std::slice::Iter<'a, Arc<Entry>>>,
    problems: Peekable<std::slice::Iter<'a, Problem>>,
}

impl<'a> ParsedBefore<'a> {
    fn of(previous: Option<&'a ConfigInput>) -> Self {
        match previous {
            Some(ConfigInput::Present {
                entries,
                problems,
                values,
            }) => ParsedBefore {
                values: values.iter().peekable(),
                entries: entries.iter().peekable(),
                // Sorted, and a problem sorts by its key first.
                problems: problems.iter().peekable(),
            },
            _ => ParsedBefore {
                values: btree_map::Iter::default().peekable(),
                entries: [].iter().peekable(),
                problems: [].iter().peekable(),
            },
        }
    }

    /// The entry (if it had no error) and problems of `key` when it had this same value; keys
    /// must be asked in increasing order.
    #[allow(clippy::type_complexity)]
    fn get(&mut self, key: &str, value: &str) -> Option<(Option<Arc<Entry>>, Vec<&'a Problem>)> {
        while self.values.next_if(|(k, _)| k.as_str() < key).is_some() {}
        while self.entries.next_if(|e| e.key.as_str() < key).is_some() {}
        while self.problems.next_if(|p| p.key.as_str() < key).is_some() {}
        let same = self
            .values
            .next_if(|(k, _)| k.as_str() == key)
            .is_some_and(|(_, v)| v == value);
        let entry = self.entries.next_if(|e| e.key == key).map(Arc::clone);
        let mut problems = Vec::new();
        while let Some(p) = self.problems.next_if(|p| p.key == key) {
            problems.push(p);
        }
        same.then_some((entry, problems))
    }
}

/// The Services the ConfigMap references, with endpoints, and when their last change happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointsInput {
    /// Services and their EndpointSlices.
    pub snapshot: Arc<EndpointSnapshot>,
    /// The earliest trigger time of the changes folded into this snapshot since the previous
    /// one (EndpointSlice annotation, else the event's arrival): the start of the programming
    /// latency. `None` when nothing endpoint-related changed (e.g. a relist).
    pub changed_at: Option<SystemTime>,
}

/// The receiving ends the core loop watches (see the module docs).
pub struct DaemonInputs {
    /// `None` until the ConfigMap source has completed its initial list.
    pub config: watch::Receiver<Option<Arc<ConfigInput>>>,
    /// `None` until the endpoint sources have completed their initial lists.
    pub endpoints: watch::Receiver<Option<Arc<EndpointsInput>>>,
    /// Health-check verdicts (default: never changes; the health checker feeds it).
    pub health: watch::Receiver<Arc<HealthResults>>,
    /// `false` while a source cannot reach its origin (API server down): not ready.
    pub connected: watch::Receiver<bool>,
    /// The settings (SIGHUP reloads them).
    pub settings: watch::Receiver<Arc<Settings>>,
}

/// The sending ends matching [`DaemonInputs`], for sources and tests.
pub struct InputSenders {
    /// ConfigMap source.
    pub config: watch::Sender<Option<Arc<ConfigInput>>>,
    /// Endpoint source.
    pub endpoints: watch::Sender<Option<Arc<EndpointsInput>>>,
    /// Health checker.
    pub health: watch::Sender<Arc<HealthResults>>,
    /// Connectivity of the sources.
    pub connected: watch::Sender<bool>,
    /// Settings reloads.
    pub settings: watch::Sender<Arc<Settings>>,
}

/// Creates the channels: nothing listed yet, no health verdicts, connected.
pub fn channels(settings: Settings) -> (InputSenders, DaemonInputs) {
    let (config_tx, config) = watch::channel(None);
    let (endpoints_tx, endpoints) = watch::channel(None);
    let (health_tx, health) = watch::channel(Arc::new(HealthResults::default()));
    let (connected_tx, connected) = watch::channel(true);
    let (settings_tx, settings) = watch::channel(Arc::new(settings));
    (
        InputSenders {
            config: config_tx,
            endpoints: endpoints_tx,
            health: health_tx,
            connected: connected_tx,
            settings: settings_tx,
        },
        DaemonInputs {
            config,
            endpoints,
            health,
            connected,
            settings,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_text_keeps_bad_keys_in_the_key_set() {
        let input = ConfigInput::from_text("10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.1:8o\n");
        let ConfigInput::Present {
            entries, values, ..
        } = input
        else {
            panic!("expected present");
        };
        assert_eq!(entries.len(), 1);
        // The bad key's value as written: what a state file must never hold as good.
        assert_eq!(values["10.0.0.2-80"], "10.1.0.1:8o", "{values:?}");
        assert_eq!(values.len(), 2);
    }

    #[test]
    fn from_text_unreadable_document() {
        let input = ConfigInput::from_text("a: [unclosed\n");
        assert!(matches!(input, ConfigInput::Unreadable { .. }), "{input:?}");
        assert!(!input.problems().is_empty());
    }

    #[test]
    fn from_data_parses_each_key() {
        let data: BTreeMap<String, String> = [
            ("10.0.0.1-80".to_owned(), "10.1.0.1:80".to_owned()),
            ("bad key!".to_owned(), "x".to_owned()),
        ]
        .into();
        let ConfigInput::Present {
            entries,
            problems,
            values,
        } = ConfigInput::from_data(data.clone())
        else {
            panic!("expected present");
        };
        assert_eq!(entries.len(), 1);
        assert!(problems.iter().any(|p| p.key == "bad key!" && p.is_error()));
        assert_eq!(values, data);
    }

    /// Parsing against the version before gives what a fresh parse gives, whatever changed
    /// (an edit, a key turned bad, a bad key fixed, a key removed, a key added), and shares the
    /// entries of unchanged keys. Mutation: reusing a key's parse although its value changed
    /// fails the equality.
    #[test]
    fn parsing_against_the_previous_version_equals_a_fresh_parse() {
        let versions = [
            "10.0.0.1-80: 10.1.0.1:80\n10.0.0.2-80: 10.1.0.2:80\n10.0.0.3-80: 10.1.0.3:8o\n",
            "10.0.0.1-80: 10.1.0.1:80; weight=2\n10.0.0.2-80: 10.1.0.2:8o\n10.0.0.3-80: 10.1.0.3:80\n",
            "10.0.0.1-80: 10.1.0.1:80; weight=2\n10.0.0.3-80: 10.1.0.3:80\n10.0.0.4-80: 10.1.0.4:80\n",
            "a: [unclosed\n",
            "10.0.0.1-80: 10.1.0.1:80; weight=2\n10.0.0.3-80: 10.1.0.3:80\n",
        ];
        let mut previous = ConfigInput::from_text(versions[0]);
        for text in &versions[1..] {
            let after = ConfigInput::from_text_after(text, Some(&previous));
            assert_eq!(after, ConfigInput::from_text(text), "{text}");
            if let (
                ConfigInput::Present { entries: old, .. },
                ConfigInput::Present { entries: new, .. },
            ) = (&previous, &after)
            {
                for entry in new {
                    let unchanged = old.iter().find(|o| o == &entry);
                    assert!(
                        unchanged.is_none_or(|o| Arc::ptr_eq(o, entry)),
                        "{} parsed again",
                        entry.key
                    );
                }
            }
            previous = after;
        }
    }
}
