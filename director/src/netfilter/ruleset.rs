//! The backend-neutral rule model: what we want installed, before any tool syntax.
//!
//! Pure: no I/O. A [`RuleSet`] belongs to one [`Owner`]; each owner has its own chains (iptables)
//! or its own table (nftables), so the director's and the node's rules never touch each other
//! and never touch anyone else's.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use lb_config::{Protocol, ServiceKey};
use serde::Serialize;

/// Who installed a rule set: decides chain and table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// `lbctl apply` / the daemon on a director: NOTRACK for VIPs, SNAT for FullNAT.
    Director,
    /// `lbctl node-bypass` on a Kubernetes node: NOTRACK and FORWARD ACCEPT for director traffic.
    NodeBypass,
}

impl Owner {
    /// Every owner, for cleanup.
    pub const ALL: [Owner; 2] = [Owner::Director, Owner::NodeBypass];

    /// Our iptables chain in the raw table (jumped to from PREROUTING and OUTPUT).
    pub fn notrack_chain(self) -> &'static str {
        match self {
            Owner::Director => "LBCTL-NOTRACK",
            Owner::NodeBypass => "LBCTL-NODE-NOTRACK",
        }
    }

    /// Our iptables chain in the nat table (jumped to from POSTROUTING).
    pub fn snat_chain(self) -> &'static str {
        match self {
            Owner::Director => "LBCTL-SNAT",
            Owner::NodeBypass => "LBCTL-NODE-SNAT",
        }
    }

    /// Our iptables chain in the filter table (jumped to from FORWARD, kept at position 1).
    pub fn forward_chain(self) -> &'static str {
        match self {
            Owner::Director => "LBCTL-FORWARD",
            Owner::NodeBypass => "LBCTL-NODE-FORWARD",
        }
    }

    /// Our nftables table (family `inet`).
    pub fn nft_table(self) -> &'static str {
        match self {
            Owner::Director => "lbctl",
            Owner::NodeBypass => "lbctl_node",
        }
    }
}

/// IPv4 or IPv6: iptables needs one tool per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 (`iptables-*`, nft `ip`).
    V4,
    /// IPv6 (`ip6tables-*`, nft `ip6`).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Both families, in rendering order.
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];
}

/// Which packets a NOTRACK or ACCEPT rule matches. Addresses are normalised networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Selector {
    /// Source network, if matched.
    pub source: Option<IpNetwork>,
    /// Destination network, if matched.
    pub destination: Option<IpNetwork>,
    /// Transport protocol, if matched.
    pub protocol: Option<Protocol>,
    /// Source port (needs `protocol`); `None` matches every port.
    pub sport: Option<u16>,
    /// Destination port (needs `protocol`); `None` matches every port.
    pub dport: Option<u16>,
}

impl Selector {
    /// Traffic to a virtual service (port 0 = every port of the protocol).
    pub fn to_service(key: &ServiceKey) -> Selector {
        Selector {
            source: None,
            destination: Some(host_network(key.vip)),
            protocol: Some(key.protocol),
            sport: None,
            dport: (key.port != 0).then_some(key.port),
        }
    }

    /// Traffic from a virtual service back to its clients: DR and tunnel replies that are
    /// routed through the director (when it is the real servers' gateway).
    pub fn from_service(key: &ServiceKey) -> Selector {
        Selector {
            source: Some(host_network(key.vip)),
            destination: None,
            protocol: Some(key.protocol),
            sport: (key.port != 0).then_some(key.port),
            dport: None,
        }
    }

    /// Traffic from one network to another, any protocol. Both must be of one family.
    pub fn between(source: IpNetwork, destination: IpNetwork) -> Selector {
        Selector {
            source: Some(normalize(source)),
            destination: Some(normalize(destination)),
            protocol: None,
            sport: None,
            dport: None,
        }
    }

    /// The address family, from whichever address is set (IPv4 when none is).
    pub fn family(&self) -> Family {
        self.destination
            .or(self.source)
            .map_or(Family::V4, |net| Family::of(net.ip()))
    }
}

/// SNAT of the forwarded traffic of one virtual service to a pool (FullNAT emulation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SnatRule {
    /// The virtual service whose connections are SNATed (matched on the original destination).
    pub service: ServiceKey,
    /// Source networks to use, all of the service's family, non-empty. Connections are spread
    /// over them; within one network the kernel picks address and port (fully random).
    pub pool: Vec<IpNetwork>,
}

impl SnatRule {
    /// The address family of the service.
    pub fn family(&self) -> Family {
        Family::of(self.service.vip)
    }
}

/// Everything one owner wants installed. Empty lists mean "install nothing of that kind" and
/// make a sync remove what an earlier sync installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSet {
    /// Whose rules these are.
    pub owner: Owner,
    /// raw PREROUTING + OUTPUT: `CT --notrack` / `notrack`.
    pub notrack: Vec<Selector>,
    /// nat POSTROUTING: SNAT to a pool.
    pub snat: Vec<SnatRule>,
    /// filter FORWARD: ACCEPT, kept ahead of every other rule.
    pub forward_accept: Vec<Selector>,
}

impl RuleSet {
    /// An empty rule set (a sync with it removes everything the owner installed).
    pub fn empty(owner: Owner) -> RuleSet {
        RuleSet {
            owner,
            notrack: Vec::new(),
            snat: Vec::new(),
            forward_accept: Vec::new(),
        }
    }

    /// Whether nothing is to be installed.
    pub fn is_empty(&self) -> bool {
        self.notrack.is_empty() && self.snat.is_empty() && self.forward_accept.is_empty()
    }
}

/// The single-address network of an address (`/32` or `/128`).
pub fn host_network(addr: IpAddr) -> IpNetwork {
    let prefix = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    // A full-length prefix is always valid; the fallback is unreachable but keeps this total.
    IpNetwork::new(addr, prefix).unwrap_or_else(|_| IpNetwork::from(addr))
}

/// The network with its host bits cleared (`10.1.2.3/16` -> `10.1.0.0/16`), as the tools print it.
pub fn normalize(net: IpNetwork) -> IpNetwork {
    IpNetwork::new(net.network(), net.prefix()).unwrap_or(net)
}

/// Whether the network is one address.
pub fn is_host(net: &IpNetwork) -> bool {
    match net {
        IpNetwork::V4(n) => n.prefix() == 32,
        IpNetwork::V6(n) => n.prefix() == 128,
    }
}
