//! One parsed ConfigMap entry: a VIP, what it forwards to, and its options.
//!
//! Pure data produced by [`parse_configmap`](crate::parse_configmap) and turned back into text by
//! [`render_entry`](crate::render_entry). Options that the operator left out stay `None`, so the
//! daemon settings can supply defaults later and rendering reproduces what was written.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::desired::HealthCheckKind;
use crate::model::{ForwardMethod, Persistence, Protocol, Scheduler, SchedulerFlags, TunnelType};
use crate::settings::Settings;

/// One ConfigMap key and its parsed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The ConfigMap key as written, e.g. `203.0.113.225-80`.
    pub key: String,
    /// The virtual IP from the key.
    pub vip: IpAddr,
    /// Static real servers or a Kubernetes Service.
    pub target: Target,
    /// Per-entry options; unset ones fall back to the daemon settings.
    pub options: EntryOptions,
}

/// What an entry forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// `VIP-PORT[-PROTO]: ADDR:PORT, ...`: one virtual service with a fixed real-server list.
    Static {
        /// The virtual port from the key.
        port: u16,
        /// The protocol from the key (TCP when the key has no suffix).
        protocol: Protocol,
        /// The real servers, in the order written.
        real_servers: Vec<StaticRealServer>,
    },
    /// `VIP[-PROTO]: NAMESPACE/SERVICE:PORTS`: virtual services mirroring Service ports.
    Service {
        /// Which Service and which of its ports.
        service: ServiceRef,
        /// Only Service ports of this protocol (from a `-udp`-style key suffix); `None` = all.
        protocol: Option<Protocol>,
    },
}

/// A reference to ports of a Kubernetes Service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// Which Service ports the VIP serves.
    pub ports: PortSelector,
}

/// Which ports of a Service a VIP serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSelector {
    /// `:s`: every port of the Service.
    All,
    /// `:http`: the Service port with this name.
    Name(String),
    /// `:80`: the Service port(s) with this number (TCP and UDP 53 are both selected by `:53`).
    Number(u16),
}

/// A real server written in a static entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRealServer {
    /// Address of the real server.
    pub addr: IpAddr,
    /// Port on the real server (the virtual port when the operator left it out).
    pub port: u16,
    /// `weight=N`; `None` = the entry's `weight=` option, else 1.
    pub weight: Option<u32>,
    /// `upper-threshold=N` (IPVS connection upper threshold); `None` = unlimited.
    pub upper_threshold: Option<u32>,
    /// `lower-threshold=N` (IPVS connection lower threshold); `None` = unset.
    pub lower_threshold: Option<u32>,
}

/// Options after the first `;` of a value. `None`/empty means "use the settings' default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOptions {
    /// `scheduler=NAME`.
    pub scheduler: Option<Scheduler>,
    /// Flags after the scheduler name (`mh-fallback`, `mh-port`, `sh-...`).
    pub scheduler_flags: SchedulerFlags,
    /// `method=nat|dr|tunnel|fullnat`.
    pub forward: Option<ForwardMethod>,
    /// `method=tunnel:ipip|gre|gue:PORT`; `None` with tunnel = IPIP.
    pub tunnel: Option<TunnelType>,
    /// `pool=NET, NET`: SNAT source pool for `method=fullnat` (else the settings' pool).
    pub snat_pool: Vec<IpNetwork>,
    /// `persistence=SECONDS[/PREFIXLEN]`.
    pub persistence: Option<Persistence>,
    /// `weight=N`: default weight of every real server of the entry (else 1).
    pub weight: Option<u32>,
    /// `check=...` and the `check-*` options.
    pub health_check: Option<CheckSpec>,
}

/// A health check as written; timings left out come from the settings' health-check defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    /// What to probe (`check=` and `check-port=`).
    pub kind: HealthCheckKind,
    /// `check-interval=SECONDS`.
    pub interval_secs: Option<u32>,
    /// `check-timeout=SECONDS`.
    pub timeout_secs: Option<u32>,
    /// `check-rise=N`.
    pub rise: Option<u32>,
    /// `check-fall=N`.
    pub fall: Option<u32>,
}

impl Entry {
    /// The forwarding method of the entry (its option, else the settings' default).
    pub fn forward_method(&self, settings: &Settings) -> ForwardMethod {
        self.options
            .forward
            .unwrap_or(settings.default_forward_method)
    }

    /// The virtual port, for static entries (Service entries take ports from the Service).
    pub fn port(&self) -> Option<u16> {
        match &self.target {
            Target::Static { port, .. } => Some(*port),
            Target::Service { .. } => None,
        }
    }

    /// The protocol fixed by the key, if any (static entries always have one).
    pub fn protocol(&self) -> Option<Protocol> {
        match &self.target {
            Target::Static { protocol, .. } => Some(*protocol),
            Target::Service { protocol, .. } => *protocol,
        }
    }
}
