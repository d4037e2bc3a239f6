//! Golden encode fixtures: every request kind the client sends, byte for byte.
//!
//! Expected bytes are written by hand with an independent TLV builder (`fixtures/netlink/wire.rs`)
//! and explicit payload literals; the NEW_SERVICE fixture is the worked example of the design
//! notes, kept as a commented hex file. Native-endian fields make these little-endian only.
// Helpers outside #[test] fns unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_endian = "little")]

#[path = "fixtures/netlink/wire.rs"]
mod wire;

use lb_config::{Protocol, RealServerKey};
use lb_ipvs_sync::netlink::{FLAGS_ACKED, FLAGS_DUMP, IpvsMessage, Timeouts, encode_request};
use lb_ipvs_sync::test_util::{self, rs, spec as service, svc as key};
use lb_ipvs_sync::{
    DestinationSpec, Family, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2,
    KernelForward, ServiceId, TunnelSpec,
};
use wire::*;

const SEQ: u32 = 1;

/// A destination `addr:port` with `forward` and `weight`.
fn dest(addr: &str, port: u16, forward: KernelForward, weight: u32) -> DestinationSpec {
    DestinationSpec {
        forward,
        ..test_util::dest(rs(addr, port), weight)
    }
}

fn encode(message: &IpvsMessage, flags: u16) -> Vec<u8> {
    encode_request(message, FAMILY, SEQ, flags)
}

fn assert_bytes(actual: &[u8], expected: &[u8]) {
    assert_eq!(hex(actual), hex(expected));
}

/// Identity attributes of TCP 10.0.0.1:80.
fn svc_10_0_0_1_tcp_80() -> Vec<Vec<u8>> {
    vec![
        u16_attr(1, 2),
        u16_attr(2, 6),
        nla(3, &v4_addr16([10, 0, 0, 1])),
        nla(4, &[0x00, 0x50]),
    ]
}

/// FLAGS payload {flags, mask 0xffffffff}.
fn flags(v: u32) -> Vec<u8> {
    let mut p = v.to_le_bytes().to_vec();
    p.extend_from_slice(&[0xff; 4]);
    nla(7, &p)
}

#[test]
fn new_service_matches_the_worked_example_byte_for_byte() {
    let expected = unhex(include_str!(
        "fixtures/netlink/new_service_tcp_10.0.0.1_80_rr.hex"
    ));
    assert_eq!(expected.len(), 104);
    let spec = service(key("10.0.0.1", Protocol::Tcp, 80), "rr");
    let actual = encode(&IpvsMessage::new_service(&spec).unwrap(), FLAGS_ACKED);
    assert_eq!(actual.len(), 104);
    assert_bytes(&actual, &expected);
}

#[test]
fn set_service_carries_the_full_service() {
    let spec = service(key("10.0.0.1", Protocol::Tcp, 80), "wlc");
    let mut attrs = svc_10_0_0_1_tcp_80();
    attrs.extend([
        nla(6, b"wlc\0"),
        flags(0),
        u32_attr(8, 0),
        nla(9, &[0xff, 0xff, 0xff, 0xff]),
    ]);
    let expected = ipvs(REQ_ACK, SEQ, 2, &[nest(1 | NESTED, &attrs)]);
    assert_bytes(
        &encode(&IpvsMessage::set_service(&spec).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn del_service_carries_only_the_identity() {
    let id = key("10.0.0.1", Protocol::Tcp, 80);
    let expected = ipvs(REQ_ACK, SEQ, 3, &[nest(1 | NESTED, &svc_10_0_0_1_tcp_80())]);
    assert_bytes(
        &encode(&IpvsMessage::del_service(&id), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn ipv6_udp_service_sends_a_prefix_length_netmask() {
    let mut spec = service(key("2001:db8::1", Protocol::Udp, 53), "rr");
    spec.netmask_prefix = 64;
    let addr = {
        let mut a = vec![0x20, 0x01, 0x0d, 0xb8];
        a.resize(15, 0);
        a.push(1);
        a
    };
    let expected = ipvs(
        REQ_ACK,
        SEQ,
        1,
        &[nest(
            1 | NESTED,
            &[
                u16_attr(1, 10),
                u16_attr(2, 17),
                nla(3, &addr),
                nla(4, &[0x00, 0x35]),
                nla(6, b"rr\0"),
                flags(0),
                u32_attr(8, 0),
                nla(9, &[64, 0, 0, 0]), // prefix length as native u32, not a mask
            ],
        )],
    );
    assert_bytes(
        &encode(&IpvsMessage::new_service(&spec).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn fwmark_service_sends_af_and_mark_without_address() {
    let spec = service(
        ServiceId::Fwmark {
            family: Family::Inet,
            mark: 7,
        },
        "wrr",
    );
    let expected = ipvs(
        REQ_ACK,
        SEQ,
        1,
        &[nest(
            1 | NESTED,
            &[
                u16_attr(1, 2),
                u32_attr(5, 7),
                nla(6, b"wrr\0"),
                flags(0),
                u32_attr(8, 0),
                nla(9, &[0xff; 4]),
            ],
        )],
    );
    assert_bytes(
        &encode(&IpvsMessage::new_service(&spec).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn mh_service_sends_scheduler_flags_with_full_mask() {
    let mut spec = service(key("10.0.0.1", Protocol::Tcp, 80), "mh");
    spec.flags = IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2;
    let mut attrs = svc_10_0_0_1_tcp_80();
    attrs.extend([
        nla(6, b"mh\0"),
        nla(7, &[0x18, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        u32_attr(8, 0),
        nla(9, &[0xff; 4]),
    ]);
    let expected = ipvs(REQ_ACK, SEQ, 1, &[nest(1 | NESTED, &attrs)]);
    assert_bytes(
        &encode(&IpvsMessage::new_service(&spec).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn persistent_service_sends_timeout_and_be32_netmask() {
    let mut spec = service(key("10.0.0.1", Protocol::Tcp, 80), "rr");
    spec.flags = IP_VS_SVC_F_PERSISTENT;
    spec.timeout = 300;
    spec.netmask_prefix = 24;
    let mut attrs = svc_10_0_0_1_tcp_80();
    attrs.extend([
        nla(6, b"rr\0"),
        flags(1),
        nla(8, &[0x2c, 0x01, 0, 0]),
        nla(9, &[0xff, 0xff, 0xff, 0x00]),
    ]);
    let expected = ipvs(REQ_ACK, SEQ, 1, &[nest(1 | NESTED, &attrs)]);
    assert_bytes(
        &encode(&IpvsMessage::new_service(&spec).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn service_encoding_refuses_what_the_wire_cannot_carry() {
    let mut spec = service(key("10.0.0.1", Protocol::Tcp, 80), "rr");
    spec.netmask_prefix = 33;
    assert!(IpvsMessage::new_service(&spec).is_err());
    spec.netmask_prefix = 32;
    spec.scheduler = "a-scheduler-name-too-long".into();
    assert!(IpvsMessage::new_service(&spec).is_err());
    spec.scheduler = "".into();
    assert!(IpvsMessage::new_service(&spec).is_err());
}

/// Full destination attributes: ADDR, PORT, FWD_METHOD, WEIGHT, U, L, ADDR_FAMILY.
fn dest_v4_attrs(octets: [u8; 4], port: u16, fwd: u32, weight: u32) -> Vec<Vec<u8>> {
    vec![
        nla(1, &v4_addr16(octets)),
        be16_attr(2, port),
        u32_attr(3, fwd),
        u32_attr(4, weight),
        u32_attr(5, 0),
        u32_attr(6, 0),
        u16_attr(11, 2),
    ]
}

fn dest_request(cmd: u8, dest_attrs: &[Vec<u8>]) -> Vec<u8> {
    ipvs(
        REQ_ACK,
        SEQ,
        cmd,
        &[
            nest(1 | NESTED, &svc_10_0_0_1_tcp_80()),
            nest(2 | NESTED, dest_attrs),
        ],
    )
}

#[test]
fn new_dest_masq() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let d = dest("10.0.1.11", 8080, KernelForward::Masq, 1);
    let expected = dest_request(5, &dest_v4_attrs([10, 0, 1, 11], 8080, 0, 1));
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn new_dest_route_with_thresholds() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let mut d = dest("10.0.1.12", 80, KernelForward::Route, 70000);
    d.upper_threshold = 1000;
    d.lower_threshold = 10;
    let expected = dest_request(
        5,
        &[
            nla(1, &v4_addr16([10, 0, 1, 12])),
            nla(2, &[0x00, 0x50]),
            nla(3, &[3, 0, 0, 0]),
            nla(4, &[0x70, 0x11, 0x01, 0x00]), // 70000: a weight above u16 survives
            nla(5, &[0xe8, 0x03, 0, 0]),
            nla(6, &[10, 0, 0, 0]),
            nla(11, &[2, 0]),
        ],
    );
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn new_dest_tunnel_ipip_sends_type_and_port_but_no_flags() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let mut d = dest("10.0.1.13", 80, KernelForward::Tunnel, 2);
    d.tunnel = Some(TunnelSpec {
        tun_type: 0,
        port: 0,
        flags: 0,
    });
    let mut attrs = dest_v4_attrs([10, 0, 1, 13], 80, 2, 2);
    attrs.extend([nla(13, &[0]), nla(14, &[0, 0])]);
    let expected = dest_request(5, &attrs);
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn new_dest_tunnel_gue_sends_port_in_network_order_and_flags() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let mut d = dest("10.0.1.14", 80, KernelForward::Tunnel, 3);
    d.tunnel = Some(TunnelSpec {
        tun_type: 1,
        port: 6080,
        flags: 1,
    });
    let mut attrs = dest_v4_attrs([10, 0, 1, 14], 80, 2, 3);
    attrs.extend([nla(13, &[1]), nla(14, &[0x17, 0xc0]), nla(15, &[1, 0])]);
    let expected = dest_request(5, &attrs);
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn non_tunnel_dest_never_sends_tunnel_attributes() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let mut d = dest("10.0.1.11", 80, KernelForward::Route, 1);
    d.tunnel = Some(TunnelSpec {
        tun_type: 1,
        port: 6080,
        flags: 1,
    });
    let expected = dest_request(5, &dest_v4_attrs([10, 0, 1, 11], 80, 3, 1));
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn new_dest_ipv6_behind_ipv6_service() {
    let svc = key("2001:db8::1", Protocol::Tcp, 443);
    let d = dest("2001:db8:1::11", 8443, KernelForward::Masq, 1);
    let svc_addr = unhex("20010db8 00000000 00000000 00000001");
    let dest_addr = unhex("20010db8 00010000 00000000 00000011");
    let expected = ipvs(
        REQ_ACK,
        SEQ,
        5,
        &[
            nest(
                1 | NESTED,
                &[
                    u16_attr(1, 10),
                    u16_attr(2, 6),
                    nla(3, &svc_addr),
                    nla(4, &[0x01, 0xbb]),
                ],
            ),
            nest(
                2 | NESTED,
                &[
                    nla(1, &dest_addr),
                    nla(2, &[0x20, 0xfb]),
                    u32_attr(3, 0),
                    u32_attr(4, 1),
                    u32_attr(5, 0),
                    u32_attr(6, 0),
                    u16_attr(11, 10),
                ],
            ),
        ],
    );
    assert_bytes(
        &encode(&IpvsMessage::new_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn set_dest_carries_the_full_destination() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let d = dest("10.0.1.11", 80, KernelForward::Masq, 5);
    let expected = dest_request(6, &dest_v4_attrs([10, 0, 1, 11], 80, 0, 5));
    assert_bytes(
        &encode(&IpvsMessage::set_dest(&svc, &d).unwrap(), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn del_dest_carries_addr_port_and_family() {
    let svc = key("10.0.0.1", Protocol::Tcp, 80);
    let k = RealServerKey {
        addr: "10.0.1.11".parse().unwrap(),
        port: 80,
    };
    let expected = dest_request(
        7,
        &[
            nla(1, &v4_addr16([10, 0, 1, 11])),
            nla(2, &[0x00, 0x50]),
            u16_attr(11, 2),
        ],
    );
    assert_bytes(
        &encode(&IpvsMessage::del_dest(&svc, &k), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn service_dump_request_has_no_attributes_and_dump_flags() {
    let expected = unhex("14000000 1c00 0103 01000000 00000000  04 01 0000");
    assert_bytes(&encode(&IpvsMessage::service_dump(), FLAGS_DUMP), &expected);
}

#[test]
fn get_service_doit_carries_the_identity() {
    let id = key("10.0.0.1", Protocol::Tcp, 80);
    let expected = ipvs(REQ_ACK, SEQ, 4, &[nest(1 | NESTED, &svc_10_0_0_1_tcp_80())]);
    assert_bytes(
        &encode(&IpvsMessage::get_service(&id), FLAGS_ACKED),
        &expected,
    );
}

#[test]
fn dest_dump_request_carries_the_service_identity() {
    let id = key("10.0.0.1", Protocol::Tcp, 80);
    let expected = ipvs(
        REQ_DUMP,
        SEQ,
        8,
        &[nest(1 | NESTED, &svc_10_0_0_1_tcp_80())],
    );
    assert_bytes(&encode(&IpvsMessage::dest_dump(&id), FLAGS_DUMP), &expected);
}

#[test]
fn get_info_and_get_config_are_bare_commands() {
    assert_bytes(
        &encode(&IpvsMessage::get_info(), FLAGS_ACKED),
        &unhex("14000000 1c00 0500 01000000 00000000  0f 01 0000"),
    );
    assert_bytes(
        &encode(&IpvsMessage::get_config(), FLAGS_ACKED),
        &unhex("14000000 1c00 0500 01000000 00000000  0d 01 0000"),
    );
}

#[test]
fn set_config_sends_three_u32_timeouts() {
    let t = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 0,
    };
    let expected = unhex(
        "2c000000 1c00 0500 01000000 00000000  0c 01 0000
         0800 0400 84030000   0800 0500 78000000   0800 0600 00000000",
    );
    assert_bytes(
        &encode(&IpvsMessage::set_config(&t), FLAGS_ACKED),
        &expected,
    );
}
