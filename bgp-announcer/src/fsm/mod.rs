//! The BGP session state machine (RFC 4271 §8), announce-only and sans-IO.
//!
//! Contract: no sockets, no clock, no tokio. Every input carries `now`; the session never
//! reads time. Inputs are the `handle_*` methods and the admin calls (`start`, `stop`,
//! `drop_for_restart`, `set_routes`); outputs are drained with [`Session::poll_output`] after
//! each input, and [`Session::poll_timeout`] says when to call [`Session::handle_timeout`].
//!
//! States follow RFC 4271 with one simplification: a session has a fixed role, active
//! (we connect: Idle -> Connect -> OpenSent) or passive (the peer connects: Active ->
//! OpenSent), so there are never two connections and no collision detection is needed.
//! After a failure the session waits in Idle (active role) or Active (passive role) for an
//! exponential backoff before the next attempt.
//!
//! Inbound UPDATEs are decoded strictly, counted and dropped (we never install routes).
//! Following RFC 7606, an inbound UPDATE error resets the session only when the message
//! cannot be parsed reliably (withdrawn/attribute/NLRI field lengths, MP_REACH/MP_UNREACH, a
//! repeated MP_REACH/MP_UNREACH); other attribute errors, including an attribute running
//! past the Total Path Attribute Length (§4), are "treat-as-withdraw", which for
//! an announce-only speaker means the UPDATE is ignored and counted. A repeated attribute
//! of any other type (RFC 7606 §3 (g)), and a malformed ATOMIC_AGGREGATE, AGGREGATOR or
//! AS4_PATH ("attribute discard"), are dropped by the decoder and the UPDATE accepted.

mod negotiate;
mod rib_out;
mod types;

#[cfg(test)]
mod tests;

use ipnetwork::IpNetwork;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{
    self, AFI_IPV4, AFI_IPV6, DecodeError, DiscardedAttribute, Message, Notification, SAFI_UNICAST,
    Update, UpdateError, type_code,
};
use crate::config::Announcements;

pub use self::types::{DownReason, Output, SessionConfig, SessionCounters, State};

use self::negotiate::Negotiated;
use self::rib_out::{PeerView, RibOut};

/// Hold time while waiting for the peer's OPEN (RFC 4271 §8.2.2 suggests 4 minutes).
const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// One BGP session with one peer. See the module docs for the contract.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    /// False after `stop`: no reconnects.
    enabled: bool,
    local_address: Option<IpAddr>,
    negotiated: Option<Negotiated>,
    view: Option<PeerView>,
    rib_out: RibOut,
    wanted: Arc<Announcements>,
    read_buffer: Vec<u8>,
    outputs: VecDeque<Output>,
    hold_deadline: Option<Instant>,
    keepalive_deadline: Option<Instant>,
    retry_deadline: Option<Instant>,
    failures: u32,
    counters: SessionCounters,
    last_error: Option<DownReason>,
}

// === impl Session ===

impl Session {
    /// A stopped session; call [`Session::start`] to begin.
    pub fn new(config: SessionConfig) -> Self {
        Session {
            config,
            state: State::Idle,
            enabled: false,
            local_address: None,
            negotiated: None,
            view: None,
            rib_out: RibOut::default(),
            wanted: Arc::new(Announcements::new()),
            read_buffer: Vec::new(),
            outputs: VecDeque::new(),
            hold_deadline: None,
            keepalive_deadline: None,
            retry_deadline: None,
            failures: 0,
            counters: SessionCounters::default(),
            last_error: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Lifetime counters.
    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    /// Why the session last went down.
    pub fn last_error(&self) -> Option<&DownReason> {
        self.last_error.as_ref()
    }

    /// Prefixes the peer currently has from us.
    pub fn announced_prefixes(&self) -> usize {
        self.rib_out.len()
    }

    /// Wanted prefixes this established session cannot carry, each with the reason (an
    /// address family not negotiated, or no next hop of that family): without this an
    /// operator sees "announcing" while the router never hears of the prefix.
    pub fn held_back(&self) -> Vec<(IpNetwork, &'static str)> {
        let Some(view) = &self.view else {
            return Vec::new();
        };
        self.wanted
            .keys()
            .filter_map(|net| view.why_not_carried(net).map(|why| (*net, why)))
            .collect()
    }

    /// Negotiated hold time, while OPENs have been exchanged.
    pub fn negotiated_hold_time(&self) -> Option<u16> {
        self.negotiated.as_ref().map(|n| n.hold_time)
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Next output for the driver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.hold_deadline,
            self.keepalive_deadline,
            self.retry_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// ManualStart (RFC 4271 event 1/4): begin connecting or waiting for the peer.
    pub fn start(&mut self, now: Instant) {
        if self.enabled {
            return;
        }
        self.enabled = true;
        self.failures = 0;
        self.begin_attempt(now);
    }

    /// ManualStop (event 2): send `notification` (Cease) if OPEN was sent, close, stay down.
    pub fn stop(&mut self, notification: Notification, now: Instant) {
        self.enabled = false;
        self.retry_deadline = None;
        if self.state >= State::OpenSent {
            self.send_notification_and_close(notification, now);
        } else {
            if self.state == State::Connect {
                self.outputs.push_back(Output::Close);
            }
            self.set_state(State::Idle);
        }
    }

    /// Closes the connection without NOTIFICATION so a peer acting as graceful restart
    /// helper keeps our routes (RFC 4724 §4.2), and stays down. Used when the process is
    /// about to restart.
    pub fn drop_for_restart(&mut self) {
        self.enabled = false;
        self.retry_deadline = None;
        if self.state != State::Idle && self.state != State::Active {
            self.outputs.push_back(Output::Close);
        }
        self.reset_connection(DownReason::GracefulRestart);
        self.set_state(State::Idle);
    }

    /// Replaces the set of routes to announce. On an established session the difference goes
    /// out as UPDATEs at once; the session is never reset for this.
    pub fn set_routes(&mut self, routes: Arc<Announcements>, now: Instant) {
        self.wanted = routes;
        if self.state == State::Established {
            self.sync_routes(now);
        }
    }

    /// The TCP connection is up (we connected, or the peer connected to us in passive role).
    /// `local` is our end's address: the default next hop.
    pub fn handle_connected(&mut self, local: IpAddr, now: Instant) {
        if !self.enabled {
            self.outputs.push_back(Output::Close);
            return;
        }
        if self.state >= State::OpenSent {
            // A new connection replaces a live one (passive role: the peer restarted).
            self.reset_connection(DownReason::ConnectionLost(
                "replaced by a new connection from the peer".to_owned(),
            ));
        }
        self.retry_deadline = None;
        self.local_address = Some(local);
        self.read_buffer.clear();
        let open = negotiate::our_open(&self.config);
        self.send(&Message::Open(open), now);
        self.hold_deadline = Some(now + LARGE_HOLD_TIME);
        self.set_state(State::OpenSent);
    }

    /// The connection attempt failed (active role).
    pub fn handle_connect_failed(&mut self, reason: String, now: Instant) {
        if self.state == State::Connect {
            self.go_down(DownReason::ConnectionLost(reason), now);
        }
    }

    /// The connection closed or failed while open (EOF, reset, write error).
    pub fn handle_closed(&mut self, reason: String, now: Instant) {
        if self.state >= State::OpenSent {
            self.go_down(DownReason::ConnectionLost(reason), now);
        }
    }

    /// Bytes read from the connection (any split: the session frames them).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        if self.state < State::OpenSent {
            return;
        }
        self.read_buffer.extend_from_slice(bytes);
        loop {
            let len = match codec::frame_length(&self.read_buffer) {
                Ok(Some(len)) if len <= self.read_buffer.len() => len,
                Ok(_) => return,
                Err(err) => return self.decode_failed(&err, now),
            };
            let frame: Vec<u8> = self.read_buffer.drain(..len).collect();
            let four_octet_as = self.negotiated.as_ref().is_some_and(|n| n.four_octet_as);
            match codec::decode(&frame, four_octet_as) {
                Ok(message) => self.handle_message(message, now),
                Err(err) => self.decode_failed(&err, now),
            }
            if self.state < State::OpenSent {
                return;
            }
        }
    }

    /// Timers that are due at `now` fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hold_deadline.is_some_and(|d| d <= now) {
            self.hold_deadline = None;
            self.send_notification_and_close(Notification::hold_timer_expired(), now);
            return;
        }
        if self.keepalive_deadline.is_some_and(|d| d <= now) {
            self.send(&Message::Keepalive, now);
            self.arm_keepalive(now);
        }
        if self.retry_deadline.is_some_and(|d| d <= now) {
            self.retry_deadline = None;
            self.begin_attempt(now);
        }
    }

    fn handle_message(&mut self, message: Message, now: Instant) {
        if let Message::Notification(n) = message {
            self.outputs.push_back(Output::Close);
            self.go_down(DownReason::NotificationReceived(n), now);
            return;
        }
        match (self.state, message) {
            (State::OpenSent, Message::Open(open)) => {
                match negotiate::negotiate(&self.config, &open) {
                    Ok(negotiated) => {
                        self.send(&Message::Keepalive, now);
                        self.negotiated = Some(negotiated);
                        self.arm_hold(now);
                        self.arm_keepalive(now);
                        self.set_state(State::OpenConfirm);
                    }
                    Err(err) => {
                        self.send_notification_and_close(Notification::from(&err), now);
                    }
                }
            }
            (State::OpenConfirm, Message::Keepalive) => {
                self.arm_hold(now);
                self.establish(now);
            }
            (State::Established, Message::Keepalive) => self.arm_hold(now),
            (State::Established, Message::Update(update)) => {
                self.counters.updates_received += 1;
                self.count_discarded(&update);
                self.arm_hold(now);
            }
            (State::Established, Message::RouteRefresh { afi, safi }) => {
                self.arm_hold(now);
                if safi == SAFI_UNICAST && self.family_negotiated(afi) {
                    self.readvertise(afi, now);
                }
            }
            (state, _) => {
                let subcode = match state {
                    State::OpenSent => codec::fsm::UNEXPECTED_IN_OPEN_SENT,
                    State::OpenConfirm => codec::fsm::UNEXPECTED_IN_OPEN_CONFIRM,
                    State::Established => codec::fsm::UNEXPECTED_IN_ESTABLISHED,
                    _ => codec::fsm::UNSPECIFIED,
                };
                let n = Notification::new(codec::FSM_ERROR, subcode);
                self.send_notification_and_close(n, now);
            }
        }
    }

    /// Counts what the decoder dropped from an accepted UPDATE (RFC 7606); the session and
    /// the rest of the UPDATE are unaffected.
    fn count_discarded(&mut self, update: &Update) {
        if update.discarded.is_empty() {
            return;
        }
        let dropped = u64::try_from(update.discarded.len()).unwrap_or(u64::MAX);
        self.counters.attributes_discarded =
            self.counters.attributes_discarded.saturating_add(dropped);
        for attribute in &update.discarded {
            match attribute {
                DiscardedAttribute::Duplicate { type_code } => tracing::debug!(
                    type_code,
                    "dropped a repeated attribute from an inbound UPDATE (RFC 7606)"
                ),
                DiscardedAttribute::Malformed(error) => tracing::warn!(
                    error = %error,
                    "dropped a malformed attribute from an inbound UPDATE (attribute discard)"
                ),
            }
        }
    }

    fn decode_failed(&mut self, err: &DecodeError, now: Instant) {
        if let DecodeError::Update(update_err) = err
            && self.state == State::Established
            && !resets_session(update_err)
        {
            self.counters.updates_received += 1;
            self.counters.updates_ignored += 1;
            self.arm_hold(now);
            self.outputs
                .push_back(Output::UpdateIgnored(update_err.clone()));
            return;
        }
        self.send_notification_and_close(Notification::from(err), now);
    }

    fn establish(&mut self, now: Instant) {
        let Some(neg) = self.negotiated.clone() else {
            return;
        };
        let local = self.local_address;
        let view = PeerView {
            local_as: self.config.local_as,
            ibgp: self.config.local_as == self.config.remote_as,
            four_octet_as: neg.four_octet_as,
            ipv4: neg.ipv4,
            ipv6: neg.ipv6,
            next_hop_v4: self.config.next_hop_v4.or(match local {
                Some(IpAddr::V4(v4)) => Some(v4),
                _ => None,
            }),
            next_hop_v6: self.config.next_hop_v6.or(match local {
                Some(IpAddr::V6(v6)) => Some(v6),
                _ => None,
            }),
            default_local_pref: self.config.local_pref,
            global: self.config.global_attributes.clone(),
        };
        self.view = Some(view);
        self.failures = 0;
        self.counters.established_count += 1;
        self.set_state(State::Established);
        self.rib_out.clear();
        self.sync_routes(now);
        for afi in [AFI_IPV4, AFI_IPV6] {
            if self.family_negotiated(afi) {
                self.send(&Message::Update(rib_out::end_of_rib(afi)), now);
            }
        }
    }

    fn family_negotiated(&self, afi: u16) -> bool {
        self.negotiated.as_ref().is_some_and(|n| match afi {
            AFI_IPV4 => n.ipv4,
            AFI_IPV6 => n.ipv6,
            _ => false,
        })
    }

    fn sync_routes(&mut self, now: Instant) {
        let Some(view) = self.view.clone() else {
            return;
        };
        let wanted = Arc::clone(&self.wanted);
        for update in self.rib_out.sync(&wanted, &view) {
            self.send(&Message::Update(update), now);
        }
    }

    fn readvertise(&mut self, afi: u16, now: Instant) {
        let Some(view) = self.view.clone() else {
            return;
        };
        for update in self.rib_out.readvertise(afi, &view) {
            self.send(&Message::Update(update), now);
        }
    }

    fn send(&mut self, message: &Message, now: Instant) {
        let four_octet_as = self.negotiated.as_ref().is_some_and(|n| n.four_octet_as);
        match codec::encode(message, four_octet_as) {
            Ok(bytes) => {
                if matches!(message, Message::Update(_)) {
                    self.counters.updates_sent += 1;
                }
                self.outputs.push_back(Output::Send(bytes));
                // Any message we send resets the keepalive interval (RFC 4271 §4.4).
                if self.state >= State::OpenConfirm && self.keepalive_deadline.is_some() {
                    self.arm_keepalive(now);
                }
            }
            Err(err) => {
                // Only reachable through a bug in the packer; never send a broken message.
                tracing::error!(error = %err, "dropping a BGP message that does not encode");
            }
        }
    }

    fn send_notification_and_close(&mut self, notification: Notification, now: Instant) {
        if self.state >= State::OpenSent {
            self.send(&Message::Notification(notification.clone()), now);
        }
        self.outputs.push_back(Output::Close);
        self.go_down(DownReason::NotificationSent(notification), now);
    }

    fn arm_hold(&mut self, now: Instant) {
        self.hold_deadline = match self.negotiated.as_ref().map(|n| n.hold_time) {
            Some(0) => None,
            Some(secs) => Some(now + Duration::from_secs(u64::from(secs))),
            None => Some(now + LARGE_HOLD_TIME),
        };
    }

    fn arm_keepalive(&mut self, now: Instant) {
        self.keepalive_deadline = match self.negotiated.as_ref().map(|n| n.hold_time) {
            Some(0) | None => None,
            Some(secs) => Some(now + Duration::from_secs(u64::from((secs / 3).max(1)))),
        };
    }

    fn begin_attempt(&mut self, _now: Instant) {
        if !self.enabled {
            return;
        }
        if self.config.passive {
            self.set_state(State::Active);
        } else {
            self.set_state(State::Connect);
            self.outputs.push_back(Output::Connect);
        }
    }

    /// Forgets the connection's state (timers, negotiation, what the peer has).
    fn reset_connection(&mut self, reason: DownReason) {
        let was_up = self.state >= State::OpenSent;
        self.hold_deadline = None;
        self.keepalive_deadline = None;
        self.negotiated = None;
        self.view = None;
        self.rib_out.clear();
        self.read_buffer.clear();
        self.local_address = None;
        if was_up || !matches!(reason, DownReason::GracefulRestart) {
            self.outputs.push_back(Output::Down(reason.clone()));
            self.last_error = Some(reason);
        }
    }

    fn go_down(&mut self, reason: DownReason, now: Instant) {
        self.reset_connection(reason);
        if !self.enabled {
            self.set_state(State::Idle);
            return;
        }
        let delay = self.backoff();
        self.failures = self.failures.saturating_add(1);
        self.retry_deadline = Some(now + delay);
        let waiting = if self.config.passive {
            // The peer may reconnect at any time; the deadline only bounds the wait.
            State::Active
        } else {
            State::Idle
        };
        self.set_state(waiting);
    }

    /// min * 2^failures, capped at max.
    fn backoff(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.config
            .backoff_min
            .saturating_mul(factor)
            .min(self.config.backoff_max)
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            let from = self.state;
            self.state = to;
            self.outputs.push_back(Output::StateChanged { from, to });
        }
    }
}

/// RFC 7606 §3/§5: errors after which the rest of the message cannot be trusted.
fn resets_session(err: &UpdateError) -> bool {
    let is_mp = |code: u8| code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI;
    match err {
        UpdateError::MalformedAttributeList { .. }
        | UpdateError::InvalidNetworkField
        | UpdateError::UnrecognizedWellKnownAttribute { .. } => true,
        UpdateError::OptionalAttribute { type_code, .. } => is_mp(*type_code),
        // §4: treat-as-withdraw, unless the cut-off attribute is MP_REACH/MP_UNREACH, whose
        // routes then cannot be parsed (§5.3).
        UpdateError::AttributeListOverrun { type_code, .. } => type_code.is_some_and(is_mp),
        _ => false,
    }
}
