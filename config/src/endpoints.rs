//! The endpoint snapshot: Services and their EndpointSlices as plain data, without kube types.
//!
//! Pure. This is both what the daemon's Kubernetes watcher hands to the desired-state builder
//! and the offline endpoints file format (YAML or JSON, `docs/endpoints.md`). Field names and
//! defaults follow Kubernetes: protocol defaults to TCP, `targetPort` to the Service port, an
//! absent `ready` means ready, an absent `serving` means the same as `ready`.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::error::EndpointsError;
use crate::model::Protocol;

/// Every Service the ConfigMap may refer to, with its endpoints.
///
/// Sorted by namespace and name, so a Service is found by binary search, and two snapshots
/// are compared in one ordered walk. Each Service is shared (`Arc`): the Kubernetes source
/// makes a new snapshot per EndpointSlice change by sharing every other Service, so copying
/// and comparing snapshots of 10,000 Services costs pointers, not their endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, from = "SnapshotFile")]
pub struct EndpointSnapshot {
    /// The Services in order (duplicates are kept side by side and rejected by
    /// [`EndpointSnapshot::validate`]).
    services: Vec<Arc<ServiceEndpoints>>,
}

/// The snapshot as written: Services in any order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFile {
    #[serde(default)]
    services: Vec<Arc<ServiceEndpoints>>,
}

impl From<SnapshotFile> for EndpointSnapshot {
    fn from(file: SnapshotFile) -> Self {
        EndpointSnapshot::new(file.services)
    }
}

/// One Service: its ports and its EndpointSlices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEndpoints {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// The Service's ports (`spec.ports`).
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// The Service's EndpointSlices; shared (`Arc`) with the watch cache that converted them,
    /// so a Service's endpoints are held once however many snapshots name them.
    #[serde(default)]
    pub slices: Vec<Arc<EndpointSlice>>,
}

/// A Service port (`spec.ports[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port name; required by Kubernetes when a Service has several ports.
    #[serde(default)]
    pub name: Option<String>,
    /// The Service port number (the VIP's port).
    pub port: u16,
    /// TCP (default), UDP or SCTP; any case.
    #[serde(default = "tcp", with = "k8s_protocol")]
    pub protocol: Protocol,
    /// Where the pods listen; `None` = same as `port`.
    #[serde(default)]
    pub target_port: Option<TargetPort>,
}

/// A Service's `targetPort`: a number, or the name of a container port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    /// The pods' port number.
    Number(u16),
    /// A container port name, resolved per EndpointSlice.
    Name(String),
}

/// Address family of an EndpointSlice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AddressType {
    /// IPv4 endpoints.
    IPv4,
    /// IPv6 endpoints.
    IPv6,
}

/// One EndpointSlice of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointSlice {
    /// The family of every address in the slice.
    pub address_type: AddressType,
    /// The resolved ports: named like the Service ports, carrying the pods' port numbers.
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
    /// The endpoints (pods).
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// A port of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointPort {
    /// The name of the Service port this resolves (absent/empty for an unnamed port).
    #[serde(default)]
    pub name: Option<String>,
    /// The pods' port number.
    pub port: Option<u16>,
    /// TCP (default), UDP or SCTP.
    #[serde(default = "tcp", with = "k8s_protocol")]
    pub protocol: Protocol,
}

/// An endpoint's addresses: the one address Kubernetes puts there is held inline. An address
/// in a `Vec` of its own was an allocation per endpoint, half of a slice's memory (100,000 of
/// them at 10,000 Services).
pub type EndpointAddresses = SmallVec<[IpAddr; 1]>;

/// One endpoint (usually one pod).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// The pod's addresses (Kubernetes puts exactly one; all are used).
    pub addresses: EndpointAddresses,
    /// Readiness as Kubernetes reports it.
    #[serde(default)]
    pub conditions: EndpointConditions,
}

/// Kubernetes endpoint conditions; `None` means the field was absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointConditions {
    /// Ready for new traffic (absent = true).
    pub ready: Option<bool>,
    /// Able to serve, even while terminating (absent = same as ready).
    pub serving: Option<bool>,
    /// Being deleted (absent = false).
    pub terminating: Option<bool>,
}

impl EndpointConditions {
    /// `ready` with the Kubernetes default.
    pub fn is_ready(&self) -> bool {
        self.ready.unwrap_or(true)
    }

    /// `serving` with the Kubernetes default (same as `ready`).
    pub fn is_serving(&self) -> bool {
        self.serving.unwrap_or_else(|| self.is_ready())
    }

    /// `terminating` with the Kubernetes default.
    pub fn is_terminating(&self) -> bool {
        self.terminating.unwrap_or(false)
    }
}

impl EndpointSnapshot {
    /// Parses and validates the endpoints file format (YAML, or JSON, which YAML includes).
    pub fn from_yaml_str(text: &str) -> Result<EndpointSnapshot, EndpointsError> {
        if text.trim().is_empty() {
            return Ok(EndpointSnapshot::default());
        }
        let snapshot: EndpointSnapshot = serde_saphyr::from_str(text)?;
        snapshot.validate()?;
        Ok(snapshot)
    }

    /// Rejects duplicate Services and addresses of the wrong family for their slice.
    pub fn validate(&self) -> Result<(), EndpointsError> {
        let mut seen = std::collections::BTreeSet::new();
        for svc in &self.services {
            let id = format!("{}/{}", svc.namespace, svc.name);
            let invalid = |message: String| EndpointsError::Invalid {
                service: id.clone(),
                message,
            };
            if !seen.insert((svc.namespace.as_str(), svc.name.as_str())) {
                return Err(invalid("listed twice".to_owned()));
            }
            if let Some(p) = svc.ports.iter().find(|p| p.port == 0) {
                return Err(invalid(format!("port {:?} has number 0", p.name)));
            }
            for slice in &svc.slices {
                let wrong = slice
                    .endpoints
                    .iter()
                    .flat_map(|e| &e.addresses)
                    .find(|a| a.is_ipv4() != (slice.address_type == AddressType::IPv4));
                if let Some(addr) = wrong {
                    return Err(invalid(format!(
                        "address {addr} is in a slice of addressType {:?}",
                        slice.address_type
                    )));
                }
            }
        }
        Ok(())
    }

    /// The Service with this namespace and name, if present.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEndpoints> {
        self.services
            .binary_search_by(|s| by_name(s, (namespace, name)))
            .ok()
            .map(|i| &*self.services[i])
    }

    /// The Services, sorted by namespace and name.
    pub fn services(&self) -> &[Arc<ServiceEndpoints>] {
        &self.services
    }

    /// A snapshot of these Services, in any order.
    pub fn new(mut services: Vec<Arc<ServiceEndpoints>>) -> Self {
        services.sort_by(|a, b| by_name(a, (&b.namespace, &b.name)));
        EndpointSnapshot { services }
    }
}

impl FromIterator<ServiceEndpoints> for EndpointSnapshot {
    fn from_iter<I: IntoIterator<Item = ServiceEndpoints>>(services: I) -> Self {
        EndpointSnapshot::new(services.into_iter().map(Arc::new).collect())
    }
}

/// The snapshot's order: by namespace, then name.
fn by_name(service: &ServiceEndpoints, (namespace, name): (&str, &str)) -> Ordering {
    (service.namespace.as_str(), service.name.as_str()).cmp(&(namespace, name))
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

/// Kubernetes writes protocols in upper case; accept any case, write upper case.
mod k8s_protocol {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::model::Protocol;

    pub(super) fn serialize<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.as_str().to_ascii_uppercase())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
