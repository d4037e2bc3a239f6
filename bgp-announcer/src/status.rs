//! Per-peer status the daemon exports as metrics and on `/status` (no prometheus dependency
//! here: the daemon maps these fields onto its own registry).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::fsm::{Session, State};

/// A snapshot of one peer's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's AS.
    pub remote_as: u32,
    /// Session state.
    pub state: State,
    /// UPDATE messages sent since the speaker started.
    pub updates_sent: u64,
    /// UPDATE messages received (validated and dropped).
    pub updates_received: u64,
    /// Malformed inbound UPDATEs ignored under RFC 7606.
    pub updates_ignored: u64,
    /// Repeated path attributes dropped from inbound UPDATEs under RFC 7606 (first kept).
    pub attributes_discarded: u64,
    /// Prefixes the peer has from us right now.
    pub announced_prefixes: usize,
    /// Times the session reached Established (flaps = this minus one).
    pub established_count: u64,
    /// Negotiated hold time while a session is up.
    pub hold_time_secs: Option<u16>,
    /// Why the session last went down (or failed to come up).
    pub last_error: Option<String>,
    /// Prefixes this established session cannot carry, with the reason.
    pub held_back: Vec<HeldBack>,
}

/// A prefix the speaker announces that one peer's session cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// The prefix.
    pub prefix: String,
    /// Why (names the setting to change).
    pub reason: String,
}

impl PeerStatus {
    /// Reads the status out of a session.
    pub(crate) fn of(address: IpAddr, session: &Session) -> Self {
        let counters = session.counters();
        PeerStatus {
            address,
            remote_as: session.config().remote_as,
            state: session.state(),
            updates_sent: counters.updates_sent,
            updates_received: counters.updates_received,
            updates_ignored: counters.updates_ignored,
            attributes_discarded: counters.attributes_discarded,
            announced_prefixes: session.announced_prefixes(),
            established_count: counters.established_count,
            hold_time_secs: session.negotiated_hold_time(),
            last_error: session.last_error().map(ToString::to_string),
            held_back: session
                .held_back()
                .into_iter()
                .map(|(net, why)| HeldBack {
                    prefix: net.to_string(),
                    reason: why.to_owned(),
                })
                .collect(),
        }
    }
}
