//! The session's vocabulary: states, outputs, why a session went down, counters and the
//! per-session configuration. Pure data.

use std::time::Duration;

use crate::codec::{Notification, UpdateError};
use crate::config::{GracefulRestartConfig, PeerConfig, RouteAttributes, SpeakerConfig};

/// Session states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum State {
    /// Not trying, or waiting for the reconnect backoff (active role).
    Idle,
    /// TCP connection attempt in progress (active role).
    Connect,
    /// Waiting for the peer to connect (passive role).
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the first KEEPALIVE.
    OpenConfirm,
    /// Routes flow.
    Established,
}

impl State {
    /// Lower-case name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connect => "connect",
            State::Active => "active",
            State::OpenSent => "opensent",
            State::OpenConfirm => "openconfirm",
            State::Established => "established",
        }
    }
}

/// Why a session went down; kept as the peer's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION (our error, hold timer, or admin stop).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection failed or closed.
    ConnectionLost(String),
    /// Closed on purpose without NOTIFICATION so peers keep our routes (graceful restart).
    GracefulRestart,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION: {n}"),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION: {n}"),
            DownReason::ConnectionLost(why) => write!(f, "connection lost: {why}"),
            DownReason::GracefulRestart => f.write_str("closed for graceful restart"),
        }
    }
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer (active role), then call `handle_connected` or
    /// `handle_connect_failed`.
    Connect,
    /// Write these bytes to the connection.
    Send(Vec<u8>),
    /// Close the connection (after writing what was queued before).
    Close,
    /// The state changed.
    StateChanged {
        /// Old state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session went down, and why.
    Down(DownReason),
    /// An inbound UPDATE was malformed but ignored (RFC 7606 treat-as-withdraw).
    UpdateIgnored(UpdateError),
}

/// Counters of one session's life, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// UPDATE messages we sent.
    pub updates_sent: u64,
    /// UPDATE messages we received (and dropped).
    pub updates_received: u64,
    /// Malformed inbound UPDATEs ignored under RFC 7606.
    pub updates_ignored: u64,
    /// Attributes dropped from accepted inbound UPDATEs under RFC 7606 (repeats of an
    /// attribute type, "attribute discard"); the UPDATE itself counts in `updates_received`.
    pub attributes_discarded: u64,
    /// Times the session reached Established.
    pub established_count: u64,
}

/// Everything one session needs to know, derived from the speaker and peer configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: std::net::Ipv4Addr,
    /// The peer's AS.
    pub remote_as: u32,
    /// Hold time we propose.
    pub hold_time: u16,
    /// The peer connects to us.
    pub passive: bool,
    /// Offer IPv4 unicast.
    pub ipv4: bool,
    /// Offer IPv6 unicast.
    pub ipv6: bool,
    /// Configured IPv4 next hop (else the session's local address).
    pub next_hop_v4: Option<std::net::Ipv4Addr>,
    /// Configured IPv6 next hop (else the session's local address).
    pub next_hop_v6: Option<std::net::Ipv6Addr>,
    /// LOCAL_PREF on iBGP when a route sets none.
    pub local_pref: u32,
    /// Graceful restart capability, if enabled.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Attributes merged into every route (communities).
    pub global_attributes: RouteAttributes,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl SessionConfig {
    /// The session settings for `peer` of `speaker`.
    pub fn new(speaker: &SpeakerConfig, peer: &PeerConfig) -> Self {
        SessionConfig {
            local_as: speaker.local_as,
            router_id: speaker.router_id,
            remote_as: peer.remote_as,
            hold_time: peer.hold_time_secs.unwrap_or(speaker.hold_time_secs),
            passive: peer.passive,
            ipv4: peer.ipv4_unicast,
            ipv6: peer.ipv6_unicast,
            next_hop_v4: peer.next_hop_v4,
            next_hop_v6: peer.next_hop_v6,
            local_pref: peer.local_pref,
            graceful_restart: speaker
                .graceful_restart
                .enabled
                .then(|| speaker.graceful_restart.clone()),
            global_attributes: RouteAttributes {
                communities: speaker.communities.clone(),
                large_communities: speaker.large_communities.clone(),
                ..RouteAttributes::default()
            },
            backoff_min: Duration::from_millis(peer.connect_retry_min_ms),
            backoff_max: Duration::from_millis(peer.connect_retry_max_ms),
        }
    }
}
