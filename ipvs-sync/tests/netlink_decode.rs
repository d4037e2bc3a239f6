//! Decode fixtures: hand-built replies shaped like the kernel's (nested without NLA_F_NESTED,
//! 16-byte IPv4 ADDR, STATS64 with PAD attributes, legacy STATS only, missing ADDR_FAMILY,
//! HASHED set in FLAGS) decode to the expected model; malformed replies are `Decode` errors.
// Helpers outside #[test] fns unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_endian = "little")]

#[path = "fixtures/netlink/wire.rs"]
mod wire;

use lb_config::{Protocol, RealServerKey, ServiceKey};
use lb_ipvs_sync::netlink::{
    info_from_message, parse_dest_reply, parse_messages, parse_service_reply, timeouts_from_message,
};
use lb_ipvs_sync::{
    DestinationSpec, Family, IpvsError, KernelForward, ObservedDestination, ServiceId, ServiceSpec,
    Stats, TunnelSpec,
};
use wire::*;

const SEQ: u32 = 42;

/// Stats with distinct values per counter, all above u32 where it matters for STATS64.
fn big_stats() -> Stats {
    Stats {
        conns: 5_000_000_001,
        inpkts: 2,
        outpkts: 3,
        inbytes: 6_000_000_004,
        outbytes: 5,
        cps: 6,
        inpps: 7,
        outpps: 8,
        inbps: 9,
        outbps: 10,
    }
}

/// Kernel-style STATS64: every counter u64, each preceded by a PAD attribute (what
/// `nla_put_u64_64bit` emits when the payload would be misaligned).
fn stats64_with_pads(s: &Stats) -> Vec<u8> {
    let values = [
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps,
        s.outbps,
    ];
    let children: Vec<Vec<u8>> = values
        .iter()
        .enumerate()
        .flat_map(|(i, v)| [nla(11, &[]), u64_attr(i as u16 + 1, *v)])
        .collect();
    nest(12, &children)
}

/// Kernel-style legacy STATS: counts and rates u32, bytes u64 (PAD before them).
fn legacy_stats(kind: u16, s: &Stats) -> Vec<u8> {
    nest(
        kind,
        &[
            u32_attr(1, s.conns as u32),
            u32_attr(2, s.inpkts as u32),
            u32_attr(3, s.outpkts as u32),
            nla(11, &[]),
            u64_attr(4, s.inbytes),
            nla(11, &[]),
            u64_attr(5, s.outbytes),
            u32_attr(6, s.cps as u32),
            u32_attr(7, s.inpps as u32),
            u32_attr(8, s.outpps as u32),
            u32_attr(9, s.inbps as u32),
            u32_attr(10, s.outbps as u32),
        ],
    )
}

/// Service attributes exactly as `ip_vs_genl_fill_service` writes them for TCP 10.0.0.1:80.
fn kernel_service_tcp(flags: u32, netmask: [u8; 4], with_stats64: bool) -> Vec<u8> {
    let mut flags_payload = flags.to_le_bytes().to_vec();
    flags_payload.extend_from_slice(&[0xff; 4]);
    let mut attrs = vec![
        u16_attr(1, 2),
        u16_attr(2, 6),
        nla(3, &v4_addr16([10, 0, 0, 1])),
        be16_attr(4, 80),
        nla(6, b"wlc\0"),
        nla(7, &flags_payload),
        u32_attr(8, 360),
        nla(9, &netmask),
        legacy_stats(10, &big_stats()),
    ];
    if with_stats64 {
        attrs.push(stats64_with_pads(&big_stats()));
    }
    nest(1, &attrs) // no NLA_F_NESTED, like nla_nest_start_noflag
}

fn tcp_10_0_0_1_80() -> ServiceId {
    ServiceId::Inet(ServiceKey {
        vip: "10.0.0.1".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    })
}

#[test]
fn service_dump_with_stats64_pads_and_hashed_flag() {
    let reply = [
        ipvs(
            MULTI,
            SEQ,
            1,
            &[kernel_service_tcp(
                0x1 | 0x2,
                [0xff, 0xff, 0xff, 0x00],
                true,
            )],
        ),
        nlmsg_done(SEQ, 0),
    ]
    .concat();
    let services = parse_service_reply(&reply).unwrap();
    assert_eq!(
        services,
        vec![(
            ServiceSpec {
                id: tcp_10_0_0_1_80(),
                scheduler: "wlc".into(),
                flags: 0x1, // HASHED masked out
                timeout: 360,
                netmask_prefix: 24,
                pe_name: None,
            },
            big_stats(), // STATS64 preferred: no u32 truncation
        )]
    );
}

#[test]
fn legacy_stats_only_is_the_fallback() {
    let reply = ipvs(MULTI, SEQ, 1, &[kernel_service_tcp(0x2, [0xff; 4], false)]);
    let (spec, stats) = parse_service_reply(&reply).unwrap().remove(0);
    assert_eq!(spec.netmask_prefix, 32);
    assert_eq!(spec.flags, 0);
    let s = big_stats();
    assert_eq!(stats.conns, u64::from(s.conns as u32)); // the kernel truncated it
    assert_eq!(stats.inbytes, s.inbytes); // bytes are u64 even in legacy STATS
    assert_eq!(stats.outbps, 10);
}

#[test]
fn fwmark_ipv6_service_with_persistence_engine() {
    let mut flags_payload = 0x2u32.to_le_bytes().to_vec();
    flags_payload.extend_from_slice(&[0xff; 4]);
    let svc = nest(
        1,
        &[
            u16_attr(1, 10),
            u32_attr(5, 9),
            nla(6, b"sh\0"),
            nla(11, b"sip\0"),
            nla(7, &flags_payload),
            u32_attr(8, 0),
            u32_attr(9, 128),
        ],
    );
    let reply = ipvs(MULTI, SEQ, 1, &[svc]);
    let (spec, stats) = parse_service_reply(&reply).unwrap().remove(0);
    assert_eq!(
        spec,
        ServiceSpec {
            id: ServiceId::Fwmark {
                family: Family::Inet6,
                mark: 9
            },
            scheduler: "sh".into(),
            flags: 0,
            timeout: 0,
            netmask_prefix: 128,
            pe_name: Some("sip".into()),
        }
    );
    assert_eq!(stats, Stats::default());
}

/// Destination attributes as `ip_vs_genl_fill_dest` writes them.
fn kernel_dest(
    addr: Vec<u8>,
    fwd: u32,
    weight: u32,
    tun: (u8, u16, u16),
    af: Option<u16>,
) -> Vec<u8> {
    let mut attrs = vec![
        nla(1, &addr),
        be16_attr(2, 8080),
        u32_attr(3, fwd),
        u32_attr(4, weight),
        nla(13, &[tun.0]),
        be16_attr(14, tun.1),
        u16_attr(15, tun.2),
        u32_attr(5, 100),
        u32_attr(6, 10),
        u32_attr(7, 5),
        u32_attr(8, 6),
        u32_attr(9, 7),
    ];
    if let Some(af) = af {
        attrs.push(u16_attr(11, af));
    }
    attrs.push(legacy_stats(10, &big_stats()));
    attrs.push(stats64_with_pads(&big_stats()));
    nest(2, &attrs)
}

#[test]
fn tunnel_dest_with_gue_settings_and_big_weight() {
    let reply = [
        ipvs(
            MULTI,
            SEQ,
            5,
            &[kernel_dest(
                v4_addr16([10, 0, 1, 11]),
                2,
                70_000,
                (1, 6080, 1),
                Some(2),
            )],
        ),
        nlmsg_done(SEQ, 0),
    ]
    .concat();
    let dests = parse_dest_reply(&reply, Family::Inet).unwrap();
    assert_eq!(
        dests,
        vec![ObservedDestination {
            spec: DestinationSpec {
                key: RealServerKey {
                    addr: "10.0.1.11".parse().unwrap(),
                    port: 8080
                },
                forward: KernelForward::Tunnel,
                weight: 70_000,
                upper_threshold: 100,
                lower_threshold: 10,
                tunnel: Some(TunnelSpec {
                    tun_type: 1,
                    port: 6080,
                    flags: 1
                }),
            },
            active_conns: 5,
            inactive_conns: 6,
            persist_conns: 7,
            stats: big_stats(),
        }]
    );
}

#[test]
fn non_tunnel_dest_ignores_the_kernels_zero_tunnel_attributes_and_masks_fwd() {
    // FWD_METHOD with bits above the mask (as if another flag leaked in) still reads as Route.
    let reply = ipvs(
        MULTI,
        SEQ,
        5,
        &[kernel_dest(
            v4_addr16([10, 0, 1, 12]),
            0x100 | 3,
            1,
            (0, 0, 0),
            Some(2),
        )],
    );
    let d = parse_dest_reply(&reply, Family::Inet).unwrap().remove(0);
    assert_eq!(d.spec.forward, KernelForward::Route);
    assert_eq!(d.spec.tunnel, None);
}

#[test]
fn missing_addr_family_is_inferred_from_the_service() {
    let v4 = ipvs(
        MULTI,
        SEQ,
        5,
        &[kernel_dest(
            v4_addr16([10, 0, 1, 13]),
            0,
            1,
            (0, 0, 0),
            None,
        )],
    );
    let d = parse_dest_reply(&v4, Family::Inet).unwrap().remove(0);
    assert_eq!(
        d.spec.key.addr,
        "10.0.1.13".parse::<std::net::IpAddr>().unwrap()
    );

    let v6_addr = unhex("20010db8 00000000 00000000 00000011");
    let v6 = ipvs(
        MULTI,
        SEQ,
        5,
        &[kernel_dest(v6_addr, 0, 1, (0, 0, 0), None)],
    );
    let d = parse_dest_reply(&v6, Family::Inet6).unwrap().remove(0);
    assert_eq!(
        d.spec.key.addr,
        "2001:db8::11".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn explicit_addr_family_wins_over_the_service_family() {
    // A v4 destination behind a v6 service (mixed family, tunnel only).
    let reply = ipvs(
        MULTI,
        SEQ,
        5,
        &[kernel_dest(
            v4_addr16([10, 0, 1, 14]),
            2,
            1,
            (0, 0, 0),
            Some(2),
        )],
    );
    let d = parse_dest_reply(&reply, Family::Inet6).unwrap().remove(0);
    assert_eq!(
        d.spec.key.addr,
        "10.0.1.14".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        d.spec.tunnel,
        Some(TunnelSpec {
            tun_type: 0,
            port: 0,
            flags: 0
        })
    );
}

#[test]
fn info_and_config_replies() {
    let info = ipvs(0, SEQ, 14, &[u32_attr(1, 0x010201), u32_attr(2, 4096)]);
    let messages = parse_messages(&[info, nlmsg_error(SEQ, 0)].concat()).unwrap();
    let info = info_from_message(&messages[0]).unwrap();
    assert_eq!(info.version, 0x010201);
    assert_eq!(info.version_text(), "1.2.1");
    assert_eq!(info.conn_table_size, 4096);

    let config = ipvs(
        0,
        SEQ,
        12,
        &[u32_attr(4, 900), u32_attr(5, 120), u32_attr(6, 300)],
    );
    let t = timeouts_from_message(&parse_messages(&config).unwrap()[0]);
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 120, 300));
}

fn assert_decode_error<T: std::fmt::Debug>(result: Result<T, IpvsError>) {
    match result {
        Err(IpvsError::Decode { .. }) => {}
        other => panic!("expected a Decode error, got {other:?}"),
    }
}

#[test]
fn malformed_replies_are_decode_errors() {
    let good = ipvs(MULTI, SEQ, 1, &[kernel_service_tcp(0, [0xff; 4], true)]);
    // Truncated anywhere: the length fields no longer fit.
    for cut in [1, 15, 17, 30, good.len() - 1] {
        assert_decode_error(parse_service_reply(&good[..cut]));
    }
    // Missing AF.
    let no_af = ipvs(
        MULTI,
        SEQ,
        1,
        &[nest(
            1,
            &[
                u16_attr(2, 6),
                nla(3, &v4_addr16([1, 2, 3, 4])),
                be16_attr(4, 1),
            ],
        )],
    );
    assert_decode_error(parse_service_reply(&no_af));
    // Unknown AF.
    let bad_af = ipvs(MULTI, SEQ, 1, &[nest(1, &[u16_attr(1, 7), u32_attr(5, 1)])]);
    assert_decode_error(parse_service_reply(&bad_af));
    // A u16 attribute with 3 bytes.
    let bad_len = ipvs(MULTI, SEQ, 1, &[nest(1, &[nla(1, &[2, 0, 0])])]);
    assert_decode_error(parse_service_reply(&bad_len));
    // An IPv6 destination address of 4 bytes.
    let short_v6 = ipvs(
        MULTI,
        SEQ,
        5,
        &[kernel_dest(vec![1, 2, 3, 4], 0, 1, (0, 0, 0), Some(10))],
    );
    assert_decode_error(parse_dest_reply(&short_v6, Family::Inet6));
    // A message without the SERVICE attribute.
    assert_decode_error(parse_service_reply(&ipvs(MULTI, SEQ, 1, &[])));
}

#[test]
fn kernel_errors_keep_their_errno() {
    match parse_service_reply(&nlmsg_error(SEQ, -1)) {
        Err(e) => assert_eq!(e.errno(), Some(1)),
        Ok(v) => panic!("expected EPERM, got {v:?}"),
    }
}
