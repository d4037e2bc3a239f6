//! The kernel's IPVS table as plain data: what a dump returns and what operations write.
//!
//! Values are semantic (prefix lengths, host-order ports, typed forwarding methods); the wire
//! encoding (be32 IPv4 netmasks, network-order ports, flag masks) lives in [`crate::netlink`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use lb_config::{Protocol, RealServerKey, ServiceKey, SocketText};
use serde::{Deserialize, Serialize};

/// Address family of a fwmark service (inet services carry it in their address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// AF_INET (2).
    Inet,
    /// AF_INET6 (10).
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// Identity of an IPVS virtual service, as the kernel keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ServiceId {
    /// Address + protocol + port (`ipvsadm -t/-u/--sctp-service`).
    Inet(ServiceKey),
    /// Firewall-mark service (`ipvsadm -f`). Never ours, but a dump may contain them.
    Fwmark {
        /// Address family.
        family: Family,
        /// The mark.
        mark: u32,
    },
}

impl ServiceId {
    /// The inet key, if this is not a fwmark service.
    pub fn inet(&self) -> Option<&ServiceKey> {
        match self {
            ServiceId::Inet(k) => Some(k),
            ServiceId::Fwmark { .. } => None,
        }
    }
}

impl From<ServiceKey> for ServiceId {
    fn from(k: ServiceKey) -> Self {
        ServiceId::Inet(k)
    }
}

impl fmt::Display for ServiceId {
    /// ipvsadm style: `TCP 10.0.0.1:80`, `FWM 7 (inet6)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceId::Inet(k) => {
                let proto = match k.protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                };
                write!(f, "{proto}  {}", SocketText(k.vip, k.port))
            }
            ServiceId::Fwmark {
                family: Family::Inet,
                mark,
            } => write!(f, "FWM  {mark}"),
            ServiceId::Fwmark {
                family: Family::Inet6,
                mark,
            } => write!(f, "FWM  {mark} IPv6"),
        }
    }
}

/// Service flag: persistence (`-p`).
pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
/// Service flag: kernel-internal "hashed" marker; never written, masked out when comparing.
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
/// Service flag: one-packet scheduling (`-o`, UDP).
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
/// Scheduler flag 1: `sh-fallback` / `mh-fallback`.
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
/// Scheduler flag 2: `sh-port` / `mh-port`.
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
/// Scheduler flag 3 (unused by in-tree schedulers).
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;

/// The writable settings of a virtual service (what NEW/SET_SERVICE carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Identity.
    pub id: ServiceId,
    /// Scheduler name as the kernel knows it (`rr`, `mh`, ...). Kept as text: a foreign service
    /// may use a scheduler we have no enum value for.
    pub scheduler: Cow<'static, str>,
    /// `IP_VS_SVC_F_*` flags without `HASHED`.
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with `IP_VS_SVC_F_PERSISTENT`; 0 otherwise).
    pub timeout: u32,
    /// Persistence netmask as a prefix length (32 / 128 when unused).
    pub netmask_prefix: u8,
    /// Persistence engine (`sip`), rarely used.
    pub pe_name: Option<String>,
}

/// How the kernel forwards to a destination (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KernelForward {
    /// 0: masquerading (NAT).
    Masq,
    /// 1: local node.
    Local,
    /// 2: tunnelling.
    Tunnel,
    /// 3: direct routing.
    Route,
    /// 4: bypass.
    Bypass,
    /// Anything else the kernel reports (e.g. 5 = FullNAT on Alibaba LVS kernels).
    Other(u32),
}

impl KernelForward {
    /// The kernel's numeric value.
    pub fn to_raw(self) -> u32 {
        match self {
            KernelForward::Masq => 0,
            KernelForward::Local => 1,
            KernelForward::Tunnel => 2,
            KernelForward::Route => 3,
            KernelForward::Bypass => 4,
            KernelForward::Other(v) => v,
        }
    }

    /// From the kernel's numeric value (already masked with `IP_VS_CONN_F_FWD_MASK`).
    pub fn from_raw(v: u32) -> Self {
        match v {
            0 => KernelForward::Masq,
            1 => KernelForward::Local,
            2 => KernelForward::Tunnel,
            3 => KernelForward::Route,
            4 => KernelForward::Bypass,
            other => KernelForward::Other(other),
        }
    }

    /// ipvsadm's name in `-Ln` output.
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            KernelForward::Masq => "Masq",
            KernelForward::Local => "Local",
            KernelForward::Tunnel => "Tunnel",
            KernelForward::Route => "Route",
            KernelForward::Bypass => "Bypass",
            KernelForward::Other(_) => "Other",
        }
    }
}

/// Tunnel encapsulation settings of a destination (Linux 5.2+ for GUE, 5.3+ for GRE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TunnelSpec {
    /// `IPVS_TUNNEL_TYPE_*`: 0 IPIP, 1 GUE, 2 GRE.
    pub tun_type: u8,
    /// GUE destination port (host order); 0 otherwise.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` (checksums).
    pub flags: u16,
}

/// The writable settings of a destination (what NEW/SET_DEST carry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationSpec {
    /// Address and port of the real server.
    pub key: RealServerKey,
    /// Forwarding method.
    pub forward: KernelForward,
    /// Weight; 0 = quiesced.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
    /// Tunnel settings; `None` for non-tunnel methods and for plain IPIP on old kernels.
    pub tunnel: Option<TunnelSpec>,
}

/// Traffic counters and the kernel's rate estimates (STATS64, or legacy STATS widened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in (client -> real server).
    pub inpkts: u64,
    /// Packets out (real server -> client; 0 for DR/TUN, which bypass the director).
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
    /// Connections per second (estimator).
    pub cps: u64,
    /// Packets in per second (estimator).
    pub inpps: u64,
    /// Packets out per second (estimator).
    pub outpps: u64,
    /// Bytes in per second (estimator).
    pub inbps: u64,
    /// Bytes out per second (estimator).
    pub outbps: u64,
}

/// A destination as observed in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedDestination {
    /// The settings.
    pub spec: DestinationSpec,
    /// Active (established) connections.
    pub active_conns: u32,
    /// Inactive connections (e.g. TIME_WAIT, UDP).
    pub inactive_conns: u32,
    /// Persistence templates.
    pub persist_conns: u32,
    /// Counters.
    pub stats: Stats,
}

/// A virtual service as observed in the kernel, with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedService {
    /// The settings.
    pub spec: ServiceSpec,
    /// Counters.
    pub stats: Stats,
    /// Destinations by address and port.
    #[serde(with = "lb_config::serde_map::keyed_list")]
    pub destinations: BTreeMap<RealServerKey, ObservedDestination>,
}

/// The whole IPVS table of one network namespace, as one dump saw it.
///
/// Each service sits behind an [`Arc`]: a table that differs from another in a few services
/// (the table after a focused pass, and the one before it) shares every other service with it,
/// so updating `k` services of a copy costs `k` service copies, not a copy of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsTable {
    /// Services by identity.
    #[serde(with = "shared_services")]
    pub services: BTreeMap<ServiceId, Arc<ObservedService>>,
}

impl IpvsTable {
    /// Adds or replaces a service (keyed by its spec's identity).
    pub fn insert(&mut self, service: ObservedService) {
        self.services.insert(service.spec.id, Arc::new(service));
    }

    /// A service, for in-place changes (copied first if another table shares it).
    pub fn service_mut(&mut self, id: &ServiceId) -> Option<&mut ObservedService> {
        self.services.get_mut(id).map(Arc::make_mut)
    }
}

impl FromIterator<ObservedService> for IpvsTable {
    fn from_iter<I: IntoIterator<Item = ObservedService>>(services: I) -> Self {
        let mut table = IpvsTable::default();
        for service in services {
            table.insert(service);
        }
        table
    }
}

/// The services map written as the list of its services (as `keyed_list`, through the `Arc`).
mod shared_services {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{ObservedService, ServiceId};

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<ServiceId, Arc<ObservedService>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values().map(|service| &**service))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<ServiceId, Arc<ObservedService>>, D::Error> {
        let services = Vec::<ObservedService>::deserialize(d)?;
        Ok(services
            .into_iter()
            .map(|service| (service.spec.id, Arc::new(service)))
            .collect())
    }
}

/// One write to the IPVS table. The reconciler emits these; [`crate::IpvsKernel::apply`] performs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// `ipvsadm -A`.
    AddService {
        /// The service.
        service: ServiceSpec,
    },
    /// `ipvsadm -E`: scheduler, flags, timeout or netmask changed in place.
    EditService {
        /// The service's new settings.
        service: ServiceSpec,
    },
    /// `ipvsadm -D` (the kernel drops the destinations with it).
    DeleteService {
        /// The service.
        service: ServiceId,
    },
    /// `ipvsadm -a`.
    AddDestination {
        /// The service.
        service: ServiceId,
        /// The destination.
        destination: DestinationSpec,
    },
    /// `ipvsadm -e`: weight, method or thresholds changed in place.
    EditDestination {
        /// The service.
        service: ServiceId,
        /// The destination's new settings.
        destination: DestinationSpec,
    },
    /// `ipvsadm -d`.
    DeleteDestination {
        /// The service.
        service: ServiceId,
        /// The destination.
        destination: RealServerKey,
    },
}

impl Operation {
    /// The service this operation concerns.
    pub fn service(&self) -> &ServiceId {
        match self {
            Operation::AddService { service } | Operation::EditService { service } => &service.id,
            Operation::DeleteService { service }
            | Operation::AddDestination { service, .. }
            | Operation::EditDestination { service, .. }
            | Operation::DeleteDestination { service, .. } => service,
        }
    }

    /// Whether this operation deletes something.
    pub fn is_delete(&self) -> bool {
        matches!(
            self,
            Operation::DeleteService { .. } | Operation::DeleteDestination { .. }
        )
    }
}

impl lb_config::serde_map::Keyed for ObservedService {
    type Key = ServiceId;
    fn map_key(&self) -> ServiceId {
        self.spec.id
    }
}

impl lb_config::serde_map::Keyed for ObservedDestination {
    type Key = RealServerKey;
    fn map_key(&self) -> RealServerKey {
        self.spec.key
    }
}
