//! What the caches keep of each watched Service and EndpointSlice: the fields the conversion
//! and the source read, nothing else.
//!
//! Pure. At 10,000 Services the whole objects were most of the daemon's memory in Kubernetes
//! mode (bench/README.md: 283 MiB against 103 MiB for the same table from a file): status,
//! every spec field, each endpoint's topology and targetRef, and in real clusters
//! `managedFields` and annotations on every object. Each object is slimmed as it arrives, before
//! any cache holds it. Kept: name, namespace, resourceVersion and uid; the Service's ports
//! (name, port, protocol, targetPort); the slice's `kubernetes.io/service-name` label, its
//! trigger-time annotation, address type, ports and endpoints (addresses and conditions), in
//! lists without the decoder's spare room. The tests prove the conversion of a slimmed object
//! equals that of the whole one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::convert::{SERVICE_NAME_LABEL, TRIGGER_TIME_ANNOTATION};

/// Keeps of a Service its identity and its ports.
pub(crate) fn service(service: &mut Service) {
    slim_metadata(&mut service.metadata, &[], &[]);
    service.status = None;
    service.spec = service.spec.take().map(|spec| ServiceSpec {
        ports: spec
            .ports
            .map(|ports| exact(ports.into_iter().map(service_port).collect())),
        ..ServiceSpec::default()
    });
}

/// Keeps of an EndpointSlice its identity, its owner label, its trigger time, and what the
/// conversion reads of its ports and endpoints.
pub(crate) fn endpoint_slice(slice: &mut EndpointSlice) {
    slim_metadata(
        &mut slice.metadata,
        &[SERVICE_NAME_LABEL],
        &[TRIGGER_TIME_ANNOTATION],
    );
    slice.ports = slice
        .ports
        .take()
        .map(|ports| exact(ports.into_iter().map(slice_port).collect()));
    // The decoder grows each list by doubling and `collect` keeps that allocation (it maps in
    // place): without `exact`, 10 endpoints of 352 bytes sit in room for 16.
    slice.endpoints = exact(
        std::mem::take(&mut slice.endpoints)
            .into_iter()
            .map(|endpoint| Endpoint {
                addresses: exact(endpoint.addresses),
                conditions: endpoint.conditions,
                ..Endpoint::default()
            })
            .collect(),
    );
}

/// `list` without its spare capacity.
fn exact<T>(mut list: Vec<T>) -> Vec<T> {
    list.shrink_to_fit();
    list
}

fn service_port(port: ServicePort) -> ServicePort {
    ServicePort {
        name: port.name,
        port: port.port,
        protocol: port.protocol,
        target_port: port.target_port,
        ..ServicePort::default()
    }
}

fn slice_port(port: EndpointPort) -> EndpointPort {
    EndpointPort {
        name: port.name,
        port: port.port,
        protocol: port.protocol,
        ..EndpointPort::default()
    }
}

/// Keeps name, namespace, resourceVersion, uid and the `labels` and `annotations` named.
fn slim_metadata(meta: &mut ObjectMeta, labels: &[&str], annotations: &[&str]) {
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        resource_version: meta.resource_version.take(),
        uid: meta.uid.take(),
        labels: only(meta.labels.take(), labels),
        annotations: only(meta.annotations.take(), annotations),
        ..ObjectMeta::default()
    };
}

fn only(map: Option<BTreeMap<String, String>>, names: &[&str]) -> Option<BTreeMap<String, String>> {
    let kept: BTreeMap<String, String> = map?
        .into_iter()
        .filter(|(name, _)| names.contains(&name.as_str()))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::convert::{service_endpoints, slice_service_name, trigger_time};
    use serde_json::json;

    /// A Service with every kind of field a real cluster sets, including what is dropped.
    fn full_service() -> Service {
        serde_json::from_value(json!({
            "metadata": {
                "name": "frontend", "namespace": "web", "uid": "u-1", "resourceVersion": "42",
                "labels": {"app": "frontend"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {
                "type": "LoadBalancer", "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10", "fd00::10"], "ipFamilies": ["IPv4", "IPv6"],
                "selector": {"app": "frontend"}, "sessionAffinity": "None",
                "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                "ports": [
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web",
                     "nodePort": 30080, "appProtocol": "http"},
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
                    {"port": 9000}
                ]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
        }))
        .unwrap()
    }

    /// Two slices of that Service (v4 and v6), with topology, hints, targetRef and terminating
    /// endpoints.
    fn full_slices() -> Vec<EndpointSlice> {
        ["IPv4", "IPv6"]
            .into_iter()
            .map(|family| {
                let (a, b) = if family == "IPv4" {
                    ("10.0.1.11", "10.0.1.12")
                } else {
                    ("fd00::11", "fd00::12")
                };
                serde_json::from_value(json!({
                    "metadata": {
                        "name": format!("frontend-{family}"), "namespace": "web",
                        "uid": "u-s", "resourceVersion": "43",
                        "labels": {"kubernetes.io/service-name": "frontend",
                                   "endpointslice.kubernetes.io/managed-by": "controller"},
                        "annotations": {
                            "endpoints.kubernetes.io/last-change-trigger-time": "2026-01-05T09:10:00Z",
                            "other": "x"
                        },
                        "managedFields": [{"manager": "kube-controller-manager"}]
                    },
                    "addressType": family,
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"},
                              {"name": "dns", "port": 5353, "protocol": "UDP"},
                              {"port": 9000}],
                    "endpoints": [
                        {"addresses": [a], "conditions": {"ready": true, "serving": true, "terminating": false},
                         "nodeName": "node-a", "zone": "z1", "hostname": "pod-a",
                         "hints": {"forZones": [{"name": "z1"}]},
                         "targetRef": {"kind": "Pod", "name": "frontend-a", "namespace": "web"}},
                        {"addresses": [b], "conditions": {"ready": false, "serving": true, "terminating": true},
                         "nodeName": "node-b"},
                        {"addresses": ["not-an-address"]}
                    ]
                }))
                .unwrap()
            })
            .collect()
    }

    /// Fails if slimming drops anything the conversion, the owner lookup or the programming
    /// latency read (mutation: keeping endpoints without their conditions fails it).
    #[test]
    fn a_slimmed_object_converts_like_the_whole_one() {
        let (whole_service, whole_slices) = (full_service(), full_slices());
        let mut slim_service = whole_service.clone();
        service(&mut slim_service);
        let mut slim_slices = whole_slices.clone();
        slim_slices.iter_mut().for_each(endpoint_slice);
        assert_eq!(
            service_endpoints(&slim_service, &slim_slices),
            service_endpoints(&whole_service, &whole_slices)
        );
        for (slim, whole) in slim_slices.iter().zip(&whole_slices) {
            assert_eq!(slice_service_name(slim), slice_service_name(whole));
            assert_eq!(trigger_time(slim), trigger_time(whole));
            assert!(trigger_time(slim).is_some());
            assert_eq!(slim.metadata.name, whole.metadata.name);
            assert_eq!(
                slim.metadata.resource_version,
                whole.metadata.resource_version
            );
        }
        assert_eq!(slim_service.metadata.uid, whole_service.metadata.uid);
    }

    /// Fails if the dropped parts stay (the control: the whole objects hold them).
    #[test]
    fn what_the_conversion_never_reads_is_dropped() {
        let whole_size = |v: &serde_json::Value| v.to_string().len();
        let (mut svc, mut slices) = (full_service(), full_slices());
        let (svc_before, slice_before) = (
            serde_json::to_value(&svc).unwrap(),
            serde_json::to_value(&slices[0]).unwrap(),
        );
        assert!(svc_before.pointer("/metadata/managedFields").is_some());
        assert!(slice_before.pointer("/endpoints/0/targetRef").is_some());
        service(&mut svc);
        slices.iter_mut().for_each(endpoint_slice);
        let (svc_after, slice_after) = (
            serde_json::to_value(&svc).unwrap(),
            serde_json::to_value(&slices[0]).unwrap(),
        );
        for gone in [
            "/metadata/managedFields",
            "/metadata/labels",
            "/metadata/annotations",
            "/status",
            "/spec/clusterIP",
            "/spec/selector",
            "/spec/ports/0/nodePort",
        ] {
            assert!(
                svc_after.pointer(gone).is_none(),
                "Service still has {gone}"
            );
        }
        for gone in [
            "/metadata/managedFields",
            "/metadata/labels/endpointslice.kubernetes.io~1managed-by",
            "/metadata/annotations/other",
            "/endpoints/0/targetRef",
            "/endpoints/0/nodeName",
            "/endpoints/0/zone",
            "/endpoints/0/hints",
            "/ports/0/appProtocol",
        ] {
            assert!(
                slice_after.pointer(gone).is_none(),
                "slice still has {gone}"
            );
        }
        assert!(whole_size(&svc_after) < whole_size(&svc_before));
        assert!(whole_size(&slice_after) < whole_size(&slice_before));
    }

    /// Decoded from text as the watcher does (lists grow by doubling), a slice of 10 endpoints
    /// keeps no spare room: at 10,000 slices the spare room was 33 MiB of the daemon's heap.
    /// Mutation: without `exact` the endpoints sit in room for 16 and this fails.
    #[test]
    fn a_slimmed_slice_keeps_no_spare_room() {
        let endpoints: Vec<String> = (1..=10)
            .map(|i| {
                format!(
                    r#"{{"addresses":["10.0.0.{i}"],"conditions":{{"ready":true}},"nodeName":"n{i}"}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"metadata":{{"name":"web-x","namespace":"shop"}},"addressType":"IPv4","ports":[{{"port":80}}],"endpoints":[{}]}}"#,
            endpoints.join(",")
        );
        let mut slice: EndpointSlice = serde_json::from_str(&text).unwrap();
        assert!(
            slice.endpoints.capacity() > slice.endpoints.len(),
            "control: the decoder leaves spare room"
        );
        endpoint_slice(&mut slice);
        assert_eq!(slice.endpoints.len(), 10);
        assert_eq!(slice.endpoints.capacity(), 10);
        for endpoint in &slice.endpoints {
            assert_eq!(endpoint.addresses.capacity(), endpoint.addresses.len());
        }
        let ports = slice.ports.unwrap();
        assert_eq!(ports.capacity(), ports.len());
    }
}
