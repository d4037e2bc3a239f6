//! The desired state: what the director should have programmed, as plain ordered data.
//!
//! Built by [`build_desired_state`](crate::build_desired_state) from the parsed ConfigMap entries,
//! the settings, an endpoint snapshot and health results. Everything is in `BTreeMap`/`BTreeSet`,
//! so iteration order (and thus every plan and every rendering) is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::model::{
    ForwardMethod, Persistence, Protocol, RealServerKey, Scheduler, SchedulerFlags, ServiceKey,
    TunnelType,
};

/// Everything the director should program.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Virtual services by identity; shared, so that a rebuild after one key changed shares
    /// every untouched service with the previous state (and compares it by pointer).
    #[serde(with = "crate::serde_map::keyed_list")]
    pub services: BTreeMap<ServiceKey, Arc<VirtualService>>,
    /// VIPs to bind on the director's dummy interface (and to announce when healthy).
    pub vips: BTreeSet<IpAddr>,
    /// Netfilter intents (NOTRACK for conntrack-free traffic, SNAT for FullNAT).
    pub netfilter: NetfilterIntents,
}

/// One IPVS virtual service and its real servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualService {
    /// VIP, protocol and port.
    pub key: ServiceKey,
    /// Where this service came from (for errors, metrics labels and status).
    pub origin: Origin,
    /// IPVS scheduler.
    pub scheduler: Scheduler,
    /// Flags of the hashing schedulers.
    pub scheduler_flags: SchedulerFlags,
    /// Client persistence, if any.
    pub persistence: Option<Persistence>,
    /// Forwarding method for every real server of this service.
    pub forward: ForwardMethod,
    /// Encapsulation when `forward` is `Tunnel` (IPIP by default).
    pub tunnel: Option<TunnelType>,
    /// Health check to run against the real servers, if any.
    pub health_check: Option<HealthCheck>,
    /// Real servers by address and port.
    #[serde(with = "crate::serde_map::keyed_list")]
    pub real_servers: BTreeMap<RealServerKey, RealServer>,
}

/// The ConfigMap entry (and Kubernetes Service, if any) that produced a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The ConfigMap key, e.g. `203.0.113.225-80` or `203.0.113.226`.
    pub config_key: String,
    /// The Kubernetes Service behind it, for `namespace/service` entries.
    pub service: Option<ServiceOrigin>,
}

/// A Kubernetes Service port that a virtual service mirrors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceOrigin {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// The Service port's name, or its number as text when it has no name.
    pub port: String,
}

/// One real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    /// Address and port.
    pub key: RealServerKey,
    /// IPVS weight; 0 quiesces (no new connections, existing ones continue).
    pub weight: u32,
    /// Connection upper threshold (0 = unlimited).
    pub upper_threshold: u32,
    /// Connection lower threshold (0 = unset).
    pub lower_threshold: u32,
    /// Why the weight is what it is.
    pub state: RealServerState,
}

/// Why a real server carries the weight it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealServerState {
    /// Ready (and healthy, if checked): configured weight.
    Active,
    /// Endpoint is terminating but still serving: weight 0 so existing connections drain.
    Terminating,
    /// Health check failing: weight 0 so existing connections continue, no new ones.
    Unhealthy,
}

/// A health check for the real servers of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What to probe.
    pub kind: HealthCheckKind,
    /// Seconds between probes.
    pub interval_secs: u32,
    /// Seconds before a probe counts as failed.
    pub timeout_secs: u32,
    /// Consecutive successes to become healthy.
    pub rise: u32,
    /// Consecutive failures to become unhealthy.
    pub fall: u32,
}

/// The kind of probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum HealthCheckKind {
    /// TCP connect to the real server's port (or `port` when set).
    Tcp {
        /// Port to probe instead of the real server's.
        port: Option<u16>,
    },
    /// HTTP or HTTPS GET, expecting a status (and optionally a body substring).
    Http {
        /// `true` for HTTPS.
        tls: bool,
        /// Request path, starting with `/`.
        path: String,
        /// Expected status code.
        expect_status: u16,
        /// Port to probe instead of the real server's.
        port: Option<u16>,
        /// A text the response body must contain (`check-body=`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_body: Option<String>,
    },
    /// Run a command; exit code 0 means healthy (keepalived's MISC_CHECK).
    Exec {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// Netfilter rules the desired state needs, as intents (rendered by the netfilter backends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetfilterIntents {
    /// Traffic to these services bypasses conntrack (raw-table NOTRACK).
    pub notrack: BTreeSet<ServiceKey>,
    /// Forwarded traffic of these services is SNATed to a local-address pool (FullNAT emulation).
    #[serde(with = "crate::serde_map::pairs")]
    pub snat: BTreeMap<ServiceKey, Vec<IpNetwork>>,
}

impl VirtualService {
    /// The protocol of the service (shorthand).
    pub fn protocol(&self) -> Protocol {
        self.key.protocol
    }
}

impl crate::serde_map::Keyed for VirtualService {
    type Key = ServiceKey;
    fn map_key(&self) -> ServiceKey {
        self.key
    }
}

impl crate::serde_map::Keyed for RealServer {
    type Key = RealServerKey;
    fn map_key(&self) -> RealServerKey {
        self.key
    }
}
