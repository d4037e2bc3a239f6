//! FSM tests on a virtual clock: no sockets, no sleeping. `Pair` wires two sessions
//! back to back and records every message on the wire.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::codec::{Capability, Community, Open, PathAttribute, Update, decode, encode};
use crate::config::{PeerConfig, RouteAttributes, SpeakerConfig};

const A_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn session(local_as: u32, router_id: [u8; 4], remote_as: u32, passive: bool) -> Session {
    let speaker = SpeakerConfig::new(local_as, Ipv4Addr::from(router_id));
    let mut peer = PeerConfig::new(B_ADDR, remote_as);
    peer.passive = passive;
    peer.next_hop_v6 = Some("2001:db8::a".parse().unwrap());
    Session::new(SessionConfig::new(&speaker, &peer))
}

fn routes(list: &[(&str, Option<u32>)]) -> Arc<Announcements> {
    Arc::new(
        list.iter()
            .map(|(net, med)| {
                (
                    net.parse().unwrap(),
                    RouteAttributes {
                        med: *med,
                        communities: [Community::new(65000, 1)].into(),
                        ..RouteAttributes::default()
                    },
                )
            })
            .collect(),
    )
}

/// Two sessions connected back to back; `wire` records (sender, message).
struct Pair {
    now: Instant,
    a: Session,
    b: Session,
    wire: Vec<(char, Message)>,
    a_closed: bool,
}

impl Pair {
    fn new(a: Session, b: Session) -> Self {
        Pair {
            now: Instant::now(),
            a,
            b,
            wire: Vec::new(),
            a_closed: false,
        }
    }

    fn connect(&mut self) {
        self.a.start(self.now);
        self.b.start(self.now);
        self.drive();
    }

    /// Moves outputs across until both sides are quiet.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.a.poll_output() {
                moved = true;
                match out {
                    Output::Connect => {
                        self.a.handle_connected(A_ADDR, self.now);
                        self.b.handle_connected(B_ADDR, self.now);
                    }
                    Output::Send(bytes) => {
                        self.wire.push(('a', decode(&bytes, true).unwrap()));
                        self.b.handle_bytes(&bytes, self.now);
                    }
                    Output::Close => self.a_closed = true,
                    _ => {}
                }
            }
            while let Some(out) = self.b.poll_output() {
                moved = true;
                if let Output::Send(bytes) = out {
                    self.wire.push(('b', decode(&bytes, true).unwrap()));
                    self.a.handle_bytes(&bytes, self.now);
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Advances the virtual clock, firing timers in order.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(at) = next else { break };
            self.now = at;
            self.a.handle_timeout(at);
            self.b.handle_timeout(at);
            self.drive();
        }
        self.now = end;
    }

    fn updates_from_a(&mut self) -> Vec<Update> {
        let out = self
            .wire
            .iter()
            .filter_map(|(who, m)| match (who, m) {
                ('a', Message::Update(u)) => Some(u.clone()),
                _ => None,
            })
            .collect();
        self.wire.clear();
        out
    }
}

fn established_pair() -> Pair {
    let mut pair = Pair::new(
        session(65001, [1, 1, 1, 1], 65002, false),
        session(65002, [2, 2, 2, 2], 65001, true),
    );
    pair.a.set_routes(
        routes(&[("10.0.0.1/32", None), ("2001:db8::1/128", None)]),
        pair.now,
    );
    pair.connect();
    pair
}

#[test]
fn two_sessions_reach_established_and_send_routes_then_end_of_rib() {
    let mut pair = established_pair();
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.b.state(), State::Established);
    let updates = pair.updates_from_a();
    // v4 route, v6 route, EoR v4, EoR v6.
    assert_eq!(updates.len(), 4, "{updates:#?}");
    assert_eq!(
        updates[0].nlri,
        ["10.0.0.1/32".parse::<ipnetwork::IpNetwork>().unwrap()]
    );
    assert!(
        updates[0]
            .attributes
            .contains(&PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert!(updates[0].attributes.contains(&PathAttribute::AsPath(vec![
        crate::codec::AsSegment {
            kind: crate::codec::SegmentKind::Sequence,
            asns: vec![65001],
        }
    ])));
    assert!(
        updates[1]
            .attributes
            .iter()
            .any(|a| matches!(a, PathAttribute::MpReach(mp) if mp.nlri.len() == 1))
    );
    assert_eq!(updates[2].end_of_rib(), Some((1, 1)));
    assert_eq!(updates[3].end_of_rib(), Some((2, 1)));
    assert_eq!(pair.a.announced_prefixes(), 2);
    assert_eq!(pair.a.negotiated_hold_time(), Some(90));
}

#[test]
fn route_changes_are_incremental_and_never_reset_the_session() {
    let mut pair = established_pair();
    pair.updates_from_a();
    // Withdraw one, change the MED of the other.
    pair.a
        .set_routes(routes(&[("2001:db8::1/128", Some(7))]), pair.now);
    pair.drive();
    let updates = pair.updates_from_a();
    assert_eq!(updates.len(), 2, "{updates:#?}");
    assert_eq!(
        updates[0].withdrawn,
        ["10.0.0.1/32".parse::<ipnetwork::IpNetwork>().unwrap()]
    );
    assert!(
        updates[1]
            .attributes
            .contains(&PathAttribute::MultiExitDisc(7))
    );
    // Same set again: nothing on the wire.
    pair.a
        .set_routes(routes(&[("2001:db8::1/128", Some(7))]), pair.now);
    pair.drive();
    assert!(pair.updates_from_a().is_empty());
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.a.counters().established_count, 1);
}

#[test]
fn keepalives_keep_the_session_up_and_silence_expires_the_hold_timer() {
    let mut pair = established_pair();
    pair.advance(Duration::from_secs(600));
    assert_eq!(pair.a.state(), State::Established);
    // B stops talking: A's hold timer (90 s) fires with NOTIFICATION 4/0.
    let mut a = pair.a;
    let t = pair.now + Duration::from_secs(91);
    a.handle_timeout(t);
    let outputs: Vec<_> = std::iter::from_fn(|| a.poll_output()).collect();
    let sent = outputs.iter().find_map(|o| match o {
        Output::Send(b) => decode(b, true).ok(),
        _ => None,
    });
    assert_eq!(sent, Some(Message::Notification(Notification::new(4, 0))));
    assert!(outputs.contains(&Output::Close));
    assert_eq!(a.state(), State::Idle);
    assert!(matches!(a.last_error(), Some(DownReason::NotificationSent(n)) if n.code == 4));
}

#[test]
fn route_refresh_readvertises_everything_of_the_family() {
    let mut pair = established_pair();
    pair.updates_from_a();
    let rr = encode(&Message::RouteRefresh { afi: 1, safi: 1 }, true).unwrap();
    pair.a.handle_bytes(&rr, pair.now);
    pair.drive();
    let updates = pair.updates_from_a();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].nlri.len(), 1);
}

#[test]
fn ibgp_sends_local_pref_and_empty_as_path() {
    let mut pair = Pair::new(
        session(65001, [1, 1, 1, 1], 65001, false),
        session(65001, [2, 2, 2, 2], 65001, true),
    );
    pair.a
        .set_routes(routes(&[("10.0.0.1/32", None)]), pair.now);
    pair.connect();
    let updates = pair.updates_from_a();
    assert!(
        updates[0]
            .attributes
            .contains(&PathAttribute::LocalPref(100))
    );
    assert!(
        updates[0]
            .attributes
            .contains(&PathAttribute::AsPath(Vec::new()))
    );
}

fn open_from(asn: u32, id: [u8; 4], hold: u16, caps: Vec<Capability>) -> Vec<u8> {
    let open = Open {
        my_as: u16::try_from(asn).unwrap_or(crate::codec::AS_TRANS),
        hold_time: hold,
        bgp_id: Ipv4Addr::from(id),
        capabilities: caps,
    };
    encode(&Message::Open(open), true).unwrap()
}

/// Feeds `bytes` to a session in OpenSent and returns the NOTIFICATION it sends.
fn notification_for(mut s: Session, bytes: &[u8]) -> Notification {
    let now = Instant::now();
    s.start(now);
    s.handle_connected(A_ADDR, now);
    while s.poll_output().is_some() {}
    s.handle_bytes(bytes, now);
    let mut found = None;
    while let Some(out) = s.poll_output() {
        if let Output::Send(b) = out
            && let Ok(Message::Notification(n)) = decode(&b, true)
        {
            found = Some(n);
        }
    }
    found.expect("a NOTIFICATION")
}

#[test]
fn wrong_peer_as_is_2_2() {
    let n = notification_for(
        session(65001, [1; 4], 65002, false),
        &open_from(65003, [2; 4], 90, vec![]),
    );
    assert_eq!((n.code, n.subcode), (2, 2));
}

#[test]
fn four_octet_peer_as_is_taken_from_the_capability() {
    let caps = vec![Capability::FourOctetAs { asn: 4_200_000_001 }];
    let n = notification_for(
        session(65001, [1; 4], 4_200_000_002, false),
        &open_from(4_200_000_001, [2; 4], 90, caps),
    );
    assert_eq!((n.code, n.subcode), (2, 2));
}

#[test]
fn same_identifier_on_ibgp_is_2_3() {
    let n = notification_for(
        session(65001, [1; 4], 65001, false),
        &open_from(65001, [1; 4], 90, vec![]),
    );
    assert_eq!((n.code, n.subcode), (2, 3));
}

#[test]
fn no_common_family_is_2_7() {
    let caps = vec![Capability::Multiprotocol { afi: 25, safi: 65 }];
    let n = notification_for(
        session(65001, [1; 4], 65002, false),
        &open_from(65002, [2; 4], 90, caps),
    );
    assert_eq!((n.code, n.subcode), (2, 7));
    assert!(!n.data.is_empty());
}

#[test]
fn unexpected_messages_are_fsm_errors_5_x() {
    let keepalive = encode(&Message::Keepalive, true).unwrap();
    let n = notification_for(session(65001, [1; 4], 65002, false), &keepalive);
    assert_eq!((n.code, n.subcode), (5, 1));
    // An OPEN on an established session.
    let mut pair = established_pair();
    pair.b.handle_connected(B_ADDR, pair.now); // B sends a second OPEN on the same stream
    pair.drive();
    let closed_with = pair.wire.iter().find_map(|(who, m)| match (who, m) {
        ('a', Message::Notification(n)) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(closed_with, Some(Notification::new(5, 3)));
}

#[test]
fn malformed_header_closes_with_1_x() {
    let n = notification_for(session(65001, [1; 4], 65002, false), &[0u8; 19]);
    assert_eq!((n.code, n.subcode), (1, 1));
}

#[test]
fn stop_sends_cease_after_withdrawing() {
    let mut pair = established_pair();
    pair.updates_from_a();
    pair.a.set_routes(Arc::new(Announcements::new()), pair.now);
    pair.a.stop(Notification::admin_shutdown(), pair.now);
    pair.drive();
    let from_a: Vec<_> = pair
        .wire
        .iter()
        .filter(|(w, _)| *w == 'a')
        .map(|(_, m)| m.clone())
        .collect();
    assert!(matches!(&from_a[0], Message::Update(u) if u.withdrawn.len() == 1));
    assert_eq!(
        from_a.last(),
        Some(&Message::Notification(Notification::new(6, 2)))
    );
    assert!(pair.a_closed);
    assert_eq!(
        pair.b.state(),
        State::Active,
        "the peer saw the Cease and waits again"
    );
    // A stopped session never reconnects.
    pair.advance(Duration::from_secs(3600));
    assert_eq!(pair.a.state(), State::Idle);
}

#[test]
fn drop_for_restart_sends_nothing() {
    let mut pair = established_pair();
    pair.wire.clear();
    pair.a.drop_for_restart();
    pair.drive();
    assert!(pair.wire.is_empty());
    assert!(pair.a_closed);
}

#[test]
fn reconnect_backoff_doubles_up_to_the_maximum() {
    let mut s = session(65001, [1; 4], 65002, false);
    let t0 = Instant::now();
    s.start(t0);
    let mut delays = Vec::new();
    let mut now = t0;
    for _ in 0..9 {
        while s.poll_output().is_some() {}
        s.handle_connect_failed("refused".to_owned(), now);
        let at = s.poll_timeout().unwrap();
        delays.push((at - now).as_millis());
        now = at;
        s.handle_timeout(now);
        assert_eq!(s.state(), State::Connect);
    }
    assert_eq!(
        delays,
        [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
    );
}

#[test]
fn malformed_attribute_in_established_is_ignored_per_rfc7606() {
    let mut pair = established_pair();
    // An UPDATE with an invalid ORIGIN value: treat-as-withdraw, no reset.
    let mut body = vec![0, 0, 0, 4, 0x40, 1, 1, 9];
    body.extend_from_slice(&[]);
    let mut frame = vec![0xFF; 16];
    frame.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    frame.push(2);
    frame.extend_from_slice(&body);
    pair.a.handle_bytes(&frame, pair.now);
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.a.counters().updates_ignored, 1);
    // A broken attribute list still resets, with 3/1.
    let bad = [0xFFu8; 16]
        .iter()
        .copied()
        .chain([0, 23, 2, 0, 9, 0, 0])
        .collect::<Vec<_>>();
    pair.a.handle_bytes(&bad, pair.now);
    pair.drive();
    assert_eq!(pair.a.state(), State::Idle);
    assert!(
        matches!(pair.a.last_error(), Some(DownReason::NotificationSent(n)) if (n.code, n.subcode) == (3, 1))
    );
}

/// An UPDATE frame with these attribute bytes and one IPv4 NLRI (10.9.0.0/16).
fn update_frame(attributes: &[&[u8]]) -> Vec<u8> {
    let attrs = attributes.concat();
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[16, 10, 9]);
    let mut frame = vec![0xFF; 16];
    frame.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    frame.push(2);
    frame.extend_from_slice(&body);
    frame
}

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const ORIGIN_EGP: &[u8] = &[0x40, 1, 1, 1];
/// AS_SEQUENCE [65002], 4-octet AS numbers.
const AS_PATH_65002: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xFD, 0xEA];
const NEXT_HOP_B: &[u8] = &[0x40, 3, 4, 192, 0, 2, 2];

fn notifications_from_a(pair: &Pair) -> Vec<&Notification> {
    pair.wire
        .iter()
        .filter_map(|(who, m)| match (who, m) {
            ('a', Message::Notification(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// RFC 7606 §3 (g) at session level: UPDATEs repeating ORIGIN, AS_PATH or an unknown
/// optional attribute are accepted; the session stays Established, sends no NOTIFICATION
/// and counts the dropped repeats. Fails (3/1 NOTIFICATION, Idle) with the RFC 4271 rule.
#[test]
fn duplicate_non_mp_attribute_keeps_the_session_established() {
    let mut pair = established_pair();
    pair.wire.clear();
    let before = pair.a.counters().clone();
    let unknown = [0xC0, 99, 1, 7];
    let frames = [
        update_frame(&[ORIGIN_IGP, ORIGIN_EGP, AS_PATH_65002, NEXT_HOP_B]),
        update_frame(&[ORIGIN_IGP, AS_PATH_65002, AS_PATH_65002, NEXT_HOP_B]),
        update_frame(&[ORIGIN_IGP, AS_PATH_65002, NEXT_HOP_B, &unknown, &unknown]),
    ];
    for frame in &frames {
        pair.a.handle_bytes(frame, pair.now);
        pair.drive();
    }
    assert_eq!(pair.a.state(), State::Established);
    assert!(notifications_from_a(&pair).is_empty(), "{:?}", pair.wire);
    assert!(!pair.a_closed);
    let counters = pair.a.counters();
    assert_eq!(counters.updates_received, before.updates_received + 3);
    assert_eq!(counters.updates_ignored, before.updates_ignored);
    assert_eq!(counters.attributes_discarded, 3);
    // A malformed AGGREGATOR is "attribute discard": accepted and counted the same way.
    let short_aggregator: &[u8] = &[0xC0, 7, 7, 0, 0, 0xFD, 0xEA, 192, 0, 2];
    let frame = update_frame(&[ORIGIN_IGP, AS_PATH_65002, NEXT_HOP_B, short_aggregator]);
    pair.a.handle_bytes(&frame, pair.now);
    pair.drive();
    let counters = pair.a.counters();
    assert_eq!(counters.updates_ignored, before.updates_ignored);
    assert_eq!(counters.attributes_discarded, 4);
    // Still exchanging keepalives afterwards: the hold timer never fires.
    pair.advance(Duration::from_secs(600));
    assert_eq!(pair.a.state(), State::Established);
}

/// A repeated MP_REACH_NLRI still resets with 3/1 (Malformed Attribute List).
#[test]
fn duplicate_mp_reach_resets_with_malformed_attribute_list() {
    let mut pair = established_pair();
    pair.wire.clear();
    let mp_reach: &[u8] = &[
        0x80, 14, 30, 0, 2, 1, 16, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0,
        64, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 9,
    ];
    let frame = update_frame(&[ORIGIN_IGP, AS_PATH_65002, NEXT_HOP_B, mp_reach, mp_reach]);
    pair.a.handle_bytes(&frame, pair.now);
    pair.drive();
    assert_ne!(pair.a.state(), State::Established);
    let sent = notifications_from_a(&pair);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].code, sent[0].subcode), (3, 1));
}

/// RFC 7606 §4: an attribute running past the Total Path Attribute Length is
/// treat-as-withdraw (ignored, counted, session up), unless it is MP_REACH/MP_UNREACH,
/// which resets with 3/1. Fails if overruns reset the session again.
#[test]
fn attribute_overrun_is_ignored_unless_it_is_an_mp_attribute() {
    let mut pair = established_pair();
    pair.wire.clear();
    let before = pair.a.counters().clone();
    let cut_unknown: &[u8] = &[0xC0, 99, 5, 1];
    let frame = update_frame(&[ORIGIN_IGP, AS_PATH_65002, NEXT_HOP_B, cut_unknown]);
    pair.a.handle_bytes(&frame, pair.now);
    pair.drive();
    assert_eq!(pair.a.state(), State::Established);
    assert!(notifications_from_a(&pair).is_empty());
    assert_eq!(
        pair.a.counters().updates_ignored,
        before.updates_ignored + 1
    );
    let cut_mp_reach: &[u8] = &[0x80, 14, 30, 0, 2, 1];
    let frame = update_frame(&[ORIGIN_IGP, AS_PATH_65002, NEXT_HOP_B, cut_mp_reach]);
    pair.a.handle_bytes(&frame, pair.now);
    pair.drive();
    assert_ne!(pair.a.state(), State::Established);
    let sent = notifications_from_a(&pair);
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].code, sent[0].subcode), (3, 1));
}

#[test]
fn graceful_restart_capability_has_f_bit_and_r_bit_when_restarting() {
    let mut speaker = SpeakerConfig::new(65001, Ipv4Addr::new(1, 1, 1, 1));
    speaker.graceful_restart.restarting = true;
    let cfg = SessionConfig::new(&speaker, &PeerConfig::new(B_ADDR, 65002));
    let open = negotiate::our_open(&cfg);
    let gr = open.capabilities.iter().find_map(|c| match c {
        Capability::GracefulRestart(gr) => Some(gr.clone()),
        _ => None,
    });
    let gr = gr.expect("GR capability");
    assert!(gr.restart_state);
    assert_eq!(gr.restart_time, 120);
    assert!(gr.families.iter().all(|f| f.forwarding_preserved));
    assert_eq!(gr.families.len(), 2);
}

#[test]
fn large_local_as_uses_as_trans_and_as4_path_towards_old_peers() {
    let mut pair = Pair::new(
        session(4_200_000_000, [1; 4], 65002, false),
        session(65002, [2; 4], 65001, true),
    );
    pair.a
        .set_routes(routes(&[("10.0.0.1/32", None)]), pair.now);
    pair.a.start(pair.now);
    while pair.a.poll_output().is_some() {}
    pair.a.handle_connected(A_ADDR, pair.now);
    let mut sent = Vec::new();
    while let Some(o) = pair.a.poll_output() {
        if let Output::Send(b) = o {
            sent.push(b);
        }
    }
    let Ok(Message::Open(open)) = decode(&sent[0], true) else {
        panic!("no OPEN")
    };
    assert_eq!(open.my_as, crate::codec::AS_TRANS);
    // An old peer: no 4-octet capability, 2-octet AS.
    pair.a
        .handle_bytes(&open_from(65002, [2; 4], 90, vec![]), pair.now);
    pair.a
        .handle_bytes(&encode(&Message::Keepalive, true).unwrap(), pair.now);
    let mut updates = Vec::new();
    while let Some(o) = pair.a.poll_output() {
        if let Output::Send(b) = o
            && let Ok(Message::Update(u)) = decode(&b, false)
        {
            updates.push(u);
        }
    }
    let attrs = &updates[0].attributes;
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, PathAttribute::AsPath(p) if p[0].asns == [23456]))
    );
    assert!(
        attrs
            .iter()
            .any(|a| matches!(a, PathAttribute::As4Path(p) if p[0].asns == [4_200_000_000]))
    );
}

#[test]
fn many_routes_are_split_under_4096_octets() {
    let mut pair = Pair::new(
        session(65001, [1; 4], 65002, false),
        session(65002, [2; 4], 65001, true),
    );
    let many: Announcements = (0..3000u32)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0A00_0000 + i);
            (
                ipnetwork::IpNetwork::new(IpAddr::V4(ip), 32).unwrap(),
                RouteAttributes::default(),
            )
        })
        .collect();
    pair.a.set_routes(Arc::new(many), pair.now);
    pair.connect();
    let updates = pair.updates_from_a();
    let total: usize = updates.iter().map(|u| u.nlri.len()).sum();
    assert_eq!(total, 3000);
    assert!(updates.len() > 3);
    assert_eq!(pair.b.state(), State::Established);
}

// Fails if a prefix the session cannot carry is dropped silently: an IPv6 VIP over an IPv4
// session without next_hop_v6 must be named, with the setting to change. Control: the same
// routes with next_hop_v6 set (established_pair) hold nothing back.
#[test]
fn a_v6_prefix_without_a_v6_next_hop_is_reported_as_held_back() {
    let speaker = SpeakerConfig::new(65001, Ipv4Addr::new(1, 1, 1, 1));
    let peer = PeerConfig::new(B_ADDR, 65002);
    let a = Session::new(SessionConfig::new(&speaker, &peer));
    let mut pair = Pair::new(a, session(65002, [2, 2, 2, 2], 65001, true));
    pair.a.set_routes(
        routes(&[("10.0.0.1/32", None), ("2001:db8::1/128", None)]),
        pair.now,
    );
    assert!(
        pair.a.held_back().is_empty(),
        "nothing is held back before the session is up"
    );
    pair.connect();
    assert_eq!(pair.a.state(), State::Established);
    let held = pair.a.held_back();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].0, "2001:db8::1/128".parse::<IpNetwork>().unwrap());
    assert!(held[0].1.contains("next_hop_v6"), "{}", held[0].1);
    assert_eq!(pair.a.announced_prefixes(), 1);
    assert!(established_pair().a.held_back().is_empty());
}
