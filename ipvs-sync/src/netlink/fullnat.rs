//! The Alibaba-LVS FullNAT dialect of the IPVS family: local-address ("laddr") requests and
//! detection of kernels that support them.
//!
//! Pure: byte encoding and decoding only, no I/O. Alibaba's LVS (a patched RHEL 6 kernel)
//! extends the mainline "IPVS" generic-netlink family with `IPVS_CMD_NEW_LADDR` (18),
//! `IPVS_CMD_DEL_LADDR` (19) and `IPVS_CMD_GET_LADDR` (20, dump), and a nested top-level
//! attribute `IPVS_CMD_ATTR_LADDR` (7) holding `IPVS_LADDR_ATTR_ADDR` (1, a 16-byte
//! `nf_inet_addr`). A laddr request carries the service identity (the mainline
//! `IPVS_CMD_ATTR_SERVICE` with AF, PROTOCOL, ADDR, PORT, whose numbers the dialect shares) plus
//! the laddr. Support is detected from the family's operation list (`CTRL_ATTR_OPS`), which
//! names command 18 only on such kernels. The lab runs Debian's mainline kernel, so only the
//! encoding is tested (ipvs-sync/src/netlink/fullnat.rs tests); nothing sends these messages yet.

use std::net::IpAddr;

use lb_config::ServiceKey;
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, OpAttrs};

use super::constants::{
    IPVS_CMD_ATTR_SERVICE, IPVS_GENL_VERSION, IPVS_SVC_ATTR_ADDR, IPVS_SVC_ATTR_AF,
    IPVS_SVC_ATTR_PORT, IPVS_SVC_ATTR_PROTOCOL,
};

/// `IPVS_CMD_NEW_LADDR` of the Alibaba dialect: add a local address to a FullNAT service.
pub const IPVS_CMD_NEW_LADDR: u8 = 18;
/// `IPVS_CMD_DEL_LADDR`: remove a local address.
pub const IPVS_CMD_DEL_LADDR: u8 = 19;
/// `IPVS_CMD_GET_LADDR`: dump a service's local addresses.
pub const IPVS_CMD_GET_LADDR: u8 = 20;
/// `IPVS_CMD_ATTR_LADDR`: the nested local-address attribute.
pub const IPVS_CMD_ATTR_LADDR: u16 = 7;
/// `IPVS_LADDR_ATTR_ADDR`: the address (16 bytes, IPv4 zero-padded).
pub const IPVS_LADDR_ATTR_ADDR: u16 = 1;
/// `IP_VS_CONN_F_FULLNAT`: the dialect's forwarding-method value.
pub const IP_VS_CONN_F_FULLNAT: u32 = 5;

const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_HDRLEN: usize = 16;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Whether the family's operation list (from CTRL_CMD_GETFAMILY) has the laddr commands.
pub fn supports_laddr(family_attributes: &[GenlCtrlAttrs]) -> bool {
    family_attributes.iter().any(|attr| match attr {
        GenlCtrlAttrs::Ops(ops) => ops.iter().any(|op| {
            op.iter()
                .any(|a| matches!(a, OpAttrs::Id(id) if *id == u32::from(IPVS_CMD_NEW_LADDR)))
        }),
        _ => false,
    })
}

/// Encodes a NEW_LADDR (`add`) or DEL_LADDR request for `service` and local address `laddr`,
/// as a complete netlink message for family id `family` with sequence number `sequence`.
pub fn encode_laddr_request(
    family: u16,
    sequence: u32,
    add: bool,
    service: &ServiceKey,
    laddr: IpAddr,
) -> Vec<u8> {
    let cmd = if add {
        IPVS_CMD_NEW_LADDR
    } else {
        IPVS_CMD_DEL_LADDR
    };
    let af = match service.vip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    };
    let mut svc = Vec::new();
    put_attr(&mut svc, IPVS_SVC_ATTR_AF, &af.to_ne_bytes());
    put_attr(
        &mut svc,
        IPVS_SVC_ATTR_PROTOCOL,
        &u16::from(service.protocol.number()).to_ne_bytes(),
    );
    put_attr(&mut svc, IPVS_SVC_ATTR_ADDR, &inet_addr(service.vip));
    put_attr(&mut svc, IPVS_SVC_ATTR_PORT, &service.port.to_be_bytes());
    let mut local = Vec::new();
    put_attr(&mut local, IPVS_LADDR_ATTR_ADDR, &inet_addr(laddr));

    let mut body = vec![cmd, IPVS_GENL_VERSION, 0, 0];
    put_attr(&mut body, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, &svc);
    put_attr(&mut body, IPVS_CMD_ATTR_LADDR | NLA_F_NESTED, &local);

    let total = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend_from_slice(&family.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&sequence.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(&body);
    msg
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first 4.
fn inet_addr(addr: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    out
}

/// Appends one netlink attribute (length, type, payload, padding to 4 bytes).
fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len() + (4 - len % 4) % 4, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_config::Protocol;

    #[test]
    fn new_laddr_golden_bytes() {
        let service = ServiceKey {
            vip: "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            protocol: Protocol::Tcp,
            port: 80,
        };
        let msg = encode_laddr_request(0x24, 7, true, &service, IpAddr::from([10, 0, 1, 200]));
        let mut expected: Vec<u8> = Vec::new();
        // nlmsghdr: len 92 (16 + genl 4 + SERVICE 48 + LADDR 24), type 0x24, flags REQUEST|ACK, seq 7, pid 0
        expected.extend_from_slice(&92u32.to_ne_bytes());
        expected.extend_from_slice(&0x24u16.to_ne_bytes());
        expected.extend_from_slice(&5u16.to_ne_bytes());
        expected.extend_from_slice(&7u32.to_ne_bytes());
        expected.extend_from_slice(&0u32.to_ne_bytes());
        expected.extend_from_slice(&[18, 1, 0, 0]); // genl: NEW_LADDR, version 1
        // SERVICE (nested, 4 + 8 + 8 + 20 + 8 = 48)
        expected.extend_from_slice(&48u16.to_ne_bytes());
        expected.extend_from_slice(&0x8001u16.to_ne_bytes());
        for (kind, payload) in [
            (1u16, 2u16.to_ne_bytes().to_vec()),
            (2, 6u16.to_ne_bytes().to_vec()),
        ] {
            expected.extend_from_slice(&6u16.to_ne_bytes());
            expected.extend_from_slice(&kind.to_ne_bytes());
            expected.extend_from_slice(&payload);
            expected.extend_from_slice(&[0, 0]);
        }
        expected.extend_from_slice(&20u16.to_ne_bytes());
        expected.extend_from_slice(&3u16.to_ne_bytes());
        expected.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&6u16.to_ne_bytes());
        expected.extend_from_slice(&4u16.to_ne_bytes());
        expected.extend_from_slice(&[0, 80, 0, 0]); // port in network order, padded
        // LADDR (nested, 4 + 20 = 24) { ADDR 10.0.1.200 }
        expected.extend_from_slice(&24u16.to_ne_bytes());
        expected.extend_from_slice(&0x8007u16.to_ne_bytes());
        expected.extend_from_slice(&20u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(&[10, 0, 1, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(msg, expected);
        let del = encode_laddr_request(0x24, 8, false, &service, IpAddr::from([10, 0, 1, 200]));
        assert_eq!(del[16], IPVS_CMD_DEL_LADDR, "genl command byte");
    }

    #[test]
    fn laddr_support_is_read_from_the_op_list() {
        let mainline = vec![GenlCtrlAttrs::Ops(
            (1..=17)
                .map(|id| vec![OpAttrs::Id(id), OpAttrs::Flags(0)])
                .collect(),
        )];
        assert!(!supports_laddr(&mainline));
        let alibaba = vec![GenlCtrlAttrs::Ops(
            (1..=24).map(|id| vec![OpAttrs::Id(id)]).collect(),
        )];
        assert!(supports_laddr(&alibaba));
        assert!(!supports_laddr(&[]));
    }
}
