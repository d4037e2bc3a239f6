//! What the daemon's core loop consumes: the ConfigMap, the endpoint snapshot, health results,
//! the settings and whether the sources can reach their origin, each as a `tokio::sync::watch`
//! channel.
//!
//! Pure data plus constructors. The producers are interchangeable: the Kubernetes watchers
//! (`crate::kube`), the file pollers (`--config-file`, `--endpoints-file`), the health checker,
//! or a test. `None` in the config and endpoint channels means "initial list not complete yet":
//! the daemon writes nothing to the kernel until both are `Some`.

use std::collections::BTreeMap;
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
        /// Keys that parsed without errors.
        entries: Vec<Entry>,
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
    pub(crate) fn from_data(data: BTreeMap<String, String>) -> Self {
        Self::from_values(data, Vec::new())
    }

    /// From file text: a manifest or the bare data map (the file source).
    pub fn from_text(text: &str) -> Self {
        let (data, problems) = read_configmap_data(text);
        match data {
            Some(values)
                if !problems
                    .iter()
                    .any(|p| p.key == DOCUMENT_KEY && p.is_error()) =>
            {
                Self::from_values(values, problems)
            }
            _ => ConfigInput::Unreadable { problems },
        }
    }

    /// Parses every key of `values` on its own; `problems`: the document's own.
    fn from_values(values: BTreeMap<String, String>, mut problems: Vec<Problem>) -> Self {
        let mut entries = Vec::new();
        for (key, value) in &values {
            let (entry, mut found) = parse_entry(key, value);
            entries.extend(entry);
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
}
