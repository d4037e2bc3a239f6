//! Counter attributes nested in `*_ATTR_STATS` (legacy) and `*_ATTR_STATS64` (pure: no I/O).
//!
//! The kernel emits legacy counts and rates as u32 and bytes as u64, STATS64 everything as u64,
//! and `IPVS_STATS_ATTR_PAD` before u64 values for alignment. The value width is taken from the
//! payload length, so both containers decode with one parser.

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, NlasIterator, Parseable};

use super::constants::*;
use super::wire::{read_u32, read_u64, write_bytes};

/// Which counter an attribute carries (`IPVS_STATS_ATTR_CONNS` ..= `OUTBPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsCounter {
    /// Connections scheduled.
    Conns,
    /// Packets in.
    InPkts,
    /// Packets out.
    OutPkts,
    /// Bytes in.
    InBytes,
    /// Bytes out.
    OutBytes,
    /// Connection rate.
    Cps,
    /// Packet-in rate.
    InPps,
    /// Packet-out rate.
    OutPps,
    /// Byte-in rate.
    InBps,
    /// Byte-out rate.
    OutBps,
}

impl StatsCounter {
    /// All counters in kernel order, so encoders emit a stable layout.
    pub const ALL: [StatsCounter; 10] = [
        StatsCounter::Conns,
        StatsCounter::InPkts,
        StatsCounter::OutPkts,
        StatsCounter::InBytes,
        StatsCounter::OutBytes,
        StatsCounter::Cps,
        StatsCounter::InPps,
        StatsCounter::OutPps,
        StatsCounter::InBps,
        StatsCounter::OutBps,
    ];

    /// The `IPVS_STATS_ATTR_*` number.
    pub fn kind(self) -> u16 {
        match self {
            StatsCounter::Conns => IPVS_STATS_ATTR_CONNS,
            StatsCounter::InPkts => IPVS_STATS_ATTR_INPKTS,
            StatsCounter::OutPkts => IPVS_STATS_ATTR_OUTPKTS,
            StatsCounter::InBytes => IPVS_STATS_ATTR_INBYTES,
            StatsCounter::OutBytes => IPVS_STATS_ATTR_OUTBYTES,
            StatsCounter::Cps => IPVS_STATS_ATTR_CPS,
            StatsCounter::InPps => IPVS_STATS_ATTR_INPPS,
            StatsCounter::OutPps => IPVS_STATS_ATTR_OUTPPS,
            StatsCounter::InBps => IPVS_STATS_ATTR_INBPS,
            StatsCounter::OutBps => IPVS_STATS_ATTR_OUTBPS,
        }
    }

    /// The counter for an attribute number, if it is one.
    pub fn from_kind(kind: u16) -> Option<Self> {
        StatsCounter::ALL.into_iter().find(|c| c.kind() == kind)
    }

    /// Whether legacy STATS carries this counter as u64 (only the byte counters).
    pub fn legacy_is_u64(self) -> bool {
        matches!(self, StatsCounter::InBytes | StatsCounter::OutBytes)
    }
}

/// A counter value with the width it has on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatValue {
    /// 4-byte value (legacy counts and rates).
    U32(u32),
    /// 8-byte value.
    U64(u64),
}

impl StatValue {
    /// The value widened to u64.
    pub fn get(self) -> u64 {
        match self {
            StatValue::U32(v) => u64::from(v),
            StatValue::U64(v) => v,
        }
    }
}

/// One attribute inside a stats container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttribute {
    /// A counter.
    Value(StatsCounter, StatValue),
    /// `IPVS_STATS_ATTR_PAD`: alignment filler the kernel inserts before u64s; carries nothing.
    Pad(Vec<u8>),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for StatsAttribute {
    fn value_len(&self) -> usize {
        match self {
            StatsAttribute::Value(_, StatValue::U32(_)) => 4,
            StatsAttribute::Value(_, StatValue::U64(_)) => 8,
            StatsAttribute::Pad(bytes) => bytes.len(),
            StatsAttribute::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            StatsAttribute::Value(counter, _) => counter.kind(),
            StatsAttribute::Pad(_) => IPVS_STATS_ATTR_PAD,
            StatsAttribute::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            StatsAttribute::Value(_, StatValue::U32(v)) => write_bytes(buffer, &v.to_ne_bytes()),
            StatsAttribute::Value(_, StatValue::U64(v)) => write_bytes(buffer, &v.to_ne_bytes()),
            StatsAttribute::Pad(bytes) => write_bytes(buffer, bytes),
            StatsAttribute::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&T>> for StatsAttribute {
    fn parse(buf: &NlaBuffer<&T>) -> Result<Self, DecodeError> {
        let payload = buf.value();
        let kind = buf.kind();
        if kind == IPVS_STATS_ATTR_PAD {
            return Ok(StatsAttribute::Pad(payload.to_vec()));
        }
        let Some(counter) = StatsCounter::from_kind(kind) else {
            return Ok(StatsAttribute::Other(DefaultNla::parse(buf)?));
        };
        let value = match payload.len() {
            4 => StatValue::U32(read_u32("IPVS_STATS_ATTR", payload)?),
            _ => StatValue::U64(read_u64("IPVS_STATS_ATTR", payload)?),
        };
        Ok(StatsAttribute::Value(counter, value))
    }
}

/// Parses the payload of a STATS / STATS64 container.
pub(crate) fn parse_stats_attributes(payload: &[u8]) -> Result<Vec<StatsAttribute>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| StatsAttribute::parse(&nla)))
        .collect()
}
