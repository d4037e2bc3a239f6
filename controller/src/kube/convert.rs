//! Kubernetes objects (k8s-openapi) -> what the caches keep -> the plain endpoint snapshot of
//! `lb-config`.
//!
//! Pure: no I/O, no clock. Each Service and EndpointSlice is converted once, as it arrives
//! ([`cached_service`], [`cached_slice`]); the caches keep only that, never the typed object.
//! At 10,000 Services the typed objects were most of the daemon's memory in Kubernetes mode
//! (k8s-openapi's `Endpoint` is 352 bytes with every field absent, ours 32; and real clusters
//! add `managedFields`, annotations and topology to every object; bench/README.md). A Service
//! and the slices that carry its label (`kubernetes.io/service-name`, same namespace) become
//! [`ServiceEndpoints`]. FQDN slices are ignored; addresses that do not parse are skipped;
//! ports outside 1-65535 are dropped. Conditions are passed through unchanged (absent stays
//! absent), so the Kubernetes defaults (absent `ready` = ready, absent `serving` = `ready`) are
//! applied in one place, the builder. Endpoints listed by several slices (during a move) are
//! kept: the builder counts them once.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Service, ServicePort as K8sServicePort};
use k8s_openapi::api::discovery::v1::{EndpointPort as K8sSlicePort, EndpointSlice as K8sSlice};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use lb_config::{
    AddressType, Endpoint, EndpointAddresses, EndpointConditions, EndpointPort, EndpointSlice,
    Protocol, ServiceEndpoints, ServicePort, TargetPort,
};

use super::cache::{Keyed, ObjectKey, key_of};

/// The label that ties an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The annotation the EndpointSlice controller sets to when the change that caused the slice's
/// last update happened (a pod became ready, ...): the start of the programming latency.
pub(crate) const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// What the cache keeps of a Service: its key and its ports, converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedService {
    key: ObjectKey,
    ports: Vec<ServicePort>,
}

/// What the cache keeps of an EndpointSlice: its key, its Service, its trigger time and the
/// converted slice (`None` for an FQDN slice).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedSlice {
    key: ObjectKey,
    /// The Service it belongs to, (namespace, name), from its label.
    owner: Option<ObjectKey>,
    trigger: Option<SystemTime>,
    slice: Option<Arc<EndpointSlice>>,
}

impl Keyed for CachedService {
    fn key(&self) -> ObjectKey {
        self.key.clone()
    }
}

impl Keyed for CachedSlice {
    fn key(&self) -> ObjectKey {
        self.key.clone()
    }
}

impl CachedSlice {
    /// The Service this slice belongs to (its `kubernetes.io/service-name` label).
    pub(crate) fn owner(&self) -> Option<&ObjectKey> {
        self.owner.as_ref()
    }

    /// When the change behind the slice's last update happened, if the controller recorded it.
    pub(crate) fn trigger_time(&self) -> Option<SystemTime> {
        self.trigger
    }
}

/// A Service as its cache keeps it.
pub(crate) fn cached_service(service: &Service) -> CachedService {
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .map(|ports| exact(ports.iter().filter_map(service_port).collect()))
        .unwrap_or_default();
    CachedService {
        key: key_of(service),
        ports,
    }
}

/// An EndpointSlice as its cache keeps it.
pub(crate) fn cached_slice(slice: &K8sSlice) -> CachedSlice {
    let key = key_of(slice);
    let owner = slice
        .labels()
        .get(SERVICE_NAME_LABEL)
        .map(|name| key.sibling(name));
    CachedSlice {
        owner,
        trigger: trigger_time(slice),
        slice: endpoint_slice(slice).map(Arc::new),
        key,
    }
}

/// One Service with the slices that carry its label, as plain data.
pub(crate) fn service_endpoints<'a>(
    service: &CachedService,
    slices: impl IntoIterator<Item = &'a CachedSlice>,
) -> ServiceEndpoints {
    ServiceEndpoints {
        namespace: service.key.namespace.to_string(),
        name: service.key.name.to_string(),
        ports: service.ports.clone(),
        slices: exact(slices.into_iter().filter_map(|s| s.slice.clone()).collect()),
    }
}

fn trigger_time(slice: &K8sSlice) -> Option<SystemTime> {
    let text = slice.annotations().get(TRIGGER_TIME_ANNOTATION)?;
    let stamp: k8s_openapi::jiff::Timestamp = text.parse().ok()?;
    Some(SystemTime::from(stamp))
}

/// `list` without spare capacity: the caches keep these lists for as long as the object lives.
fn exact<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
}

fn service_port(port: &K8sServicePort) -> Option<ServicePort> {
    Some(ServicePort {
        name: port.name.clone().filter(|n| !n.is_empty()),
        port: port_number(port.port)?,
        protocol: protocol(port.protocol.as_deref())?,
        target_port: match &port.target_port {
            None => None,
            Some(IntOrString::Int(n)) => Some(TargetPort::Number(port_number(*n)?)),
            Some(IntOrString::String(name)) => match name.parse::<u16>() {
                Ok(n) if n > 0 => Some(TargetPort::Number(n)),
                _ => Some(TargetPort::Name(name.clone())),
            },
        },
    })
}

fn endpoint_slice(slice: &K8sSlice) -> Option<EndpointSlice> {
    let address_type = match slice.address_type.as_str() {
        "IPv4" => AddressType::IPv4,
        "IPv6" => AddressType::IPv6,
        _ => return None,
    };
    let ports = slice
        .ports
        .as_ref()
        .map(|ports| exact(ports.iter().filter_map(slice_port).collect()))
        .unwrap_or_default();
    let endpoints = slice
        .endpoints
        .iter()
        .filter_map(|e| {
            let mut addresses: EndpointAddresses = e
                .addresses
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .filter(|a| a.is_ipv4() == (address_type == AddressType::IPv4))
                .collect();
            // Several addresses spill to the heap: keep no spare room there either.
            addresses.shrink_to_fit();
            if addresses.is_empty() {
                return None;
            }
            let conditions = e
                .conditions
                .as_ref()
                .map(|c| EndpointConditions {
                    ready: c.ready,
                    serving: c.serving,
                    terminating: c.terminating,
                })
                .unwrap_or_default();
            Some(Endpoint {
                addresses,
                conditions,
            })
        })
        .collect();
    Some(EndpointSlice {
        address_type,
        ports,
        endpoints: exact(endpoints),
    })
}

fn slice_port(port: &K8sSlicePort) -> Option<EndpointPort> {
    Some(EndpointPort {
        name: port.name.clone().filter(|n| !n.is_empty()),
        port: port.port.and_then(port_number),
        protocol: protocol(port.protocol.as_deref())?,
    })
}

/// Kubernetes protocols (absent = TCP); an unknown one drops the port.
fn protocol(text: Option<&str>) -> Option<Protocol> {
    match text {
        None => Some(Protocol::Tcp),
        Some(p) => p.parse().ok(),
    }
}

fn port_number(n: i32) -> Option<u16> {
    u16::try_from(n).ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }
    fn slice(v: serde_json::Value) -> K8sSlice {
        serde_json::from_value(v).unwrap()
    }

    fn web_service() -> Service {
        service(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": "http-alt"},
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
                {"name": "metrics", "port": 9100, "protocol": "ICMP"}
            ]}
        }))
    }

    #[test]
    fn converts_ports_named_and_numbered_and_drops_unknown_protocols() {
        let svc = service_endpoints(&cached_service(&web_service()), []);
        assert_eq!((svc.namespace.as_str(), svc.name.as_str()), ("shop", "web"));
        assert_eq!(svc.ports.len(), 2, "{:?}", svc.ports);
        assert_eq!(
            svc.ports[0].target_port,
            Some(TargetPort::Name("http-alt".into()))
        );
        assert_eq!(svc.ports[1].protocol, Protocol::Udp);
        assert_eq!(svc.ports[1].target_port, Some(TargetPort::Number(5353)));
    }

    #[test]
    fn converts_slices_conditions_and_families_and_skips_fqdn() {
        let v4 = slice(json!({
            "metadata": {"name": "web-a", "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": "web"},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-02T03:04:05Z"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.1.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["not-an-ip"]},
                {"addresses": ["2001:db8::1"]}
            ]
        }));
        let v6 = slice(json!({
            "metadata": {"name": "web-b", "namespace": "shop"},
            "addressType": "IPv6",
            "endpoints": [{"addresses": ["2001:db8::2"]}]
        }));
        let fqdn = slice(json!({
            "metadata": {"name": "web-c", "namespace": "shop"},
            "addressType": "FQDN",
            "endpoints": [{"addresses": ["example.com"]}]
        }));
        let (v4, v6, fqdn) = (cached_slice(&v4), cached_slice(&v6), cached_slice(&fqdn));
        assert_eq!(v4.owner(), Some(&ObjectKey::new("shop", "web")));
        assert_eq!(v6.owner(), None);
        assert_eq!(v4.key(), ObjectKey::new("shop", "web-a"));
        let svc = service_endpoints(&cached_service(&web_service()), [&v4, &v6, &fqdn]);
        assert_eq!(svc.slices.len(), 2);
        let a = &svc.slices[0];
        assert_eq!(a.address_type, AddressType::IPv4);
        assert_eq!(a.ports[0].port, Some(8080));
        assert_eq!(a.endpoints.len(), 2, "bad address and wrong family dropped");
        assert_eq!(a.endpoints[1].conditions.terminating, Some(true));
        assert!(a.endpoints[1].conditions.is_serving());
        assert_eq!(svc.slices[1].address_type, AddressType::IPv6);
        let t = v4.trigger_time().unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_767_323_045);
        assert_eq!(v6.trigger_time(), None);
    }

    #[test]
    fn absent_conditions_stay_absent_so_the_builder_applies_defaults() {
        let s = slice(json!({
            "metadata": {"name": "x", "namespace": "n"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.9"]}]
        }));
        let svc = service_endpoints(&cached_service(&web_service()), [&cached_slice(&s)]);
        let c = svc.slices[0].endpoints[0].conditions;
        assert_eq!(c, EndpointConditions::default());
        assert!(c.is_ready() && c.is_serving() && !c.is_terminating());
    }

    /// Decoded from text as the watcher does (lists grow by doubling), a slice of 10 endpoints
    /// is cached without spare room: at 10,000 slices the spare room of the typed lists was
    /// 33 MiB of the daemon's heap. Mutation: `exact` that does not shrink fails this.
    #[test]
    fn a_cached_slice_keeps_no_spare_room() {
        let endpoints: Vec<String> = (1..=10)
            .map(|i| format!(r#"{{"addresses":["10.0.0.{i}"],"conditions":{{"ready":true}}}}"#))
            .collect();
        let text = format!(
            r#"{{"metadata":{{"name":"web-x","namespace":"shop"}},"addressType":"IPv4",
               "ports":[{{"port":80}},{{"port":81}},{{"port":82}}],"endpoints":[{}]}}"#,
            endpoints.join(",")
        );
        let typed: K8sSlice = serde_json::from_str(&text).unwrap();
        assert!(
            typed.endpoints.capacity() > typed.endpoints.len(),
            "control: the decoder leaves spare room"
        );
        let cached = cached_slice(&typed);
        let slice = cached.slice.as_ref().unwrap();
        assert_eq!(slice.endpoints.len(), 10);
        assert_eq!(slice.endpoints.capacity(), 10);
        assert_eq!(slice.ports.capacity(), 3);
        for endpoint in &slice.endpoints {
            // The one address is inline: no allocation of its own.
            assert!(!endpoint.addresses.spilled());
        }
        let service = cached_service(&web_service());
        assert_eq!(service.ports.capacity(), service.ports.len());
    }

    /// Several addresses (Kubernetes allows up to 100) spill to the heap, without spare room.
    #[test]
    fn an_endpoint_with_several_addresses_keeps_them_all_exactly() {
        let text = r#"{"metadata":{"name":"web-x","namespace":"shop"},"addressType":"IPv4",
            "endpoints":[{"addresses":["10.0.0.1","10.0.0.2","10.0.0.3"]}]}"#;
        let cached = cached_slice(&serde_json::from_str(text).unwrap());
        let addresses = &cached.slice.as_ref().unwrap().endpoints[0].addresses;
        let expected: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(addresses.as_slice(), expected.as_slice());
        assert_eq!(addresses.capacity(), 3);
    }

    /// The cached forms keep what the snapshot needs of objects as a cluster writes them, and
    /// the result is what converting the same objects whole gives: every field the conversion
    /// reads survives, whatever else the objects carry.
    #[test]
    fn objects_with_everything_a_cluster_adds_convert_to_the_same_snapshot() {
        let meta = |name: &str| {
            json!({"name": name, "namespace": "shop", "uid": "u", "resourceVersion": "7",
                   "labels": {"kubernetes.io/service-name": "web", "app": "web"},
                   "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-02T03:04:05Z",
                                   "meta.helm.sh/release-name": "shop"},
                   "managedFields": [{"manager": "helm", "operation": "Update",
                                      "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]})
        };
        let whole = slice(json!({
            "metadata": meta("web-a"),
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}],
            "endpoints": [
                {"addresses": ["10.1.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "nodeName": "n1", "zone": "z1", "hints": {"forZones": [{"name": "z1"}]},
                 "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "p1"}},
                {"addresses": ["10.1.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}}
            ]
        }));
        let svc = service(json!({
            "metadata": meta("web"),
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.1", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
        }));
        let got = service_endpoints(&cached_service(&svc), [&cached_slice(&whole)]);
        let expected: ServiceEndpoints = serde_json::from_value(json!({
            "namespace": "shop", "name": "web",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "slices": [{"addressType": "IPv4",
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                        "endpoints": [
                            {"addresses": ["10.1.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false}},
                            {"addresses": ["10.1.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true}}
                        ]}]
        }))
        .unwrap();
        assert_eq!(got, expected);
    }
}
