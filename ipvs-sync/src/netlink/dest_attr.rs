//! Attributes nested in `IPVS_CMD_ATTR_DEST` (pure: no I/O).
//!
//! Raw wire values as in `service_attr`: ports in host order here (network order on the wire),
//! ADDR as raw bytes. TUN_PORT is `__be16` like the other ports; TUN_FLAGS is native u16.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, Parseable,
};

use super::constants::*;
use super::stats_attr::{StatsAttribute, parse_stats_attributes};
use super::wire::*;

/// One `IPVS_DEST_ATTR_*` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttribute {
    /// `ADDR`: `union nf_inet_addr` bytes.
    Addr(Vec<u8>),
    /// `PORT`: host-order value, network order on the wire.
    Port(u16),
    /// `FWD_METHOD` (u32, `IP_VS_CONN_F_*`; only the low 3 bits matter).
    FwdMethod(u32),
    /// `WEIGHT` (u32; the kernel's `int`).
    Weight(u32),
    /// `U_THRESH` (u32).
    UpperThreshold(u32),
    /// `L_THRESH` (u32).
    LowerThreshold(u32),
    /// `ACTIVE_CONNS` (u32, reply only).
    ActiveConns(u32),
    /// `INACT_CONNS` (u32, reply only).
    InactiveConns(u32),
    /// `PERSIST_CONNS` (u32, reply only).
    PersistConns(u32),
    /// `STATS`: legacy counters (reply only).
    Stats(Vec<StatsAttribute>),
    /// `ADDR_FAMILY` (u16, Linux 3.18+).
    AddrFamily(u16),
    /// `STATS64`: 64-bit counters (reply only).
    Stats64(Vec<StatsAttribute>),
    /// `TUN_TYPE` (u8, Linux 5.2+).
    TunType(u8),
    /// `TUN_PORT`: host-order value, network order on the wire (GUE).
    TunPort(u16),
    /// `TUN_FLAGS` (u16, Linux 5.3+).
    TunFlags(u16),
    /// Anything else, kept verbatim.
    Other(DefaultNla),
}

impl Nla for DestAttribute {
    fn value_len(&self) -> usize {
        use DestAttribute::*;
        match self {
            TunType(_) => 1,
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            FwdMethod(_) | Weight(_) | UpperThreshold(_) | LowerThreshold(_) | ActiveConns(_)
            | InactiveConns(_) | PersistConns(_) => 4,
            Addr(bytes) => bytes.len(),
            Stats(nlas) | Stats64(nlas) => nlas.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestAttribute::*;
        match self {
            Addr(_) => IPVS_DEST_ATTR_ADDR,
            Port(_) => IPVS_DEST_ATTR_PORT,
            FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            UpperThreshold(_) => IPVS_DEST_ATTR_U_THRESH,
            LowerThreshold(_) => IPVS_DEST_ATTR_L_THRESH,
            ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            InactiveConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Stats(_) => IPVS_DEST_ATTR_STATS | NLA_F_NESTED,
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => IPVS_DEST_ATTR_STATS64 | NLA_F_NESTED,
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        use DestAttribute::*;
        match self {
            Addr(bytes) => write_bytes(buffer, bytes),
            Port(v) | TunPort(v) => write_bytes(buffer, &v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => write_bytes(buffer, &v.to_ne_bytes()),
            TunType(v) => write_bytes(buffer, &[*v]),
            FwdMethod(v) | Weight(v) | UpperThreshold(v) | LowerThreshold(v) | ActiveConns(v)
            | InactiveConns(v) | PersistConns(v) => write_bytes(buffer, &v.to_ne_bytes()),
            Stats(nlas) | Stats64(nlas) => nlas.as_slice().emit(buffer),
            Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for DestAttribute {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        use DestAttribute::*;
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => Addr(p.to_vec()),
            IPVS_DEST_ATTR_PORT => Port(read_be16("IPVS_DEST_ATTR_PORT", p)?),
            IPVS_DEST_ATTR_FWD_METHOD => FwdMethod(read_u32("IPVS_DEST_ATTR_FWD_METHOD", p)?),
            IPVS_DEST_ATTR_WEIGHT => Weight(read_u32("IPVS_DEST_ATTR_WEIGHT", p)?),
            IPVS_DEST_ATTR_U_THRESH => UpperThreshold(read_u32("IPVS_DEST_ATTR_U_THRESH", p)?),
            IPVS_DEST_ATTR_L_THRESH => LowerThreshold(read_u32("IPVS_DEST_ATTR_L_THRESH", p)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => ActiveConns(read_u32("IPVS_DEST_ATTR_ACTIVE_CONNS", p)?),
            IPVS_DEST_ATTR_INACT_CONNS => InactiveConns(read_u32("IPVS_DEST_ATTR_INACT_CONNS", p)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                PersistConns(read_u32("IPVS_DEST_ATTR_PERSIST_CONNS", p)?)
            }
            IPVS_DEST_ATTR_STATS => Stats(parse_stats_attributes(p)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => AddrFamily(read_u16("IPVS_DEST_ATTR_ADDR_FAMILY", p)?),
            IPVS_DEST_ATTR_STATS64 => Stats64(parse_stats_attributes(p)?),
            IPVS_DEST_ATTR_TUN_TYPE => TunType(read_u8("IPVS_DEST_ATTR_TUN_TYPE", p)?),
            IPVS_DEST_ATTR_TUN_PORT => TunPort(read_be16("IPVS_DEST_ATTR_TUN_PORT", p)?),
            IPVS_DEST_ATTR_TUN_FLAGS => TunFlags(read_u16("IPVS_DEST_ATTR_TUN_FLAGS", p)?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Parses the payload of `IPVS_CMD_ATTR_DEST`.
pub(crate) fn parse_dest_attributes(payload: &[u8]) -> Result<Vec<DestAttribute>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DestAttribute::parse(&nla)))
        .collect()
}
