//! Which EndpointSlices belong to which Service: the slices to convert when a Service changes.
//!
//! Pure. One ordered set of (Service, slice) pairs, so a Service's slices are a range of it.
//! A map from each Service to a set of its slices cost a B-tree leaf (room for eleven keys,
//! about 540 bytes) for the one slice most Services have: 5 MiB at 10,000 Services.

use std::collections::BTreeSet;

use super::cache::ObjectKey;

/// Slices by the Service they belong to.
#[derive(Debug, Default)]
pub(crate) struct SliceIndex {
    pairs: BTreeSet<(ObjectKey, ObjectKey)>,
}

impl SliceIndex {
    /// Files `slice` under `service`.
    pub(crate) fn insert(&mut self, service: ObjectKey, slice: ObjectKey) {
        self.pairs.insert((service, slice));
    }

    /// Takes `slice` from under `service`.
    pub(crate) fn remove(&mut self, service: &ObjectKey, slice: &ObjectKey) {
        // The pair is needed by value to look it up; cloning the key counts references only.
        self.pairs.remove(&(service.clone(), slice.clone()));
    }

    /// The slices of `service`, by key.
    pub(crate) fn slices_of<'a>(
        &'a self,
        service: &'a ObjectKey,
    ) -> impl Iterator<Item = &'a ObjectKey> + 'a {
        // The empty key sorts before every slice key.
        self.pairs
            .range((service.clone(), ObjectKey::default())..)
            .take_while(move |(owner, _)| owner == service)
            .map(|(_, slice)| slice)
    }

    /// Forgets every slice.
    pub(crate) fn clear(&mut self) {
        self.pairs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("ns", name)
    }

    fn slices(index: &SliceIndex, service: &str) -> Vec<String> {
        index
            .slices_of(&key(service))
            .map(|k| k.name.to_string())
            .collect()
    }

    #[test]
    fn a_service_sees_only_its_own_slices() {
        let mut index = SliceIndex::default();
        index.insert(key("web"), key("web-b"));
        index.insert(key("web"), key("web-a"));
        // Names that sort next to "web": a prefix must not match.
        index.insert(key("web2"), key("web2-a"));
        index.insert(key("we"), key("we-a"));
        index.insert(ObjectKey::new("other", "web"), key("x"));
        assert_eq!(slices(&index, "web"), ["web-a", "web-b"]);
        assert_eq!(slices(&index, "web2"), ["web2-a"]);
        assert!(slices(&index, "db").is_empty());
    }

    #[test]
    fn remove_takes_one_pair_and_clear_all() {
        let mut index = SliceIndex::default();
        index.insert(key("web"), key("web-a"));
        index.insert(key("web"), key("web-b"));
        index.insert(key("db"), key("web-b"));
        index.remove(&key("web"), &key("web-b"));
        assert_eq!(slices(&index, "web"), ["web-a"]);
        assert_eq!(
            slices(&index, "db"),
            ["web-b"],
            "the same slice under another Service stays"
        );
        index.remove(&key("web"), &key("absent"));
        assert_eq!(slices(&index, "web"), ["web-a"]);
        index.clear();
        assert!(slices(&index, "web").is_empty() && slices(&index, "db").is_empty());
    }
}
