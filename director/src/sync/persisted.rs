//! What the state file holds: the drain deadlines and the last good version of each ConfigMap
//! key, so that a restart neither cuts a drain short nor drops a VIP whose key is invalid now.
//!
//! Pure: data plus JSON; [`super::state_file`] reads and writes the file. The format stays
//! readable both ways: a file from before the keys (drains only, no `version`) loads with no
//! kept keys, and fields this version does not know (a newer lbctl's) are ignored. An older
//! lbctl reading this file ignores `version` and `keys` and keeps the drains.

use std::collections::BTreeMap;
use std::sync::Arc;

use lb_ipvs_sync::reconcile::{DrainBook, DrainBookError};
use serde::{Deserialize, Serialize};

/// The format version written: 2 added `keys` (1, or no `version`, is drains only).
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The last good version of one ConfigMap key: its value as written, for a restart to parse
/// again (the grammar of the lbctl that reads it applies, not of the one that wrote it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersion {
    /// The ConfigMap value, verbatim (shared with the daemon's memory of it: no copy of 10,000
    /// values per change).
    pub value: Arc<str>,
    /// When this version first built cleanly (seconds since the Unix epoch).
    pub since: u64,
}

/// The last good version of every key, by key; one version each, no history.
pub type KeptVersions = BTreeMap<String, KeptVersion>;

/// The whole state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    /// The format version the file was written with (1 when absent).
    #[serde(default = "format_one")]
    pub version: u32,
    /// Drain deadlines (the fields `destinations` and `services` at the top, as before).
    #[serde(flatten)]
    pub drain: DrainBook,
    /// The last good version of each key (shared: the daemon keeps it between passes).
    #[serde(
        default,
        serialize_with = "shared::write",
        deserialize_with = "shared::read"
    )]
    pub keys: Arc<KeptVersions>,
}

fn format_one() -> u32 {
    1
}

/// `Arc<KeptVersions>` as the plain map (serde's `rc` feature is not enabled in the workspace).
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::KeptVersions;

    pub(super) fn write<S: Serializer>(keys: &Arc<KeptVersions>, s: S) -> Result<S::Ok, S::Error> {
        keys.as_ref().serialize(s)
    }

    pub(super) fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<KeptVersions>, D::Error> {
        KeptVersions::deserialize(d).map(Arc::new)
    }
}

impl PersistedState {
    /// The state to write: the current format, these drains and keys.
    pub fn new(drain: DrainBook, keys: Arc<KeptVersions>) -> Self {
        PersistedState {
            version: STATE_FORMAT_VERSION,
            drain,
            keys,
        }
    }

    /// Parses the file's text (any version; unknown fields ignored).
    pub fn from_json(text: &str) -> Result<Self, DrainBookError> {
        serde_json::from_str(text).map_err(DrainBookError::Parse)
    }

    /// The file's text (pretty, so operators can read it), always in the current format.
    pub fn to_json(&self) -> Result<String, DrainBookError> {
        let current = PersistedState {
            version: STATE_FORMAT_VERSION,
            ..self.clone()
        };
        serde_json::to_string_pretty(&current).map_err(DrainBookError::Serialize)
    }

    /// Whether writing `self` would change a file that holds `other` (the version aside: an
    /// old file is rewritten when something in it changes, not merely to stamp it).
    pub fn same_content(&self, other: &PersistedState) -> bool {
        self.drain == other.drain
            && (Arc::ptr_eq(&self.keys, &other.keys) || self.keys == other.keys)
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, RealServerKey, ServiceKey};
    use lb_ipvs_sync::ServiceId;

    use super::*;

    fn service() -> ServiceId {
        ServiceId::Inet(ServiceKey {
            vip: "10.0.0.1".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        })
    }

    fn keys() -> Arc<KeptVersions> {
        Arc::new(BTreeMap::from([(
            "10.0.0.1-80".to_owned(),
            KeptVersion {
                value: "10.1.0.1:80, 10.1.0.2:80; scheduler=mh".into(),
                since: 1_700_000_000,
            },
        )]))
    }

    // Fails if the drains are no longer at the top level (`#[serde(flatten)]` removed) or
    // `keys`/`version` lose their defaults: a state file of an older lbctl would not load.
    #[test]
    fn a_drains_only_file_of_an_older_lbctl_loads_with_no_keys() {
        // What the drains-only writer (DrainBook::to_json) put in the file.
        let mut book = DrainBook::default();
        book.services.insert(service(), 42);
        let old = book.to_json().unwrap();
        assert!(!old.contains("version"), "{old}");
        let state = PersistedState::from_json(&old).unwrap();
        assert_eq!(state.version, 1);
        assert!(state.keys.is_empty());
        assert_eq!(state.drain.services.get(&service()), Some(&42));
        assert_eq!(
            PersistedState::from_json("{}").unwrap(),
            PersistedState {
                version: 1,
                ..PersistedState::default()
            }
        );
    }

    // Fails if a field is not written or read back (e.g. `keys` skipped), or the version is
    // not stamped.
    #[test]
    fn round_trip_keeps_drains_and_keys_and_stamps_the_version() {
        let mut drain = DrainBook::default();
        drain.destinations.insert(
            (
                service(),
                RealServerKey {
                    addr: "10.1.0.3".parse().unwrap(),
                    port: 80,
                },
            ),
            1_700_000_300,
        );
        let state = PersistedState {
            version: 1,
            drain,
            keys: keys(),
        };
        let text = state.to_json().unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        let back = PersistedState::from_json(&text).unwrap();
        assert_eq!(back.version, STATE_FORMAT_VERSION);
        assert_eq!(back.drain, state.drain);
        assert_eq!(back.keys, state.keys);
        assert!(back.same_content(&state));
    }

    // Fails with `#[serde(deny_unknown_fields)]`: a newer lbctl's extra fields would make the
    // state file unreadable after a downgrade. The old drains-only reader is checked the same
    // way: it must take the new file's drains.
    #[test]
    fn unknown_fields_of_a_newer_lbctl_are_ignored_and_older_readers_keep_the_drains() {
        let newer = r#"{"version": 9, "destinations": [], "services": [], "keys": {},
            "history": [1, 2], "keys_extra": {"a": true}}"#;
        let state = PersistedState::from_json(newer).unwrap();
        assert_eq!(state.version, 9);
        let mut drain = DrainBook::default();
        drain.services.insert(service(), 7);
        let text = PersistedState::new(drain.clone(), keys())
            .to_json()
            .unwrap();
        assert_eq!(DrainBook::from_json(&text).unwrap(), drain);
    }

    // Fails if same_content ignores the keys (a changed kept version would not be written)
    // or the drains.
    #[test]
    fn same_content_compares_drains_and_keys_but_not_the_version() {
        let a = PersistedState::new(DrainBook::default(), keys());
        let mut b = a.clone();
        b.version = 1;
        assert!(a.same_content(&b));
        let mut c = a.clone();
        let mut changed = (*c.keys).clone();
        changed.insert(
            "10.0.0.2-80".to_owned(),
            KeptVersion {
                value: "10.1.0.9:80".into(),
                since: 1,
            },
        );
        c.keys = Arc::new(changed);
        assert!(!a.same_content(&c));
        let mut d = a.clone();
        d.drain.services.insert(service(), 1);
        assert!(!a.same_content(&d));
    }
}
