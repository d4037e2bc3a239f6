//! The fake API server's object store: objects as JSON, one global resourceVersion counter,
//! and an event history that watches replay from a resourceVersion.
//!
//! Pure (no I/O): the HTTP layer turns these into list/watch responses. Like etcd behind a
//! real API server, the history can be compacted: a watch from a resourceVersion older than
//! the compaction point gets 410 Gone and the client must relist.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Which collection an object lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// core/v1 ConfigMap.
    ConfigMaps,
    /// core/v1 Service.
    Services,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlices,
    /// events.k8s.io/v1 Event (written by the controller).
    Events,
}

impl Resource {
    /// The URL plural.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::ConfigMaps => "configmaps",
            Resource::Services => "services",
            Resource::EndpointSlices => "endpointslices",
            Resource::Events => "events",
        }
    }

    /// From a URL plural.
    pub fn from_plural(plural: &str) -> Option<Self> {
        [
            Resource::ConfigMaps,
            Resource::Services,
            Resource::EndpointSlices,
            Resource::Events,
        ]
        .into_iter()
        .find(|r| r.plural() == plural)
    }

    /// From an object's `kind`.
    pub fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "ConfigMap" => Some(Resource::ConfigMaps),
            "Service" => Some(Resource::Services),
            "EndpointSlice" => Some(Resource::EndpointSlices),
            "Event" => Some(Resource::Events),
            _ => None,
        }
    }

    /// `apiVersion` of the objects.
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::ConfigMaps | Resource::Services => "v1",
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            Resource::Events => "events.k8s.io/v1",
        }
    }

    /// `kind` of the objects.
    pub fn kind(self) -> &'static str {
        match self {
            Resource::ConfigMaps => "ConfigMap",
            Resource::Services => "Service",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Events => "Event",
        }
    }
}

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted (the object as it was, with the deletion's resourceVersion).
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One entry of the history.
#[derive(Debug, Clone)]
pub struct Change {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Collection.
    pub resource: Resource,
    /// What happened.
    pub kind: EventType,
    /// The object after (or, for deletions, before) the change.
    pub object: Value,
}

/// Objects and history.
#[derive(Debug, Default)]
pub struct Store {
    rv: u64,
    compacted: u64,
    objects: BTreeMap<(Resource, String, String), Value>,
    history: Vec<Change>,
}

/// `metadata.namespace` and `metadata.name` of an object.
pub fn ns_name(obj: &Value) -> (String, String) {
    let text = |field: &str| {
        obj.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("namespace"), text("name"))
}

impl Store {
    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Oldest resourceVersion a watch may resume from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Creates or replaces an object; returns the stored object and the change.
    pub fn upsert(&mut self, resource: Resource, mut object: Value) -> Change {
        self.rv += 1;
        let (ns, name) = ns_name(&object);
        let key = (resource, ns, name.clone());
        let existing = self.objects.get(&key);
        let uid = existing
            .and_then(|o| o.pointer("/metadata/uid").cloned())
            .unwrap_or_else(|| json!(format!("uid-{}-{}", resource.plural(), self.rv)));
        if let Some(map) = object.as_object_mut() {
            map.insert("apiVersion".into(), json!(resource.api_version()));
            map.insert("kind".into(), json!(resource.kind()));
            let meta = map.entry("metadata").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
                meta.insert("uid".into(), uid);
                meta.entry("creationTimestamp")
                    .or_insert_with(|| json!("2026-01-01T00:00:00Z"));
            }
        }
        let kind = if existing.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects.insert(key, object.clone());
        self.record(resource, kind, object)
    }

    /// Deletes an object; `None` if it does not exist.
    pub fn delete(&mut self, resource: Resource, ns: &str, name: &str) -> Option<Change> {
        let mut object = self
            .objects
            .remove(&(resource, ns.to_owned(), name.to_owned()))?;
        self.rv += 1;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        Some(self.record(resource, EventType::Deleted, object))
    }

    fn record(&mut self, resource: Resource, kind: EventType, object: Value) -> Change {
        let change = Change {
            rv: self.rv,
            resource,
            kind,
            object,
        };
        self.history.push(change.clone());
        change
    }

    /// Forgets the history, as etcd compaction does: a watch resuming from any version up to
    /// now gets 410 Gone (the version moves on by one, so even an up-to-date client relists).
    pub fn compact(&mut self) {
        self.rv += 1;
        self.compacted = self.rv;
        self.history.clear();
    }

    /// One object.
    pub fn get(&self, resource: Resource, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(resource, ns.to_owned(), name.to_owned()))
    }

    /// Objects of a collection (optionally one namespace) that match `filter`, borrowed: a
    /// paged list copies only its page, so a large collection is never held twice.
    pub fn list(&self, resource: Resource, ns: Option<&str>, filter: &Filter) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((r, n, _), _)| *r == resource && ns.is_none_or(|ns| ns == n))
            .filter(|(_, obj)| filter.matches(obj))
            .map(|(_, obj)| obj)
            .collect()
    }

    /// Changes after `rv` (exclusive); `Err(())` when `rv` is older than the compaction point.
    #[allow(clippy::result_unit_err)]
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>, ()> {
        if rv < self.compacted {
            return Err(());
        }
        Ok(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }
}

/// labelSelector and fieldSelector (`metadata.name`, `metadata.namespace`) of a request.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Vec<LabelTerm>,
    fields: Vec<(String, bool, String)>,
}

#[derive(Debug, Clone)]
enum LabelTerm {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
}

impl Filter {
    /// Parses the selectors (Kubernetes' equality-based syntax).
    pub fn parse(label_selector: Option<&str>, field_selector: Option<&str>) -> Filter {
        let terms = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let labels = terms(label_selector)
            .into_iter()
            .map(|t| {
                if let Some((k, v)) = t.split_once("!=") {
                    LabelTerm::NotEquals(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                    LabelTerm::Equals(k.trim().into(), v.trim().into())
                } else if let Some(k) = t.strip_prefix('!') {
                    LabelTerm::NotExists(k.trim().into())
                } else {
                    LabelTerm::Exists(t)
                }
            })
            .collect();
        let fields = terms(field_selector)
            .into_iter()
            .filter_map(|t| {
                if let Some((k, v)) = t.split_once("!=") {
                    Some((k.trim().to_owned(), false, v.trim().to_owned()))
                } else {
                    let (k, v) = t.split_once("==").or_else(|| t.split_once('='))?;
                    Some((k.trim().to_owned(), true, v.trim().to_owned()))
                }
            })
            .collect();
        Filter { labels, fields }
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        let label = |k: &str| -> Option<&str> {
            obj.pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
        };
        let labels_ok = self.labels.iter().all(|t| match t {
            LabelTerm::Exists(k) => label(k).is_some(),
            LabelTerm::NotExists(k) => label(k).is_none(),
            LabelTerm::Equals(k, v) => label(k) == Some(v.as_str()),
            LabelTerm::NotEquals(k, v) => label(k) != Some(v.as_str()),
        });
        let (ns, name) = ns_name(obj);
        let fields_ok = self.fields.iter().all(|(k, eq, v)| {
            let actual = match k.as_str() {
                "metadata.name" => name.as_str(),
                "metadata.namespace" => ns.as_str(),
                _ => return true,
            };
            (actual == v) == *eq
        });
        labels_ok && fields_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "labels": {"app": "x"}}, "data": {}})
    }

    #[test]
    fn versions_history_and_compaction() {
        let mut s = Store::default();
        let a = s.upsert(Resource::ConfigMaps, cm("ns", "a"));
        assert_eq!((a.rv, a.kind), (1, EventType::Added));
        let b = s.upsert(Resource::ConfigMaps, cm("ns", "a"));
        assert_eq!(b.kind, EventType::Modified);
        let d = s.delete(Resource::ConfigMaps, "ns", "a").unwrap();
        assert_eq!((d.rv, d.kind), (3, EventType::Deleted));
        assert_eq!(s.changes_since(1).unwrap().len(), 2);
        s.compact();
        assert!(
            s.changes_since(3).is_err(),
            "410 Gone even for an up-to-date client"
        );
        assert!(s.changes_since(s.resource_version()).unwrap().is_empty());
    }

    #[test]
    fn selectors_filter_by_label_and_name() {
        let obj = cm("ns", "a");
        assert!(Filter::parse(Some("app"), None).matches(&obj));
        assert!(Filter::parse(Some("app=x"), Some("metadata.name=a")).matches(&obj));
        assert!(!Filter::parse(Some("app!=x"), None).matches(&obj));
        assert!(!Filter::parse(Some("!app"), None).matches(&obj));
        assert!(!Filter::parse(None, Some("metadata.name=b")).matches(&obj));
        assert!(Filter::parse(None, Some("metadata.namespace=ns")).matches(&obj));
    }
}
