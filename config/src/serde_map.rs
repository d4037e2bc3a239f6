//! Serde helpers for maps whose keys are structs (JSON object keys must be strings).
//!
//! `keyed_list`: a map whose values carry their own key is written as the list of its values.
//! `pairs`: any other map is written as a list of `[key, value]` pairs.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that knows its own map key.
pub trait Keyed {
    /// The key type.
    type Key: Ord;
    /// The value's key.
    fn map_key(&self) -> Self::Key;
}

impl<T: Keyed> Keyed for std::sync::Arc<T> {
    type Key = T::Key;
    fn map_key(&self) -> Self::Key {
        (**self).map_key()
    }
}

/// `#[serde(with = "keyed_list")]` for `BTreeMap<K, V>` where `V: Keyed<Key = K>`.
pub mod keyed_list {
    use super::*;

    /// Writes the values in key order.
    pub fn serialize<S, K, V>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        V: Serialize,
    {
        s.collect_seq(map.values())
    }

    /// Reads a list of values and keys them.
    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Ord,
        V: Deserialize<'de> + Keyed<Key = K>,
    {
        let values = Vec::<V>::deserialize(d)?;
        Ok(values.into_iter().map(|v| (v.map_key(), v)).collect())
    }
}

/// `#[serde(with = "pairs")]` for any `BTreeMap<K, V>`.
pub mod pairs {
    use super::*;

    /// Writes `[key, value]` pairs in key order.
    pub fn serialize<S, K, V>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        K: Serialize,
        V: Serialize,
    {
        s.collect_seq(map.iter())
    }

    /// Reads `[key, value]` pairs.
    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
