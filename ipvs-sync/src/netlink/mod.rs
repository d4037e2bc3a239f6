//! IPVS over generic netlink: message types, their encoding, and a synchronous client.
//!
//! Contract: everything except the socket transport and [`IpvsClient`]'s exchange loop is pure
//! (no I/O, no clock); decoding never panics on arbitrary bytes.
//!
//! Why hand-written: there is no usable IPVS crate on current rust-netlink versions
//! (`netlink-packet-ipvs` 0.0.1 pins `netlink-packet-core` 0.7 / `netlink-packet-utils` 0.5), so
//! the family is implemented here on `netlink-packet-core` 0.9 and `netlink-packet-generic` 0.5.
//!
//! Why synchronous: the daemon drives IPVS from one blocking thread; the kernel serialises every
//! IPVS change on one mutex, so concurrency would buy nothing; and a blocking request/reply loop
//! (one long-lived `netlink_sys::Socket`, family resolved once) is small enough to test
//! byte-for-byte against a scripted transport on hosts without IPVS.
//!
//! Wire decisions (see the module docs for details): IPv4 ADDR sent as 16 zero-padded bytes;
//! ports in network order; FLAGS mask always `0xffffffff`; IPv4 NETMASK as a be32 mask, IPv6 as
//! a prefix length; destination ADDR_FAMILY always sent (kernels before 3.18 ignore it); TUN_*
//! only for tunnel destinations; nested request attributes carry NLA_F_NESTED.

pub mod constants;

mod attribute;
mod client;
mod command;
mod convert;
mod daemon_attr;
mod dest_attr;
mod encode;
mod errno;
mod family;
pub mod features;
pub mod fullnat;
mod kernel;
mod message;
mod reply;
mod requests;
mod service_attr;
mod stats_attr;
mod transport;
mod types;
mod verify;
mod wire;

pub use attribute::IpvsAttribute;
pub use client::IpvsClient;
pub use command::IpvsCmd;
pub use convert::{
    dest_attributes, dest_identity_attributes, destination_from_attributes, family_from_raw,
    family_to_raw, legacy_stats_attributes, normalize_destination, service_attributes,
    service_from_attributes, service_identity_attributes, stats_from_attributes,
    stats64_attributes,
};
pub use daemon_attr::{
    DaemonAttribute, daemon_attributes, daemon_from_attributes, daemon_role_attributes,
};
pub use dest_attr::DestAttribute;
pub use family::{encode_family_request, resolve_family};
pub use message::IpvsMessage;
pub use reply::{
    daemon_from_message, decode_reply_for_fuzzing, destination_from_message, info_from_message,
    parse_dest_reply, parse_messages, parse_service_reply, service_from_message,
    timeouts_from_message,
};
pub use requests::{FLAGS_ACKED, FLAGS_DUMP, encode_request};
pub use service_attr::{IpVsFlags, ServiceAttribute};
pub use stats_attr::{StatValue, StatsAttribute, StatsCounter};
pub use transport::{
    DEFAULT_REPLY_TIMEOUT, NetlinkTransport, RECEIVE_BUFFER_BYTES, SocketTransport,
};
pub use types::{IpvsInfo, OpCounts, Timeouts};
pub use verify::{compare_destination, compare_service};
