//! A watcher's view of one resource type: objects by namespace and name (the ConfigMap as
//! it came; Services and EndpointSlices as converted at arrival, see convert.rs).
//!
//! Pure: fed with `kube::runtime::watcher::Event`s, no I/O. A (re)list is buffered from `Init`
//! to `InitDone` and swapped in at once, so a relist (e.g. after 410 Gone) never shows a
//! half-listed view, and [`ObjectCache::is_listed`] tells whether the first complete list has
//! arrived: the daemon writes nothing to the kernel before every cache is listed.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

/// Namespace (empty for cluster-scoped objects) and name. The text is shared: the caches, the
/// slice index, the references and the converted Services all file the same object, and a
/// clone is two reference counts, not two allocations (at 10,000 Services these maps held
/// eight copies of every name).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    pub(crate) namespace: Arc<str>,
    pub(crate) name: Arc<str>,
}

impl ObjectKey {
    /// The key of `name` in `namespace`.
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// `name` in this key's namespace, sharing its text (a slice's Service).
    pub(crate) fn sibling(&self, name: &str) -> Self {
        ObjectKey {
            namespace: Arc::clone(&self.namespace),
            name: name.into(),
        }
    }
}

/// What a cache files an object under.
pub(crate) trait Keyed {
    /// Namespace and name.
    fn key(&self) -> ObjectKey;
}

impl Keyed for ConfigMap {
    fn key(&self) -> ObjectKey {
        key_of(self)
    }
}

/// The objects of one watcher.
#[derive(Debug)]
pub(crate) struct ObjectCache<K> {
    objects: BTreeMap<ObjectKey, K>,
    relist: Option<BTreeMap<ObjectKey, K>>,
    listed: bool,
}

impl<K> Default for ObjectCache<K> {
    fn default() -> Self {
        ObjectCache {
            objects: BTreeMap::new(),
            relist: None,
            listed: false,
        }
    }
}

/// What an event did to the visible objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CacheChange {
    /// Nothing visible changed (relist in progress).
    None,
    /// These objects were added, replaced or deleted.
    Objects(Vec<ObjectKey>),
    /// A (re)list completed: everything may have changed.
    All,
}

impl<K: Keyed> ObjectCache<K> {
    /// Applies one watcher event.
    pub(crate) fn apply(&mut self, event: Event<K>) -> CacheChange {
        match event {
            Event::Apply(obj) => {
                let key = obj.key();
                self.objects.insert(key.clone(), obj);
                CacheChange::Objects(vec![key])
            }
            Event::Delete(obj) => {
                let key = obj.key();
                self.objects.remove(&key);
                CacheChange::Objects(vec![key])
            }
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                CacheChange::None
            }
            Event::InitApply(obj) => {
                let key = obj.key();
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key, obj);
                CacheChange::None
            }
            Event::InitDone => {
                self.objects = self.relist.take().unwrap_or_default();
                self.listed = true;
                CacheChange::All
            }
        }
    }

    /// Whether a complete list has been seen (stays true through later relists).
    pub(crate) fn is_listed(&self) -> bool {
        self.listed
    }

    /// The object with this key.
    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&K> {
        self.objects.get(key)
    }

    /// Every object, ordered by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &K)> {
        self.objects.iter()
    }
}

/// The cache key of an object.
pub(crate) fn key_of<K: ResourceExt>(obj: &K) -> ObjectKey {
    ObjectKey::new(&obj.namespace().unwrap_or_default(), &obj.name_any())
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn cm(name: &str, value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            data: Some([("k".to_owned(), value.to_owned())].into()),
            ..ConfigMap::default()
        }
    }

    fn value(cache: &ObjectCache<ConfigMap>, name: &str) -> Option<String> {
        cache
            .get(&ObjectKey::new("ns", name))
            .and_then(|c| c.data.as_ref()?.get("k").cloned())
    }

    #[test]
    fn relist_is_invisible_until_done_then_replaces_everything() {
        let mut cache = ObjectCache::default();
        assert!(!cache.is_listed());
        cache.apply(Event::Init);
        cache.apply(Event::InitApply(cm("a", "1")));
        assert!(!cache.is_listed());
        assert_eq!(value(&cache, "a"), None, "not visible before InitDone");
        assert_eq!(cache.apply(Event::InitDone), CacheChange::All);
        assert!(cache.is_listed());
        assert_eq!(value(&cache, "a").as_deref(), Some("1"));

        cache.apply(Event::Apply(cm("b", "2")));
        // A relist (410 Gone) that no longer has "a": old view stays until done.
        cache.apply(Event::Init);
        cache.apply(Event::InitApply(cm("b", "3")));
        assert_eq!(value(&cache, "a").as_deref(), Some("1"));
        cache.apply(Event::InitDone);
        assert_eq!(value(&cache, "a"), None);
        assert_eq!(value(&cache, "b").as_deref(), Some("3"));
        assert!(cache.is_listed());
    }

    #[test]
    fn apply_and_delete_report_the_key() {
        let mut cache = ObjectCache::default();
        let key = ObjectKey::new("ns", "a");
        assert_eq!(
            cache.apply(Event::Apply(cm("a", "1"))),
            CacheChange::Objects(vec![key.clone()])
        );
        assert_eq!(
            cache.apply(Event::Delete(cm("a", "1"))),
            CacheChange::Objects(vec![key])
        );
        assert_eq!(cache.iter().count(), 0);
    }
}
