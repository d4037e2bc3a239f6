//! The bytes of one request, written in one walk into a reused buffer (pure: no I/O).
//!
//! Written by hand, on purpose: netlink-packet-core's serializer gives the same bytes, but it
//! takes the message by value (a clone per request) and recomputes every nested length at
//! every level it emits. Programming 110,000 IPVS entries encodes 110,000 requests, and that
//! cost (0.7 us a request on a host core) was most of what lbctl's writes spent above the raw
//! netlink baseline in the emulated lab. Only the framing is ours (the headers, nested
//! lengths, padding); each attribute's kind and value still come from its `Nla` impl, so the
//! attribute model stays the crate's. `tests/netlink_roundtrip.rs` proves the bytes equal the
//! crate's for any service and destination request.

use netlink_packet_core::{NLA_F_NESTED, NLA_F_NET_BYTEORDER, Nla};
use netlink_packet_generic::GenlFamily;

use super::attribute::IpvsAttribute;
use super::message::IpvsMessage;

/// Bytes of an `nlmsghdr`.
const NETLINK_HEADER: usize = 16;
/// Bytes of an attribute's header (`nlattr`).
const ATTRIBUTE_HEADER: usize = 4;

/// Writes the request `message` into `out` (cleared first): nlmsghdr (type `family_id`,
/// `flags`, `sequence`, port 0 for the kernel to fill in) + genlmsghdr (command, version,
/// reserved 0) + the attributes, each padded to 4 bytes.
pub(crate) fn encode_request_into(
    out: &mut Vec<u8>,
    message: &IpvsMessage,
    family_id: u16,
    sequence: u32,
    flags: u16,
) {
    out.clear();
    out.extend_from_slice(&[0; 4]); // the length, known at the end
    out.extend_from_slice(&family_id.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&sequence.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    debug_assert_eq!(out.len(), NETLINK_HEADER);
    out.extend_from_slice(&[message.command(), message.version(), 0, 0]);
    for attribute in &message.attributes {
        match attribute {
            IpvsAttribute::Service(nested) => push_nested(out, attribute, nested),
            IpvsAttribute::Dest(nested) => push_nested(out, attribute, nested),
            IpvsAttribute::Daemon(nested) => push_nested(out, attribute, nested),
            leaf => push_attribute(out, leaf),
        }
    }
    let length = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&length.to_ne_bytes());
}

/// The kind as netlink-packet-core writes it: `Nla::kind` plus the flags its trait reports.
fn wire_kind<N: Nla>(nla: &N) -> u16 {
    let mut kind = nla.kind();
    if nla.is_network_byteorder() {
        kind |= NLA_F_NET_BYTEORDER;
    }
    if nla.is_nested() {
        kind |= NLA_F_NESTED;
    }
    kind
}

/// Appends one attribute from its own `value_len` / `emit_value`, then the padding.
fn push_attribute<N: Nla>(out: &mut Vec<u8>, nla: &N) {
    let value_len = nla.value_len();
    let start = out.len();
    // The length excludes the padding; the crate truncates to u16 the same way.
    out.extend_from_slice(&((value_len + ATTRIBUTE_HEADER) as u16).to_ne_bytes());
    out.extend_from_slice(&wire_kind(nla).to_ne_bytes());
    out.resize(start + ATTRIBUTE_HEADER + value_len, 0);
    nla.emit_value(&mut out[start + ATTRIBUTE_HEADER..]);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Appends `outer` holding `children` (each padded), its length counted once they are written.
fn push_nested<N: Nla>(out: &mut Vec<u8>, outer: &IpvsAttribute, children: &[N]) {
    let start = out.len();
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&wire_kind(outer).to_ne_bytes());
    for child in children {
        push_attribute(out, child);
    }
    let length = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&length.to_ne_bytes());
}
