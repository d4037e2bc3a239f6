//! Configuration of the speaker and its peers, and the attributes of announced routes.
//!
//! Pure data with serde (snake_case keys, every optional key has a default), so the daemon's
//! settings can map onto it one to one. Validation (`SpeakerConfig::validate`) reports every
//! problem at once, with the peer it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::codec::{Community, LargeCommunity};
use crate::error::ConfigError;

/// What to announce: prefix -> its attributes. The speaker announces exactly this set.
pub type Announcements = BTreeMap<IpNetwork, RouteAttributes>;

/// Attributes of one announced prefix (added to the speaker-wide ones).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteAttributes {
    /// MULTI_EXIT_DISC: lets a director ask to be less preferred (e.g. before maintenance).
    pub med: Option<u32>,
    /// LOCAL_PREF for iBGP peers; `None` uses the peer's `local_pref`.
    pub local_pref: Option<u32>,
    /// Standard communities for this prefix.
    pub communities: BTreeSet<Community>,
    /// Large communities for this prefix.
    pub large_communities: BTreeSet<LargeCommunity>,
}

/// The whole speaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeakerConfig {
    /// Our AS number (4-octet ASNs are supported).
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Hold time we propose (0, or 3..=65535 seconds); the lower of both sides wins.
    #[serde(default = "default_hold_time")]
    pub hold_time_secs: u16,
    /// Where passive peers connect to (`[::]:179` if unset and a peer is passive).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Graceful restart (RFC 4724) as the restarting speaker.
    #[serde(default)]
    pub graceful_restart: GracefulRestartConfig,
    /// What `shutdown()` does before closing sessions.
    #[serde(default)]
    pub graceful_shutdown: GracefulShutdownConfig,
    /// Communities added to every announced prefix.
    #[serde(default)]
    pub communities: BTreeSet<Community>,
    /// Large communities added to every announced prefix.
    #[serde(default)]
    pub large_communities: BTreeSet<LargeCommunity>,
    /// The routers we talk to.
    pub peers: Vec<PeerConfig>,
}

/// Graceful restart as the restarting side: IPVS keeps forwarding while the controller
/// restarts, so routers acting as GR helpers can keep our routes in the meantime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GracefulRestartConfig {
    /// Advertise the capability at all.
    pub enabled: bool,
    /// Seconds peers keep our routes after our session drops (max 4095).
    pub restart_time_secs: u16,
    /// Set the R-bit: we have just restarted (the daemon knows, e.g. from its state file).
    pub restarting: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            enabled: true,
            restart_time_secs: 120,
            restarting: false,
        }
    }
}

/// RFC 8326 graceful shutdown: tag routes GRACEFUL_SHUTDOWN, give routers time to move
/// traffic, then withdraw and close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GracefulShutdownConfig {
    /// Re-announce everything with community 65535:0 before withdrawing.
    pub tag_community: bool,
    /// Milliseconds between tagging and withdrawing (and between withdrawing and Cease).
    pub wait_ms: u64,
}

impl Default for GracefulShutdownConfig {
    fn default() -> Self {
        GracefulShutdownConfig {
            tag_community: true,
            wait_ms: 2000,
        }
    }
}

/// One neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The neighbour's address.
    pub address: IpAddr,
    /// The neighbour's AS; equal to `local_as` makes the session iBGP.
    pub remote_as: u32,
    /// The neighbour's TCP port (active mode).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Source address for our connection (active mode); also the default next hop.
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    /// Wait for the neighbour to connect instead of connecting ourselves.
    #[serde(default)]
    pub passive: bool,
    /// TCP MD5 signature key (RFC 2385), at most 80 octets.
    #[serde(default)]
    pub md5_password: Option<Md5Password>,
    /// Hold time for this peer (default: the speaker's).
    #[serde(default)]
    pub hold_time_secs: Option<u16>,
    /// IPv4 next hop to announce (default: the session's local address if IPv4).
    #[serde(default)]
    pub next_hop_v4: Option<Ipv4Addr>,
    /// IPv6 next hop to announce (default: the session's local address if IPv6).
    #[serde(default)]
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Announce IPv4 unicast to this peer.
    #[serde(default = "yes")]
    pub ipv4_unicast: bool,
    /// Announce IPv6 unicast to this peer.
    #[serde(default = "yes")]
    pub ipv6_unicast: bool,
    /// LOCAL_PREF for iBGP when a route sets none.
    #[serde(default = "default_local_pref")]
    pub local_pref: u32,
    /// First reconnect delay in milliseconds (doubles per failure).
    #[serde(default = "default_backoff_min")]
    pub connect_retry_min_ms: u64,
    /// Largest reconnect delay in milliseconds.
    #[serde(default = "default_backoff_max")]
    pub connect_retry_max_ms: u64,
}

/// An MD5 key that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Md5Password(pub String);

impl fmt::Debug for Md5Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Password(<redacted>)")
    }
}

fn default_hold_time() -> u16 {
    90
}
fn default_port() -> u16 {
    179
}
fn yes() -> bool {
    true
}
fn default_local_pref() -> u32 {
    100
}
fn default_backoff_min() -> u64 {
    1000
}
fn default_backoff_max() -> u64 {
    60_000
}

impl PeerConfig {
    /// A peer with every optional setting at its default.
    pub fn new(address: IpAddr, remote_as: u32) -> Self {
        PeerConfig {
            address,
            remote_as,
            port: default_port(),
            local_address: None,
            passive: false,
            md5_password: None,
            hold_time_secs: None,
            next_hop_v4: None,
            next_hop_v6: None,
            ipv4_unicast: true,
            ipv6_unicast: true,
            local_pref: default_local_pref(),
            connect_retry_min_ms: default_backoff_min(),
            connect_retry_max_ms: default_backoff_max(),
        }
    }
}

impl SpeakerConfig {
    /// A speaker with defaults and no peers.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        SpeakerConfig {
            local_as,
            router_id,
            hold_time_secs: default_hold_time(),
            listen: None,
            graceful_restart: GracefulRestartConfig::default(),
            graceful_shutdown: GracefulShutdownConfig::default(),
            communities: BTreeSet::new(),
            large_communities: BTreeSet::new(),
            peers: Vec::new(),
        }
    }

    /// Checks everything a session would otherwise fail on later; lists all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.local_as == 0 {
            problems.push("local_as: 0 is reserved".to_owned());
        }
        if self.router_id.is_unspecified() {
            problems.push("router_id: 0.0.0.0 is not a valid BGP identifier".to_owned());
        }
        let hold_ok = |h: u16| h == 0 || h >= 3;
        if !hold_ok(self.hold_time_secs) {
            problems.push(format!(
                "hold_time_secs: {} (must be 0 or >= 3)",
                self.hold_time_secs
            ));
        }
        if self.graceful_restart.restart_time_secs > 4095 {
            problems.push("graceful_restart.restart_time_secs: at most 4095".to_owned());
        }
        let mut seen = BTreeSet::new();
        for peer in &self.peers {
            let at = format!("peers[{}]", peer.address);
            if !seen.insert(peer.address) {
                problems.push(format!("{at}: configured twice"));
            }
            if peer.remote_as == 0 {
                problems.push(format!("{at}.remote_as: 0 is reserved"));
            }
            if let Some(h) = peer.hold_time_secs.filter(|h| !hold_ok(*h)) {
                problems.push(format!("{at}.hold_time_secs: {h} (must be 0 or >= 3)"));
            }
            if let Some(key) = &peer.md5_password
                && (key.0.is_empty() || key.0.len() > crate::speaker::MD5_MAX_KEY_LEN)
            {
                problems.push(format!("{at}.md5_password: must be 1 to 80 octets"));
            }
            if !peer.ipv4_unicast && !peer.ipv6_unicast {
                problems.push(format!("{at}: neither ipv4_unicast nor ipv6_unicast"));
            }
            if peer.connect_retry_min_ms == 0
                || peer.connect_retry_min_ms > peer.connect_retry_max_ms
            {
                problems.push(format!(
                    "{at}: connect_retry_min_ms must be > 0 and <= connect_retry_max_ms"
                ));
            }
            if peer.passive && peer.port != default_port() && self.listen.is_none() {
                problems.push(format!(
                    "{at}: passive peers connect to `listen`, set it instead of `port`"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}
