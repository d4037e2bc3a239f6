//! Kubernetes objects (k8s-openapi) -> the plain endpoint snapshot of `lb-config`.
//!
//! Pure: no I/O, no clock. Services and their EndpointSlices (joined on the label
//! `kubernetes.io/service-name` within one namespace) become [`ServiceEndpoints`]. FQDN slices
//! are ignored; addresses that do not parse are skipped; ports outside 1-65535 are dropped.
//! Conditions are passed through unchanged (absent stays absent), so the Kubernetes defaults
//! (absent `ready` = ready, absent `serving` = `ready`) are applied in one place, the builder.
//! Endpoints listed by several slices (during a move) are kept: the builder counts them once.

use std::net::IpAddr;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Service, ServicePort as K8sServicePort};
use k8s_openapi::api::discovery::v1::{EndpointPort as K8sSlicePort, EndpointSlice as K8sSlice};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use lb_config::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, Protocol,
    ServiceEndpoints, ServicePort, TargetPort,
};

/// The label that ties an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The annotation the EndpointSlice controller sets to when the change that caused the slice's
/// last update happened (a pod became ready, ...): the start of the programming latency.
pub(crate) const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// One Service with the slices that carry its label, as plain data.
pub(crate) fn service_endpoints<'a>(
    service: &Service,
    slices: impl IntoIterator<Item = &'a K8sSlice>,
) -> ServiceEndpoints {
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_ref())
        .map(|ports| ports.iter().filter_map(service_port).collect())
        .unwrap_or_default();
    ServiceEndpoints {
        namespace: service.metadata.namespace.clone().unwrap_or_default(),
        name: service.metadata.name.clone().unwrap_or_default(),
        ports,
        slices: slices.into_iter().filter_map(endpoint_slice).collect(),
    }
}

/// The Service's name an EndpointSlice belongs to (its `kubernetes.io/service-name` label).
pub(crate) fn slice_service_name(slice: &K8sSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
}

/// When the change behind the slice's last update happened, if the controller recorded it.
pub(crate) fn trigger_time(slice: &K8sSlice) -> Option<SystemTime> {
    let text = slice
        .metadata
        .annotations
        .as_ref()?
        .get(TRIGGER_TIME_ANNOTATION)?;
    let stamp: k8s_openapi::jiff::Timestamp = text.parse().ok()?;
    Some(SystemTime::from(stamp))
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
        .map(|ports| ports.iter().filter_map(slice_port).collect())
        .unwrap_or_default();
    let endpoints = slice
        .endpoints
        .iter()
        .filter_map(|e| {
            let addresses: Vec<IpAddr> = e
                .addresses
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .filter(|a| a.is_ipv4() == (address_type == AddressType::IPv4))
                .collect();
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
        endpoints,
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
        let svc = service_endpoints(&web_service(), []);
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
        assert_eq!(slice_service_name(&v4), Some("web"));
        assert_eq!(slice_service_name(&v6), None);
        let svc = service_endpoints(&web_service(), [&v4, &v6, &fqdn]);
        assert_eq!(svc.slices.len(), 2);
        let a = &svc.slices[0];
        assert_eq!(a.address_type, AddressType::IPv4);
        assert_eq!(a.ports[0].port, Some(8080));
        assert_eq!(a.endpoints.len(), 2, "bad address and wrong family dropped");
        assert_eq!(a.endpoints[1].conditions.terminating, Some(true));
        assert!(a.endpoints[1].conditions.is_serving());
        assert_eq!(svc.slices[1].address_type, AddressType::IPv6);
        let t = trigger_time(&v4).unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_767_323_045);
        assert_eq!(trigger_time(&v6), None);
    }

    #[test]
    fn absent_conditions_stay_absent_so_the_builder_applies_defaults() {
        let s = slice(json!({
            "metadata": {"name": "x", "namespace": "n"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.9"]}]
        }));
        let svc = service_endpoints(&web_service(), [&s]);
        let c = svc.slices[0].endpoints[0].conditions;
        assert_eq!(c, EndpointConditions::default());
        assert!(c.is_ready() && c.is_serving() && !c.is_terminating());
    }
}
