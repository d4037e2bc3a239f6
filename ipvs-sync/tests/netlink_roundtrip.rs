//! Properties: any valid ServiceSpec / DestinationSpec / Stats survives encode -> bytes ->
//! decode unchanged, and the reply decoders never panic on arbitrary or mutated bytes.
// Helpers outside #[test] fns unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use lb_config::{Protocol, RealServerKey, ServiceKey};
use lb_ipvs_sync::netlink::{
    FLAGS_ACKED, IpvsAttribute, IpvsCmd, IpvsMessage, compare_destination, compare_service,
    decode_reply_for_fuzzing, dest_attributes, destination_from_message, encode_request,
    legacy_stats_attributes, normalize_destination, parse_messages, service_attributes,
    service_from_message, stats64_attributes,
};
use lb_ipvs_sync::{
    DestinationSpec, Family, IP_VS_SVC_F_HASHED, KernelForward, ServiceId, ServiceSpec, Stats,
    TunnelSpec,
};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(IpAddr::V4),
        any::<std::net::Ipv6Addr>().prop_map(IpAddr::V6),
    ]
}

fn service_id() -> impl Strategy<Value = ServiceId> {
    let protocol = prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ];
    let family = prop_oneof![Just(Family::Inet), Just(Family::Inet6)];
    prop_oneof![
        (addr(), protocol, any::<u16>()).prop_map(|(vip, protocol, port)| ServiceId::Inet(
            ServiceKey {
                vip,
                protocol,
                port
            }
        )),
        (family, 1..=u32::MAX).prop_map(|(family, mark)| ServiceId::Fwmark { family, mark }),
    ]
}

fn family_of(id: &ServiceId) -> Family {
    match id {
        ServiceId::Inet(k) => Family::of(&k.vip),
        ServiceId::Fwmark { family, .. } => *family,
    }
}

fn service_spec() -> impl Strategy<Value = ServiceSpec> {
    (
        service_id(),
        "[a-z0-9_]{1,15}",
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        proptest::option::of("[a-z]{1,15}"),
    )
        .prop_map(|(id, scheduler, flags, timeout, prefix, pe_name)| {
            let max = if family_of(&id) == Family::Inet {
                33
            } else {
                129
            };
            ServiceSpec {
                id,
                scheduler: scheduler.into(),
                flags: flags & !IP_VS_SVC_F_HASHED,
                timeout,
                netmask_prefix: (u16::from(prefix) % max) as u8,
                pe_name,
            }
        })
}

fn forward() -> impl Strategy<Value = KernelForward> {
    prop_oneof![
        Just(KernelForward::Masq),
        Just(KernelForward::Local),
        Just(KernelForward::Tunnel),
        Just(KernelForward::Route),
        Just(KernelForward::Bypass),
        (5u32..=7).prop_map(KernelForward::Other),
    ]
}

fn tunnel() -> impl Strategy<Value = Option<TunnelSpec>> {
    proptest::option::of((0u8..=2, any::<u16>(), any::<u16>()).prop_map(
        |(tun_type, port, flags)| {
            TunnelSpec {
                tun_type,
                port,
                // IPIP carries no flags on the wire.
                flags: if tun_type == 0 { 0 } else { flags },
            }
        },
    ))
}

fn dest_spec() -> impl Strategy<Value = DestinationSpec> {
    (
        addr(),
        any::<u16>(),
        forward(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        tunnel(),
    )
        .prop_map(
            |(addr, port, forward, weight, upper, lower, tunnel)| DestinationSpec {
                key: RealServerKey { addr, port },
                forward,
                weight,
                upper_threshold: upper,
                lower_threshold: lower,
                tunnel: if forward == KernelForward::Tunnel {
                    tunnel
                } else {
                    None
                },
            },
        )
}

fn stats() -> impl Strategy<Value = Stats> {
    proptest::array::uniform10(any::<u64>()).prop_map(|v| Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
        cps: v[5],
        inpps: v[6],
        outpps: v[7],
        inbps: v[8],
        outbps: v[9],
    })
}

/// Encodes a message to bytes and parses it back.
fn through_bytes(message: &IpvsMessage) -> IpvsMessage {
    let bytes = encode_request(message, 0x1c, 7, FLAGS_ACKED);
    let mut messages = parse_messages(&bytes).unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

proptest! {
    #[test]
    fn service_spec_round_trips(spec in service_spec()) {
        let decoded = through_bytes(&IpvsMessage::new_service(&spec).unwrap());
        let (back, stats) = service_from_message(&decoded).unwrap();
        prop_assert_eq!(&back, &spec);
        prop_assert_eq!(stats, Stats::default());
        prop_assert!(compare_service(&spec, &back).is_ok());
    }

    #[test]
    fn dest_spec_round_trips(spec in dest_spec(), service_family in prop_oneof![Just(Family::Inet), Just(Family::Inet6)]) {
        let message = IpvsMessage::new(IpvsCmd::NewDest, vec![IpvsAttribute::Dest(dest_attributes(&spec).unwrap())]);
        let back = destination_from_message(&through_bytes(&message), service_family).unwrap();
        prop_assert_eq!(&back.spec, &spec);
        prop_assert_eq!(back.stats, Stats::default());
        let id = ServiceId::Fwmark { family: service_family, mark: 1 };
        prop_assert!(compare_destination(&id, &spec, &back.spec).is_ok());
    }

    #[test]
    fn normalization_is_idempotent(spec in dest_spec()) {
        let once = normalize_destination(&spec);
        prop_assert_eq!(normalize_destination(&once), once);
    }

    #[test]
    fn stats64_round_trip(spec in service_spec(), stats in stats()) {
        let mut attrs = service_attributes(&spec).unwrap();
        attrs.push(lb_ipvs_sync::netlink::ServiceAttribute::Stats64(stats64_attributes(&stats)));
        let message = IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttribute::Service(attrs)]);
        let (_, back) = service_from_message(&through_bytes(&message)).unwrap();
        prop_assert_eq!(back, stats);
    }

    #[test]
    fn legacy_stats_round_trip_within_u32(spec in service_spec(), stats in stats()) {
        // Legacy STATS carries counts and rates as u32: values that fit survive exactly.
        let fit = |v: u64| v & u64::from(u32::MAX);
        let stats = Stats {
            conns: fit(stats.conns), inpkts: fit(stats.inpkts), outpkts: fit(stats.outpkts),
            cps: fit(stats.cps), inpps: fit(stats.inpps), outpps: fit(stats.outpps),
            inbps: fit(stats.inbps), outbps: fit(stats.outbps), ..stats
        };
        let mut attrs = service_attributes(&spec).unwrap();
        attrs.push(lb_ipvs_sync::netlink::ServiceAttribute::Stats(legacy_stats_attributes(&stats)));
        let message = IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttribute::Service(attrs)]);
        let (_, back) = service_from_message(&through_bytes(&message)).unwrap();
        prop_assert_eq!(back, stats);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_reply_for_fuzzing(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_replies(
        spec in service_spec(),
        d in dest_spec(),
        stats in stats(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut attrs = service_attributes(&spec).unwrap();
        attrs.push(lb_ipvs_sync::netlink::ServiceAttribute::Stats64(stats64_attributes(&stats)));
        let service = IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttribute::Service(attrs)]);
        let dest = IpvsMessage::new(IpvsCmd::NewDest, vec![IpvsAttribute::Dest(dest_attributes(&d).unwrap())]);
        let mut bytes = encode_request(&service, 0x1c, 1, 2);
        bytes.extend(encode_request(&dest, 0x1c, 1, 2));
        for (index, value) in edits {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        let _ = decode_reply_for_fuzzing(&bytes[..keep]);
        let _ = decode_reply_for_fuzzing(&bytes);
    }
}

/// The request bytes as netlink-packet-core and -generic serialize them: the reference the
/// hand-written framing of `encode_request` must equal.
fn crate_encoding(message: &IpvsMessage, family_id: u16, sequence: u32, flags: u16) -> Vec<u8> {
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage};
    use netlink_packet_generic::GenlMessage;
    let mut genl = GenlMessage::from_payload(message.clone());
    genl.set_resolved_family_id(family_id);
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = sequence;
    let mut packet = NetlinkMessage::new(header, genl.into());
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    bytes
}

proptest! {
    /// Fails if the hand-written framing differs from the crates' by one byte for any request
    /// the client sends (services, destinations, their edits, deletions and reads, sync
    /// daemons, timeouts), or for nested attributes inside nested ones (stats in a service).
    #[test]
    fn requests_are_the_bytes_the_netlink_crates_serialize(
        spec in service_spec(),
        d in dest_spec(),
        stats in stats(),
        family_id in 0x10u16..0x400,
        sequence in any::<u32>(),
        flags in any::<u16>(),
        interface in "[a-z0-9]{1,15}",
        sync_id in 0u32..256,
    ) {
        let mut with_stats = service_attributes(&spec).unwrap();
        with_stats.push(lb_ipvs_sync::netlink::ServiceAttribute::Stats64(stats64_attributes(&stats)));
        with_stats.push(lb_ipvs_sync::netlink::ServiceAttribute::Stats(legacy_stats_attributes(&stats)));
        let daemon = lb_ipvs_sync::sync_daemon::SyncDaemon {
            role: lb_config::SyncRole::Master,
            interface,
            sync_id,
            max_message_bytes: Some(1400),
            group: Some("224.0.0.81".parse().unwrap()),
            port: Some(8848),
            ttl: Some(2),
        };
        let messages = [
            IpvsMessage::new_service(&spec).unwrap(),
            IpvsMessage::set_service(&spec).unwrap(),
            IpvsMessage::del_service(&spec.id),
            IpvsMessage::get_service(&spec.id),
            IpvsMessage::service_dump(),
            IpvsMessage::new_dest(&spec.id, &d).unwrap(),
            IpvsMessage::set_dest(&spec.id, &d).unwrap(),
            IpvsMessage::del_dest(&spec.id, &d.key),
            IpvsMessage::dest_dump(&spec.id),
            IpvsMessage::new_daemon(&daemon),
            IpvsMessage::del_daemon(lb_config::SyncRole::Backup),
            IpvsMessage::get_info(),
            IpvsMessage::set_config(&lb_ipvs_sync::netlink::Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }),
            IpvsMessage::new(IpvsCmd::NewService, vec![IpvsAttribute::Service(with_stats)]),
        ];
        for message in &messages {
            prop_assert_eq!(
                encode_request(message, family_id, sequence, flags),
                crate_encoding(message, family_id, sequence, flags),
                "{:?}", message.cmd
            );
        }
    }
}
