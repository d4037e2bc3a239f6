//! Attributes nested in `IPVS_CMD_ATTR_SERVICE` (pure: no I/O).
//!
//! Raw wire values: ports in host order here (emitted network order), ADDR as raw bytes (the
//! address family lives in a sibling attribute), NETMASK as the raw u32. Turning them into a
//! [`crate::model::ServiceSpec`] is `convert`'s job.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, Parseable,
};

use super::constants::*;
use super::stats_attr::{StatsAttribute, parse_stats_attributes};
use super::wire::*;

/// `struct ip_vs_flags`: the kernel computes `new = (old & !mask) | (flags & mask)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpVsFlags {
    /// `IP_VS_SVC_F_*` bits.
    pub flags: u32,
    /// Which bits to change; we always send `0xffffffff` (a 0 mask silently changes nothing).
    pub mask: u32,
}

/// One `IPVS_SVC_ATTR_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAttribute {
    /// `AF` (u16): `AF_INET` or `AF_INET6`.
    Af(u16),
    /// `PROTOCOL` (u16): IP protocol number; absent for fwmark services.
    Protocol(u16),
    /// `ADDR`: `union nf_inet_addr` bytes (16 on the wire, IPv4 in the first 4).
    Addr(Vec<u8>),
    /// `PORT`: host-order value, network order on the wire.
    Port(u16),
    /// `FWMARK` (u32).
    Fwmark(u32),
    /// `SCHED_NAME`: NUL-terminated.
    SchedName(String),
    /// `FLAGS`: flags + mask.
    Flags(IpVsFlags),
    /// `TIMEOUT` (u32 seconds).
    Timeout(u32),
    /// `NETMASK` raw u32: be32 mask bytes for IPv4, native prefix length for IPv6.
    Netmask(u32),
    /// `STATS`: legacy counters (reply only).
    Stats(Vec<StatsAttribute>),
    /// `PE_NAME`: NUL-terminated persistence engine name.
    PeName(String),
    /// `STATS64`: 64-bit counters (reply only).
    Stats64(Vec<StatsAttribute>),
    /// Anything else, kept verbatim.
    Other(DefaultNla),
}

impl Nla for ServiceAttribute {
    fn value_len(&self) -> usize {
        use ServiceAttribute::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            Flags(_) => 8,
            Addr(bytes) => bytes.len(),
            SchedName(s) | PeName(s) => s.len() + 1,
            Stats(nlas) | Stats64(nlas) => nlas.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use ServiceAttribute::*;
        match self {
            Af(_) => IPVS_SVC_ATTR_AF,
            Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Addr(_) => IPVS_SVC_ATTR_ADDR,
            Port(_) => IPVS_SVC_ATTR_PORT,
            Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Stats(_) => IPVS_SVC_ATTR_STATS | NLA_F_NESTED,
            PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Stats64(_) => IPVS_SVC_ATTR_STATS64 | NLA_F_NESTED,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use ServiceAttribute::*;
        match self {
            Af(v) | Protocol(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Port(v) => write_bytes(buffer, &v.to_be_bytes()),
            Fwmark(v) | Timeout(v) | Netmask(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Addr(bytes) => write_bytes(buffer, bytes),
            SchedName(s) | PeName(s) => write_cstring(buffer, s),
            Flags(f) => {
                let mut raw = [0u8; 8];
                raw[..4].copy_from_slice(&f.flags.to_ne_bytes());
                raw[4..].copy_from_slice(&f.mask.to_ne_bytes());
                write_bytes(buffer, &raw);
            }
            Stats(nlas) | Stats64(nlas) => nlas.as_slice().emit(buffer),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for ServiceAttribute {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        use ServiceAttribute::*;
        let payload = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => Af(read_u16("IPVS_SVC_ATTR_AF", payload)?),
            IPVS_SVC_ATTR_PROTOCOL => Protocol(read_u16("IPVS_SVC_ATTR_PROTOCOL", payload)?),
            IPVS_SVC_ATTR_ADDR => Addr(payload.to_vec()),
            IPVS_SVC_ATTR_PORT => Port(read_be16("IPVS_SVC_ATTR_PORT", payload)?),
            IPVS_SVC_ATTR_FWMARK => Fwmark(read_u32("IPVS_SVC_ATTR_FWMARK", payload)?),
            IPVS_SVC_ATTR_SCHED_NAME => {
                SchedName(read_cstring("IPVS_SVC_ATTR_SCHED_NAME", payload)?)
            }
            IPVS_SVC_ATTR_FLAGS => {
                let raw: [u8; 8] = payload.try_into().map_err(|_| {
                    DecodeError::from(format!(
                        "IPVS_SVC_ATTR_FLAGS: expected 8 bytes, got {}",
                        payload.len()
                    ))
                })?;
                let (flags, mask) = raw.split_at(4);
                Flags(IpVsFlags {
                    flags: read_u32("IPVS_SVC_ATTR_FLAGS", flags)?,
                    mask: read_u32("IPVS_SVC_ATTR_FLAGS", mask)?,
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => Timeout(read_u32("IPVS_SVC_ATTR_TIMEOUT", payload)?),
            IPVS_SVC_ATTR_NETMASK => Netmask(read_u32("IPVS_SVC_ATTR_NETMASK", payload)?),
            IPVS_SVC_ATTR_STATS => Stats(parse_stats_attributes(payload)?),
            IPVS_SVC_ATTR_PE_NAME => PeName(read_cstring("IPVS_SVC_ATTR_PE_NAME", payload)?),
            IPVS_SVC_ATTR_STATS64 => Stats64(parse_stats_attributes(payload)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Parses the payload of `IPVS_CMD_ATTR_SERVICE`.
pub(crate) fn parse_service_attributes(
    payload: &[u8],
) -> Result<Vec<ServiceAttribute>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| ServiceAttribute::parse(&nla)))
        .collect()
}
