//! The Kubernetes source: watchers for the ConfigMap, Services and EndpointSlices, turned into
//! the daemon's config and endpoint inputs.
//!
//! One task owns three kube-runtime watchers (list, then watch from the list's
//! resourceVersion; relist after 410 Gone; backoff after errors) and their caches. Nothing is
//! published before a cache has its first complete list. Only Services the ConfigMap
//! references are converted; a key that stops parsing keeps its Services referenced, so its
//! last good version keeps its endpoints. Connectivity is `false` from any watch error until
//! the API server answers the next probe.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use lb_config::{KubernetesSettings, ServiceEndpoints, Target};
use tokio::sync::watch;
use tracing::{info, warn};

use super::cache::{CacheChange, Keyed, ObjectCache, ObjectKey};
use super::convert::{
    CachedService, CachedSlice, SERVICE_NAME_LABEL, cached_service, cached_slice, service_endpoints,
};
use super::slice_index::SliceIndex;
use crate::daemon::{ConfigInput, EndpointsInput};
use crate::metrics::ControllerMetrics;

/// How often the API server is probed for connectivity.
const PROBE_PERIOD: Duration = Duration::from_secs(2);
/// Upper bound of events folded into one publication.
const MAX_BATCH: usize = 512;

/// Where the source publishes.
pub struct KubeOutputs {
    /// ConfigMap input.
    pub config: watch::Sender<Option<Arc<ConfigInput>>>,
    /// Endpoint input.
    pub endpoints: watch::Sender<Option<Arc<EndpointsInput>>>,
    /// Connectivity.
    pub connected: watch::Sender<bool>,
}

type Item<K> = Result<Event<K>, watcher::Error>;

/// One item of the merged streams (the ConfigMap boxed: it is large).
enum Incoming {
    ConfigMap(Box<Item<ConfigMap>>),
    Service(Item<CachedService>),
    Slice(Item<CachedSlice>),
    Probe(bool),
}

/// Runs the watchers until `shutdown`.
pub async fn run(
    client: Client,
    k8s: KubernetesSettings,
    outputs: KubeOutputs,
    metrics: ControllerMetrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let configmaps = watcher(
        Api::<ConfigMap>::namespaced(client.clone(), &k8s.namespace),
        watcher::Config::default().fields(&format!("metadata.name={}", k8s.configmap)),
    )
    .map(|i| Incoming::ConfigMap(Box::new(i)));
    let services = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    // Converted as they arrive: the caches never hold the typed objects (convert.rs).
    .map(|i| Incoming::Service(i.map(|e| converted(e, cached_service))));
    let slices = watcher(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default().labels(SERVICE_NAME_LABEL),
    )
    .map(|i| Incoming::Slice(i.map(|e| converted(e, cached_slice))));
    let probes = probe(client).map(Incoming::Probe);
    let mut incoming = futures::stream::select_all([
        configmaps.boxed(),
        services.boxed(),
        slices.boxed(),
        probes.boxed(),
    ]);
    let mut state = SourceState::new(k8s, metrics);
    loop {
        let first = tokio::select! {
            _ = shutdown.changed() => return,
            item = incoming.next() => item,
        };
        let Some(first) = first else { return };
        state.handle(first, &outputs);
        // Fold whatever else is already waiting into the same publication.
        for _ in 0..MAX_BATCH {
            match incoming.next().now_or_never() {
                Some(Some(item)) => state.handle(item, &outputs),
                _ => break,
            }
        }
        state.publish(&outputs);
    }
}

fn watcher<K>(api: Api<K>, config: watcher::Config) -> impl Stream<Item = Item<K>> + Send
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    watcher::watcher(api, config).default_backoff()
}

/// The event with its object converted.
fn converted<K, C>(event: Event<K>, convert: impl Fn(&K) -> C) -> Event<C> {
    match event {
        Event::Apply(obj) => Event::Apply(convert(&obj)),
        Event::Delete(obj) => Event::Delete(convert(&obj)),
        Event::Init => Event::Init,
        Event::InitApply(obj) => Event::InitApply(convert(&obj)),
        Event::InitDone => Event::InitDone,
    }
}

fn probe(client: Client) -> impl Stream<Item = bool> + Send {
    futures::stream::unfold(client, |client| async move {
        tokio::time::sleep(PROBE_PERIOD).await;
        let ok = tokio::time::timeout(PROBE_PERIOD, client.apiserver_version())
            .await
            .is_ok_and(|r| r.is_ok());
        Some((ok, client))
    })
}

/// The caches and what has changed since the last publication.
struct SourceState {
    k8s: KubernetesSettings,
    metrics: ControllerMetrics,
    configmaps: ObjectCache<ConfigMap>,
    services: ObjectCache<CachedService>,
    slices: ObjectCache<CachedSlice>,
    /// Slices per Service.
    slice_index: SliceIndex,
    /// The Service each ConfigMap key that names one references.
    referenced_by_key: BTreeMap<String, ObjectKey>,
    /// Every Service some key references: kept with `referenced_by_key`, so that an
    /// EndpointSlice event does not collect it again (10,000 keys at production size).
    referenced: BTreeSet<ObjectKey>,
    converted: BTreeMap<ObjectKey, Arc<ServiceEndpoints>>,
    dirty_services: BTreeSet<ObjectKey>,
    all_dirty: bool,
    config_dirty: bool,
    endpoints_dirty: bool,
    changed_at: Option<SystemTime>,
    connected: bool,
}

impl SourceState {
    fn new(k8s: KubernetesSettings, metrics: ControllerMetrics) -> Self {
        SourceState {
            k8s,
            metrics,
            configmaps: ObjectCache::default(),
            services: ObjectCache::default(),
            slices: ObjectCache::default(),
            slice_index: SliceIndex::default(),
            referenced_by_key: BTreeMap::new(),
            referenced: BTreeSet::new(),
            converted: BTreeMap::new(),
            dirty_services: BTreeSet::new(),
            all_dirty: true,
            config_dirty: true,
            endpoints_dirty: true,
            changed_at: None,
            connected: true,
        }
    }

    fn handle(&mut self, item: Incoming, outputs: &KubeOutputs) {
        match item {
            Incoming::Probe(ok) => self.set_connected(ok, outputs),
            Incoming::ConfigMap(r) => {
                if let Some(event) = self.check("configmap", *r, outputs) {
                    self.configmaps.apply(event);
                    self.config_dirty = true;
                }
            }
            Incoming::Service(r) => {
                if let Some(event) = self.check("service", r, outputs) {
                    match self.services.apply(event) {
                        CacheChange::None => {}
                        CacheChange::All => self.all_dirty = true,
                        CacheChange::Objects(keys) => {
                            self.note_change(None);
                            self.dirty_services.extend(keys);
                        }
                    }
                    self.endpoints_dirty = true;
                }
            }
            Incoming::Slice(r) => {
                if let Some(event) = self.check("endpointslice", r, outputs) {
                    self.slice_event(event);
                    self.endpoints_dirty = true;
                }
            }
        }
    }

    /// Counts the event; on an error marks the source disconnected and returns `None`.
    fn check<K>(
        &mut self,
        resource: &str,
        item: Item<K>,
        outputs: &KubeOutputs,
    ) -> Option<Event<K>> {
        match item {
            Ok(event) => {
                let kind = match &event {
                    Event::Apply(_) => "apply",
                    Event::Delete(_) => "delete",
                    Event::Init => "init",
                    Event::InitApply(_) => "init_apply",
                    Event::InitDone => "init_done",
                };
                self.metrics
                    .events_total
                    .with_label_values(&[resource, kind])
                    .inc();
                Some(event)
            }
            Err(e) => {
                warn!(resource, error = %e, "watch failed: keeping the last good state, retrying");
                self.metrics
                    .watch_errors_total
                    .with_label_values(&[resource])
                    .inc();
                self.set_connected(false, outputs);
                None
            }
        }
    }

    fn set_connected(&mut self, ok: bool, outputs: &KubeOutputs) {
        if ok != self.connected {
            if ok {
                info!("API server reachable again");
            } else {
                warn!("API server unreachable: keeping the kernel as it is");
            }
            self.connected = ok;
            outputs.connected.send_replace(ok);
        }
    }

    fn slice_event(&mut self, event: Event<CachedSlice>) {
        let touched = match &event {
            Event::Apply(s) | Event::Delete(s) => {
                let owner = s.owner().cloned();
                if let Some(owner) = owner.clone() {
                    self.note_change(s.trigger_time());
                    self.dirty_services.insert(owner);
                }
                // A slice that moved to another Service (label edit) leaves the old one.
                let key = s.key();
                let old_owner = self.slices.get(&key).and_then(|s| s.owner().cloned());
                if let Some(old) = old_owner.as_ref().filter(|o| Some(*o) != owner.as_ref()) {
                    self.dirty_services.insert(old.clone());
                }
                Some((key, old_owner, owner, matches!(event, Event::Delete(_))))
            }
            _ => None,
        };
        match self.slices.apply(event) {
            CacheChange::All => {
                self.all_dirty = true;
                self.slice_index.clear();
                for (key, slice) in self.slices.iter() {
                    if let Some(owner) = slice.owner().cloned() {
                        self.slice_index.insert(owner, key.clone());
                    }
                }
            }
            CacheChange::None => {}
            CacheChange::Objects(_) => {
                if let Some((key, old_owner, owner, deleted)) = touched {
                    if let Some(old) = old_owner {
                        self.slice_index.remove(&old, &key);
                    }
                    if let (Some(owner), false) = (owner, deleted) {
                        self.slice_index.insert(owner, key);
                    }
                }
            }
        }
    }

    fn note_change(&mut self, at: Option<SystemTime>) {
        let at = at.unwrap_or_else(SystemTime::now);
        self.changed_at = Some(self.changed_at.map_or(at, |t| t.min(at)));
    }

    fn publish(&mut self, outputs: &KubeOutputs) {
        if self.config_dirty && self.configmaps.is_listed() {
            self.config_dirty = false;
            let key = ObjectKey::new(&self.k8s.namespace, &self.k8s.configmap);
            let input = match self.configmaps.get(&key) {
                Some(cm) => ConfigInput::from_data_after(
                    cm.data.clone().unwrap_or_default(),
                    outputs.config.borrow().as_deref(),
                ),
                None => ConfigInput::Absent,
            };
            if self.update_references(&input) {
                self.all_dirty = true;
                self.endpoints_dirty = true;
            }
            outputs.config.send_if_modified(|old| {
                let changed = old.as_deref() != Some(&input);
                if changed {
                    *old = Some(Arc::new(input));
                }
                changed
            });
        }
        if !(self.endpoints_dirty
            && self.configmaps.is_listed()
            && self.services.is_listed()
            && self.slices.is_listed())
        {
            return;
        }
        self.endpoints_dirty = false;
        if std::mem::take(&mut self.all_dirty) {
            // Every Service converted again; the unchanged ones keep their shared copy. Only
            // here can a Service have stopped being referenced (the references changed).
            self.dirty_services = self.referenced.clone();
            let referenced = &self.referenced;
            self.converted.retain(|k, _| referenced.contains(k));
        }
        for key in std::mem::take(&mut self.dirty_services) {
            if !self.referenced.contains(&key) {
                continue;
            }
            match self.services.get(&key) {
                Some(service) => {
                    let slices = self
                        .slice_index
                        .slices_of(&key)
                        .filter_map(|k| self.slices.get(k));
                    let fresh = service_endpoints(service, slices);
                    // Unchanged: keep the shared copy, so snapshots compare by pointer.
                    if self.converted.get(&key).is_none_or(|old| **old != fresh) {
                        self.converted.insert(key, Arc::new(fresh));
                    }
                }
                None => {
                    self.converted.remove(&key);
                }
            }
        }
        let snapshot = lb_config::EndpointSnapshot::new(self.converted.values().cloned().collect());
        let changed_at = self.changed_at.take();
        outputs.endpoints.send_if_modified(|old| {
            let changed = old.as_ref().map(|o| o.snapshot.as_ref()) != Some(&snapshot);
            if changed {
                *old = Some(Arc::new(EndpointsInput {
                    snapshot: Arc::new(snapshot),
                    changed_at,
                }));
            }
            changed
        });
    }

    /// Updates the referenced Services; returns whether the set changed.
    fn update_references(&mut self, input: &ConfigInput) -> bool {
        let ConfigInput::Present {
            entries, values, ..
        } = input
        else {
            return false; // absent or unreadable: everything is kept, so are the references
        };
        self.referenced_by_key.retain(|k, _| values.contains_key(k));
        for entry in entries {
            match &entry.target {
                Target::Service { service, .. } => {
                    let unchanged = self.referenced_by_key.get(&entry.key).is_some_and(|k| {
                        *k.namespace == *service.namespace && *k.name == *service.name
                    });
                    if !unchanged {
                        let key = ObjectKey::new(&service.namespace, &service.name);
                        self.referenced_by_key.insert(entry.key.clone(), key);
                    }
                }
                Target::Static { .. } => {
                    self.referenced_by_key.remove(&entry.key);
                }
            }
        }
        let after: BTreeSet<ObjectKey> = self.referenced_by_key.values().cloned().collect();
        if after == self.referenced {
            return false;
        }
        self.referenced = after;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> KubeOutputs {
        KubeOutputs {
            config: watch::channel(None).0,
            endpoints: watch::channel(None).0,
            connected: watch::channel(true).0,
        }
    }

    fn configmap(data: serde_json::Value) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "vips", "namespace": "lb"}, "data": data
        }))
        .unwrap()
    }

    fn service(name: &str) -> CachedService {
        cached_service(
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"ports": [{"name": "http", "port": 80}]}
            }))
            .unwrap(),
        )
    }

    fn slice(name: &str, service: &str, address: &str) -> CachedSlice {
        cached_slice(
            &serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "shop",
                             "labels": {SERVICE_NAME_LABEL: service}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080}],
                "endpoints": [{"addresses": [address]}]
            }))
            .unwrap(),
        )
    }

    /// Lists `items` into a cache as a watcher's first list does.
    fn listed<K>(items: Vec<K>, mut handle: impl FnMut(Item<K>)) {
        handle(Ok(Event::Init));
        for item in items {
            handle(Ok(Event::InitApply(item)));
        }
        handle(Ok(Event::InitDone));
    }

    /// The published endpoints: Service name -> the addresses of its slices.
    fn published(outputs: &KubeOutputs) -> Vec<(String, Vec<String>)> {
        let input = outputs.endpoints.borrow();
        let snapshot = &input.as_ref().expect("endpoints published").snapshot;
        snapshot
            .services()
            .iter()
            .map(|s| {
                let addresses = s.slices.iter().flat_map(|sl| &sl.endpoints);
                let addresses = addresses.flat_map(|e| &e.addresses).map(|a| a.to_string());
                (s.name.clone(), addresses.collect())
            })
            .collect()
    }

    #[test]
    fn a_slice_relabelled_to_another_service_leaves_the_first() {
        // Mutation: not taking the slice from under its old Service in the index (the
        // relabel then lists it under both) fails the second assertion.
        let outputs = outputs();
        let mut state = SourceState::new(
            KubernetesSettings {
                namespace: "lb".into(),
                configmap: "vips".into(),
                allow_insecure_http: true,
            },
            ControllerMetrics::new().unwrap(),
        );
        let cm = configmap(serde_json::json!({
            "10.1.0.1": "shop/web:http", "10.1.0.2": "shop/api:http"
        }));
        listed(vec![cm], |i| {
            state.handle(Incoming::ConfigMap(Box::new(i)), &outputs)
        });
        listed(vec![service("web"), service("api")], |i| {
            state.handle(Incoming::Service(i), &outputs)
        });
        listed(
            vec![
                slice("web-a", "web", "10.2.0.1"),
                slice("api-a", "api", "10.2.0.2"),
            ],
            |i| state.handle(Incoming::Slice(i), &outputs),
        );
        state.publish(&outputs);
        assert_eq!(
            published(&outputs),
            [
                ("api".to_owned(), vec!["10.2.0.2".to_owned()]),
                ("web".to_owned(), vec!["10.2.0.1".to_owned()]),
            ]
        );

        // web-a is relabelled to api: web has no slice left, api has both.
        let moved = slice("web-a", "api", "10.2.0.1");
        state.handle(Incoming::Slice(Ok(Event::Apply(moved))), &outputs);
        state.publish(&outputs);
        let after = published(&outputs);
        assert_eq!(after[1], ("web".to_owned(), vec![]));
        let mut api = after[0].1.clone();
        api.sort();
        assert_eq!(api, ["10.2.0.1", "10.2.0.2"]);

        // Deleted: gone from api too.
        let gone = slice("web-a", "api", "10.2.0.1");
        state.handle(Incoming::Slice(Ok(Event::Delete(gone))), &outputs);
        state.publish(&outputs);
        assert_eq!(
            published(&outputs)[0],
            ("api".to_owned(), vec!["10.2.0.2".to_owned()])
        );
    }
}
