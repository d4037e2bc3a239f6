//! Codec tests: one per NOTIFICATION path of the decoder, byte fixtures, and property tests
//! of UPDATE/OPEN round trips.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use proptest::prelude::*;

use super::*;

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF; 16];
    let len = u16::try_from(HEADER_LEN + body.len()).unwrap();
    out.extend_from_slice(&len.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn notification_of(bytes: &[u8]) -> Notification {
    let err = decode(bytes, true).expect_err("must be rejected");
    Notification::from(&err)
}

fn code(bytes: &[u8]) -> (u8, u8) {
    let n = notification_of(bytes);
    (n.code, n.subcode)
}

/// An UPDATE body with the given attribute bytes and one IPv4 NLRI.
fn update_with_attrs(attrs: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[32, 10, 0, 0, 1]);
    frame(2, &body)
}

const ORIGIN: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xFD, 0xE8];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];

fn attrs(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// --- header errors (1/x) ---

#[test]
fn header_bad_marker_is_1_1() {
    let mut f = frame(4, &[]);
    f[3] = 0;
    assert_eq!(code(&f), (1, 1));
}

#[test]
fn header_bad_lengths_are_1_2_with_the_length() {
    let mut short = frame(4, &[]);
    short[17] = 18;
    let n = notification_of(&short);
    assert_eq!((n.code, n.subcode, n.data), (1, 2, vec![0, 18]));
    let mut long = frame(4, &[]);
    long[16..18].copy_from_slice(&4097u16.to_be_bytes());
    assert_eq!(code(&long), (1, 2));
    // KEEPALIVE with a body, OPEN/UPDATE/NOTIFICATION below their minimum.
    assert_eq!(code(&frame(4, &[0])), (1, 2));
    assert_eq!(code(&frame(1, &[4, 0, 1])), (1, 2));
    assert_eq!(code(&frame(2, &[0, 0, 0])), (1, 2));
    assert_eq!(code(&frame(3, &[6])), (1, 2));
}

#[test]
fn header_bad_type_is_1_3_with_the_type() {
    let n = notification_of(&frame(9, &[]));
    assert_eq!((n.code, n.subcode, n.data), (1, 3, vec![9]));
}

#[test]
fn frame_length_waits_for_a_full_header() {
    assert_eq!(frame_length(&[0xFF; 18]), Ok(None));
    assert_eq!(frame_length(&frame(4, &[])), Ok(Some(19)));
}

// --- OPEN errors (2/x) ---

fn open_body(version: u8, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut body = vec![version, 0xFD, 0xE8];
    body.extend_from_slice(&hold.to_be_bytes());
    body.extend_from_slice(&id);
    body.push(u8::try_from(params.len()).unwrap());
    body.extend_from_slice(params);
    body
}

#[test]
fn open_bad_version_is_2_1_with_our_version() {
    let n = notification_of(&frame(1, &open_body(3, 90, [1, 1, 1, 1], &[])));
    assert_eq!((n.code, n.subcode, n.data), (2, 1, vec![0, 4]));
}

#[test]
fn open_zero_identifier_is_2_3() {
    assert_eq!(code(&frame(1, &open_body(4, 90, [0; 4], &[]))), (2, 3));
}

#[test]
fn open_unknown_optional_parameter_is_2_4() {
    let params = [9, 2, 0, 0];
    assert_eq!(code(&frame(1, &open_body(4, 90, [1; 4], &params))), (2, 4));
}

#[test]
fn open_hold_time_1_or_2_is_2_6() {
    assert_eq!(code(&frame(1, &open_body(4, 1, [1; 4], &[]))), (2, 6));
    assert_eq!(code(&frame(1, &open_body(4, 2, [1; 4], &[]))), (2, 6));
    assert!(decode(&frame(1, &open_body(4, 0, [1; 4], &[])), true).is_ok());
    assert!(decode(&frame(1, &open_body(4, 3, [1; 4], &[])), true).is_ok());
}

#[test]
fn open_inconsistent_parameter_lengths_are_2_0() {
    let mut body = open_body(4, 90, [1; 4], &[2, 6, 65, 4, 0, 0]);
    body[9] = 5; // opt param length disagrees with the message
    assert_eq!(code(&frame(1, &body)), (2, 0));
    // Capability overruns its parameter.
    assert_eq!(
        code(&frame(1, &open_body(4, 90, [1; 4], &[2, 3, 65, 4, 0]))),
        (2, 0)
    );
}

#[test]
fn open_bad_peer_as_and_missing_families_come_from_negotiation() {
    // 2/2 and 2/7 need our configuration: see fsm tests. The mapping itself:
    let e = OpenError::BadPeerAs {
        received: 1,
        expected: 2,
    };
    assert_eq!(Notification::from(&e).subcode, 2);
    let e = OpenError::UnsupportedCapability { data: vec![1] };
    let n = Notification::from(&e);
    assert_eq!((n.code, n.subcode, n.data), (2, 7, vec![1]));
}

// --- UPDATE errors (3/x) ---

#[test]
fn update_valid_fixture_decodes() {
    let bytes = update_with_attrs(&attrs(&[ORIGIN, AS_PATH, NEXT_HOP]));
    let Message::Update(update) = decode(&bytes, true).unwrap() else {
        panic!("not an UPDATE")
    };
    assert_eq!(
        update.nlri,
        vec!["10.0.0.1/32".parse::<IpNetwork>().unwrap()]
    );
    assert_eq!(
        update.attributes[2],
        PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1))
    );
}

#[test]
fn update_length_overruns_are_3_1() {
    // Withdrawn length too large.
    assert_eq!(code(&frame(2, &[0, 9, 0, 0])), (3, 1));
    // Attribute length too large.
    assert_eq!(code(&frame(2, &[0, 0, 0, 9])), (3, 1));
    // An attribute overrunning the list.
    assert_eq!(code(&update_with_attrs(&[0x40, 1, 5, 0])), (3, 1));
}

fn decoded_update(bytes: &[u8]) -> Update {
    match decode(bytes, true) {
        Ok(Message::Update(update)) => update,
        other => panic!("expected an accepted UPDATE, got {other:?}"),
    }
}

/// RFC 7606 §3 (g): a repeated non-MP attribute keeps the first occurrence, drops the rest
/// unparsed, and the UPDATE is accepted (no NOTIFICATION). Fails if the decoder refuses
/// repeats (the RFC 4271 rule, 3/1) or keeps the last occurrence instead of the first.
fn update_error_of(bytes: &[u8]) -> UpdateError {
    match decode(bytes, true) {
        Err(DecodeError::Update(err)) => err,
        other => panic!("expected an UPDATE error, got {other:?}"),
    }
}

/// RFC 7606 §4: an attribute running past the Total Path Attribute Length, or a header cut
/// short, is told apart from the length-field errors (the session treats it as withdraw)
/// and names the attribute; on the wire it is still 3/1. Fails if it is folded back into
/// MalformedAttributeList.
#[test]
fn update_attribute_overrun_is_its_own_error_naming_the_attribute() {
    let err = update_error_of(&update_with_attrs(&attrs(&[ORIGIN, &[0x40, 2, 9, 2, 1]])));
    assert!(
        matches!(
            err,
            UpdateError::AttributeListOverrun {
                type_code: Some(2),
                ..
            }
        ),
        "{err:?}"
    );
    // One octet left: not even a type code.
    let err = update_error_of(&update_with_attrs(&attrs(&[ORIGIN, &[0x40]])));
    assert!(
        matches!(
            err,
            UpdateError::AttributeListOverrun {
                type_code: None,
                ..
            }
        ),
        "{err:?}"
    );
    // Extended length flag with one length octet.
    let err = update_error_of(&update_with_attrs(&attrs(&[ORIGIN, &[0x50, 8, 0]])));
    assert!(matches!(
        err,
        UpdateError::AttributeListOverrun {
            type_code: Some(8),
            ..
        }
    ));
    // The length fields themselves overrunning the message stay MalformedAttributeList.
    assert!(matches!(
        update_error_of(&frame(2, &[0, 0, 0, 9])),
        UpdateError::MalformedAttributeList { .. }
    ));
}

/// The NLRI field is parsed before the attributes: with both broken, the NLRI error (3/10,
/// a session reset) is the one reported, not the attribute one (treat-as-withdraw).
#[test]
fn update_bad_nlri_outranks_attribute_errors() {
    let bad_origin = [0x40, 1, 1, 9];
    let a = attrs(&[&bad_origin, AS_PATH, NEXT_HOP]);
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(a.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&a);
    body.extend_from_slice(&[33, 10, 0, 0, 1, 0]);
    assert_eq!(code(&frame(2, &body)), (3, 10));
}

#[test]
fn update_duplicate_origin_keeps_the_first_and_is_accepted() {
    let incomplete = [0x40, 1, 1, 2];
    let update = decoded_update(&update_with_attrs(&attrs(&[
        ORIGIN,
        AS_PATH,
        &incomplete,
        NEXT_HOP,
    ])));
    assert_eq!(update.attributes.len(), 3);
    assert_eq!(update.attributes[0], PathAttribute::Origin(Origin::Igp));
    assert_eq!(
        update.discarded,
        vec![DiscardedAttribute::Duplicate { type_code: 1 }]
    );
    assert_eq!(
        update.nlri,
        vec!["10.0.0.1/32".parse::<IpNetwork>().unwrap()]
    );
}

/// The repeat is discarded without being parsed: a second AS_PATH that is itself malformed
/// (bad segment type, which alone would be 3/11) does not make the UPDATE an error.
#[test]
fn update_duplicate_as_path_is_dropped_unparsed() {
    let bad_as_path = [0x40, 2, 4, 7, 1, 0xFD, 0xE8];
    let update = decoded_update(&update_with_attrs(&attrs(&[
        ORIGIN,
        AS_PATH,
        NEXT_HOP,
        &bad_as_path,
    ])));
    assert_eq!(
        update.attributes[1],
        PathAttribute::AsPath(vec![AsSegment {
            kind: SegmentKind::Sequence,
            asns: vec![65000],
        }])
    );
    assert_eq!(
        update.discarded,
        vec![DiscardedAttribute::Duplicate { type_code: 2 }]
    );
}

/// "Whether recognized or unrecognized": a repeated unknown optional attribute keeps the
/// first value; a repeated well-known type we do not know is dropped, not 3/2.
#[test]
fn update_duplicate_unknown_attributes_keep_the_first() {
    let first = [0xC0, 99, 1, 7];
    // Alone, a well-known (non-optional) type we do not know would be 3/2.
    let second = [0x40, 99, 2, 8, 8];
    let update = decoded_update(&update_with_attrs(&attrs(&[
        ORIGIN, AS_PATH, NEXT_HOP, &first, &second, &second,
    ])));
    assert_eq!(
        update.attributes[3],
        PathAttribute::Unknown {
            flags: 0xC0,
            type_code: 99,
            value: vec![7],
        }
    );
    assert_eq!(update.attributes.len(), 4);
    assert_eq!(update.discarded.len(), 2);
    // The re-encoded UPDATE carries the first occurrence only.
    let again = decoded_update(&encode(&Message::Update(update.clone()), true).unwrap());
    assert_eq!(again.attributes, update.attributes);
    assert!(again.discarded.is_empty());
}

/// RFC 7606 §7.6/§7.7 and RFC 6793 §6 ("attribute discard"): a malformed ATOMIC_AGGREGATE,
/// AGGREGATOR or AS4_PATH is dropped and the UPDATE accepted with the rest of its
/// attributes. Fails if those errors end the decode (the UPDATE would be ignored whole).
#[test]
fn update_malformed_aggregator_atomic_aggregate_as4_path_are_discarded() {
    let atomic_with_value = [0x40, 6, 1, 0];
    let short_aggregator = [0xC0, 7, 7, 0, 0, 0xFD, 0xE8, 192, 0, 2];
    let as4_bad_segment = [0xC0, 17, 6, 9, 1, 0, 0, 0, 1];
    let update = decoded_update(&update_with_attrs(&attrs(&[
        ORIGIN,
        AS_PATH,
        NEXT_HOP,
        &atomic_with_value,
        &short_aggregator,
        &as4_bad_segment,
    ])));
    assert_eq!(update.attributes.len(), 3);
    let dropped: Vec<u8> = update
        .discarded
        .iter()
        .map(|d| match d {
            DiscardedAttribute::Malformed(
                UpdateError::AttributeLength { type_code, .. }
                | UpdateError::OptionalAttribute { type_code, .. },
            ) => *type_code,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(dropped, [6, 7, 17]);
    // Discarded attributes still count as seen: a later valid AGGREGATOR is a repeat.
    let aggregator = [0xC0, 7, 8, 0, 0, 0xFD, 0xE8, 192, 0, 2, 9];
    let update = decoded_update(&update_with_attrs(&attrs(&[
        ORIGIN,
        AS_PATH,
        NEXT_HOP,
        &short_aggregator,
        &aggregator,
    ])));
    assert_eq!(update.attributes.len(), 3);
    assert_eq!(
        update.discarded[1],
        DiscardedAttribute::Duplicate { type_code: 7 }
    );
    // An UPDATE whose only attribute was discarded is not an End-of-RIB marker.
    let only_atomic = decoded_update(&frame(2, &[0, 0, 0, 4, 0x40, 6, 1, 0]));
    assert_eq!(only_atomic.discarded.len(), 1);
    assert_eq!(only_atomic.end_of_rib(), None);
    assert_eq!(
        decoded_update(&frame(2, &[0, 0, 0, 0])).end_of_rib(),
        Some((1, 1))
    );
    // A flags error on the same types is not covered: still 3/4.
    let well_known_aggregator = [0x40, 7, 8, 0, 0, 0xFD, 0xE8, 192, 0, 2, 9];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            &well_known_aggregator
        ]))),
        (3, 4)
    );
}

/// An IPv6 unicast MP_REACH_NLRI: next hop 2001:db8::1, NLRI 2001:db8::/64.
const MP_REACH: &[u8] = &[
    0x80, 14, 30, 0, 2, 1, 16, 0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 64,
    0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0,
];
/// An IPv6 unicast MP_UNREACH_NLRI withdrawing nothing.
const MP_UNREACH: &[u8] = &[0x80, 15, 3, 0, 2, 1];

/// RFC 7606 §3 (g): a repeated MP_REACH_NLRI or MP_UNREACH_NLRI stays a NOTIFICATION with
/// "Malformed Attribute List" (3/1). Fails if MP repeats are discarded like the others.
#[test]
fn update_duplicate_mp_attribute_is_3_1() {
    let once = attrs(&[ORIGIN, AS_PATH, NEXT_HOP, MP_REACH]);
    assert!(decode(&update_with_attrs(&once), true).is_ok());
    let twice = attrs(&[ORIGIN, AS_PATH, NEXT_HOP, MP_REACH, MP_REACH]);
    let n = notification_of(&update_with_attrs(&twice));
    assert_eq!((n.code, n.subcode), (3, 1));
    let twice = attrs(&[ORIGIN, AS_PATH, NEXT_HOP, MP_UNREACH, MP_UNREACH]);
    assert_eq!(code(&update_with_attrs(&twice)), (3, 1));
}

#[test]
fn update_unknown_well_known_is_3_2_with_the_attribute() {
    let unknown = [0x40, 99, 1, 7];
    let n = notification_of(&update_with_attrs(&attrs(&[
        ORIGIN, AS_PATH, NEXT_HOP, &unknown,
    ])));
    assert_eq!((n.code, n.subcode, n.data), (3, 2, unknown.to_vec()));
    // The same type as optional is accepted and kept.
    let optional = [0xC0, 99, 1, 7];
    assert!(
        decode(
            &update_with_attrs(&attrs(&[ORIGIN, AS_PATH, NEXT_HOP, &optional])),
            true
        )
        .is_ok()
    );
}

#[test]
fn update_missing_well_known_is_3_3_with_the_type() {
    let n = notification_of(&update_with_attrs(&attrs(&[ORIGIN, AS_PATH])));
    assert_eq!((n.code, n.subcode, n.data), (3, 3, vec![3]));
    let n = notification_of(&update_with_attrs(&attrs(&[AS_PATH, NEXT_HOP])));
    assert_eq!(n.data, vec![1]);
}

#[test]
fn update_flag_errors_are_3_4() {
    let optional_origin = [0xC0, 1, 1, 0];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            &optional_origin,
            AS_PATH,
            NEXT_HOP
        ]))),
        (3, 4)
    );
    let transitive_med = [0x40 | 0x80, 4, 4, 0, 0, 0, 1];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            &transitive_med
        ]))),
        (3, 4)
    );
}

#[test]
fn update_length_errors_are_3_5() {
    let long_origin = [0x40, 1, 2, 0, 0];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            &long_origin,
            AS_PATH,
            NEXT_HOP
        ]))),
        (3, 5)
    );
    let short_nh = [0x40, 3, 3, 1, 2, 3];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[ORIGIN, AS_PATH, &short_nh]))),
        (3, 5)
    );
    let bad_communities = [0xC0, 8, 3, 1, 2, 3];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            &bad_communities
        ]))),
        (3, 5)
    );
}

#[test]
fn update_invalid_origin_is_3_6() {
    let origin = [0x40, 1, 1, 3];
    let n = notification_of(&update_with_attrs(&attrs(&[&origin, AS_PATH, NEXT_HOP])));
    assert_eq!((n.code, n.subcode, n.data), (3, 6, origin.to_vec()));
}

#[test]
fn update_invalid_next_hop_is_3_8() {
    let zero = [0x40, 3, 4, 0, 0, 0, 0];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[ORIGIN, AS_PATH, &zero]))),
        (3, 8)
    );
    let multicast = [0x40, 3, 4, 224, 0, 0, 1];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[ORIGIN, AS_PATH, &multicast]))),
        (3, 8)
    );
}

#[test]
fn update_bad_mp_reach_is_3_9() {
    // IPv6 unicast with a 5-octet next hop.
    let mp = [0x80, 14, 9, 0, 2, 1, 5, 1, 2, 3, 4, 5];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            &mp[..12]
        ]))),
        (3, 9)
    );
}

#[test]
fn update_bad_nlri_is_3_10() {
    let mut body = vec![0, 0];
    let a = attrs(&[ORIGIN, AS_PATH, NEXT_HOP]);
    body.extend_from_slice(&u16::try_from(a.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&a);
    body.extend_from_slice(&[33, 10, 0, 0, 1, 0]);
    assert_eq!(code(&frame(2, &body)), (3, 10));
    // Truncated withdrawn prefix.
    assert_eq!(code(&frame(2, &[0, 2, 24, 10, 0, 0])), (3, 10));
}

#[test]
fn update_malformed_as_path_is_3_11() {
    let bad_segment_type = [0x40, 2, 4, 7, 1, 0xFD, 0xE8];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[
            ORIGIN,
            &bad_segment_type,
            NEXT_HOP
        ]))),
        (3, 11)
    );
    let truncated = [0x40, 2, 4, 2, 2, 0xFD, 0xE8];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[ORIGIN, &truncated, NEXT_HOP]))),
        (3, 11)
    );
    // A 2-octet path read as 4-octet does not fit either.
    let two_octet = [0x40, 2, 4, 2, 1, 0xFD, 0xE8];
    assert_eq!(
        code(&update_with_attrs(&attrs(&[ORIGIN, &two_octet, NEXT_HOP]))),
        (3, 11)
    );
    assert!(
        decode(
            &update_with_attrs(&attrs(&[ORIGIN, &two_octet, NEXT_HOP])),
            false
        )
        .is_ok()
    );
}

#[test]
fn route_refresh_with_wrong_length_is_7_1() {
    assert_eq!(code(&frame(5, &[0, 1, 0, 1, 0])), (7, 1));
    assert!(decode(&frame(5, &[0, 2, 0, 1]), true).is_ok());
}

#[test]
fn notification_round_trip_and_text() {
    let n = Notification::with_data(6, 2, vec![]);
    let bytes = encode(&Message::Notification(n.clone()), true).unwrap();
    assert_eq!(
        decode(&bytes, true).unwrap(),
        Message::Notification(n.clone())
    );
    assert_eq!(n.to_string(), "cease: administrative shutdown (6/2)");
    assert_eq!(
        Notification::hold_timer_expired().to_string(),
        "hold timer expired (4/0)"
    );
}

#[test]
fn keepalive_is_19_octets_of_marker_length_type() {
    let bytes = encode(&Message::Keepalive, true).unwrap();
    let mut expected = vec![0xFF; 16];
    expected.extend_from_slice(&[0, 19, 4]);
    assert_eq!(bytes, expected);
}

#[test]
fn open_encodes_as_trans_and_capabilities() {
    let open = Open {
        my_as: AS_TRANS,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: vec![
            Capability::Multiprotocol {
                afi: AFI_IPV6,
                safi: SAFI_UNICAST,
            },
            Capability::FourOctetAs { asn: 4_200_000_000 },
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    afi: AFI_IPV4,
                    safi: SAFI_UNICAST,
                    forwarding_preserved: true,
                }],
            }),
        ],
    };
    let bytes = encode(&Message::Open(open.clone()), true).unwrap();
    // my AS field = AS_TRANS (0x5BA0).
    assert_eq!(&bytes[20..22], &[0x5B, 0xA0]);
    // GR capability: code 64, len 6, R-bit + time 120, AFI 1 SAFI 1 F-bit.
    assert!(
        bytes
            .windows(8)
            .any(|w| w == [64, 6, 0x80, 120, 0, 1, 1, 0x80])
    );
    let Message::Open(back) = decode(&bytes, true).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(back, open);
    assert_eq!(back.asn(), 4_200_000_000);
    assert!(!back.supports_family(AFI_IPV4, SAFI_UNICAST));
}

// --- property tests ---

fn arb_v4() -> impl Strategy<Value = IpNetwork> {
    (any::<u32>(), 0u8..=32).prop_map(|(ip, len)| {
        super::canonical_prefix(&IpNetwork::new(IpAddr::V4(Ipv4Addr::from(ip)), len).unwrap())
    })
}

fn arb_v6() -> impl Strategy<Value = IpNetwork> {
    (any::<u128>(), 0u8..=128).prop_map(|(ip, len)| {
        super::canonical_prefix(
            &IpNetwork::new(IpAddr::V6(std::net::Ipv6Addr::from(ip)), len).unwrap(),
        )
    })
}

fn arb_update() -> impl Strategy<Value = Update> {
    (
        proptest::collection::vec(arb_v4(), 0..20),
        proptest::collection::vec(arb_v4(), 1..20),
        proptest::collection::vec(arb_v6(), 0..20),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u32>(), 0..5),
        proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 0..3),
        proptest::collection::vec(1u32..=u32::MAX, 1..4),
        1u32..=u32::MAX - 1,
    )
        .prop_map(|(withdrawn, nlri, v6, med, comms, large, path, hop)| {
            let mut attributes = vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(vec![AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: path,
                }]),
                PathAttribute::NextHop(Ipv4Addr::from(hop.clamp(0x0100_0000, 0xDFFF_FFFF))),
            ];
            if let Some(med) = med {
                attributes.push(PathAttribute::MultiExitDisc(med));
            }
            if !comms.is_empty() {
                attributes.push(PathAttribute::Communities(
                    comms.into_iter().map(Community).collect(),
                ));
            }
            if !v6.is_empty() {
                attributes.push(PathAttribute::MpReach(MpReach {
                    afi: AFI_IPV6,
                    safi: SAFI_UNICAST,
                    next_hops: vec!["2001:db8::1".parse().unwrap()],
                    nlri: v6,
                }));
            }
            if !large.is_empty() {
                attributes.push(PathAttribute::LargeCommunities(
                    large
                        .into_iter()
                        .map(|(global, local1, local2)| LargeCommunity {
                            global,
                            local1,
                            local2,
                        })
                        .collect(),
                ));
            }
            Update {
                withdrawn,
                attributes,
                nlri,
                discarded: Vec::new(),
            }
        })
}

proptest! {
    #[test]
    fn update_round_trips(update in arb_update()) {
        let bytes = encode(&Message::Update(update.clone()), true).unwrap();
        prop_assert_eq!(decode(&bytes, true).unwrap(), Message::Update(update));
    }

    #[test]
    fn decoder_never_panics_on_garbage(body in proptest::collection::vec(any::<u8>(), 0..200), kind in 0u8..7) {
        let f = frame(kind, &body);
        if let Err(err) = decode(&f, true) {
            let n = Notification::from(&err);
            prop_assert!((1..=7).contains(&n.code));
        }
        let _ = decode(&body, false);
    }
}
