//! The vocabulary shared by the config model, the desired state and the IPVS layer.
//!
//! These are the values an operator chooses (protocol, scheduler, forwarding method, ...).
//! They name kernel concepts but carry no kernel encoding; `lb-ipvs-sync` maps them to the wire.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number, as IPVS and netfilter use it.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, if it is one IPVS balances.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The ipvsadm option letter (`-t`, `-u`, `--sctp-service`).
    pub fn ipvsadm_flag(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        }
    }

    /// Lower-case name, as written in the ConfigMap and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(format!("unknown protocol {s:?}, expected tcp, udp or sctp")),
        }
    }
}

/// How IPVS forwards packets to a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// Masquerading: the director rewrites the destination (ipvsadm `-m`).
    Nat,
    /// Direct routing: the real server has the VIP and replies directly (ipvsadm `-g`).
    Dr,
    /// IP-in-IP (or GUE/GRE) tunnelling to the real server (ipvsadm `-i`).
    Tunnel,
    /// Full NAT: masquerading plus SNAT to a director-local address pool, so replies come back
    /// through the director without routing tricks on the real servers.
    Fullnat,
}

impl ForwardMethod {
    /// The ipvsadm option letter for this method (FullNAT is masquerading in the IPVS table).
    pub fn ipvsadm_flag(self) -> &'static str {
        match self {
            ForwardMethod::Nat | ForwardMethod::Fullnat => "-m",
            ForwardMethod::Dr => "-g",
            ForwardMethod::Tunnel => "-i",
        }
    }

    /// Whether the real-server port may differ from the virtual port (only NAT rewrites ports).
    pub fn rewrites_port(self) -> bool {
        matches!(self, ForwardMethod::Nat | ForwardMethod::Fullnat)
    }

    /// Lower-case name, as written in the ConfigMap.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardMethod::Nat => "nat",
            ForwardMethod::Dr => "dr",
            ForwardMethod::Tunnel => "tunnel",
            ForwardMethod::Fullnat => "fullnat",
        }
    }
}

impl fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ForwardMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nat" | "masq" | "masquerade" => Ok(ForwardMethod::Nat),
            "dr" | "route" | "direct" => Ok(ForwardMethod::Dr),
            "tunnel" | "tun" | "ipip" => Ok(ForwardMethod::Tunnel),
            "fullnat" => Ok(ForwardMethod::Fullnat),
            _ => Err(format!(
                "unknown forwarding method {s:?}, expected nat, dr, tunnel or fullnat"
            )),
        }
    }
}

/// Encapsulation used by the tunnel forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum TunnelType {
    /// IP-in-IP (every kernel).
    Ipip,
    /// Generic UDP encapsulation to a UDP port (Linux 5.2+).
    Gue {
        /// Destination UDP port of the encapsulation.
        port: u16,
    },
    /// GRE (Linux 5.3+).
    Gre,
}

/// An IPVS scheduler, by the kernel's module name (`ip_vs_<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (the kernel's default).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing (consistent; the usual choice behind ECMP).
    Mh,
    /// Weighted random twos choice.
    Twos,
}

impl Scheduler {
    /// All schedulers, in a stable order.
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel's name for it (what `SCHED_NAME` carries and ipvsadm `-s` takes).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    /// Whether the hashing flags (`fallback`, `port`) mean anything for this scheduler.
    pub fn takes_hash_flags(self) -> bool {
        matches!(self, Scheduler::Sh | Scheduler::Mh)
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheduler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Scheduler::ALL
            .into_iter()
            .find(|sched| sched.as_str() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Scheduler::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown scheduler {s:?}, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Flags of the hashing schedulers (`sh`, `mh`): ipvsadm's `sh-fallback`/`mh-fallback` and
/// `sh-port`/`mh-port`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SchedulerFlags {
    /// Pick another real server when the hashed one is unavailable (weight 0 or overloaded).
    pub fallback: bool,
    /// Include the source port in the hash.
    pub port: bool,
}

/// Client persistence (ipvsadm `-p TIMEOUT -M NETMASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Persistence {
    /// Seconds a client keeps going to the same real server after its last connection.
    pub timeout_secs: u32,
    /// Clients whose addresses share this prefix length count as one client. `None` = /32 or /128.
    pub prefix_len: Option<u8>,
}

/// Identity of a virtual service: what IPVS keys a service on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    /// The virtual IP.
    pub vip: IpAddr,
    /// Transport protocol.
    pub protocol: Protocol,
    /// The virtual port.
    pub port: u16,
}

impl fmt::Display for ServiceKey {
    /// `203.0.113.1:80/tcp`, `[2001:db8::1]:443/udp`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", SocketText(self.vip, self.port), self.protocol)
    }
}

/// Identity of a real server within a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RealServerKey {
    /// Address of the real server (a pod IP or a static host).
    pub addr: IpAddr,
    /// Port on the real server.
    pub port: u16,
}

impl fmt::Display for RealServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketText(self.addr, self.port).fmt(f)
    }
}

/// Formats an address and port the way operators write them: `a.b.c.d:p` or `[v6]:p`.
#[derive(Debug, Clone, Copy)]
pub struct SocketText(pub IpAddr, pub u16);

impl fmt::Display for SocketText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.1),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_names_round_trip() {
        for s in Scheduler::ALL {
            assert_eq!(s.as_str().parse::<Scheduler>(), Ok(s));
        }
        assert!("bogus".parse::<Scheduler>().is_err());
    }

    #[test]
    fn protocol_numbers_round_trip() {
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            assert_eq!(Protocol::from_number(p.number()), Some(p));
        }
        assert_eq!(Protocol::from_number(1), None);
    }

    #[test]
    fn service_key_display_brackets_v6() {
        let k = ServiceKey {
            vip: "2001:db8::1".parse().unwrap(),
            protocol: Protocol::Udp,
            port: 53,
        };
        assert_eq!(k.to_string(), "[2001:db8::1]:53/udp");
    }
}
