//! [`Stats`] <-> counter attributes (pure: no I/O).
//!
//! Decoding accepts both widths per counter (legacy STATS mixes u32 and u64) and skips PAD and
//! unknown attributes.

use crate::model::Stats;
use crate::netlink::stats_attr::{StatValue, StatsAttribute, StatsCounter};

/// The field of [`Stats`] a counter fills.
fn field(stats: &mut Stats, counter: StatsCounter) -> &mut u64 {
    match counter {
        StatsCounter::Conns => &mut stats.conns,
        StatsCounter::InPkts => &mut stats.inpkts,
        StatsCounter::OutPkts => &mut stats.outpkts,
        StatsCounter::InBytes => &mut stats.inbytes,
        StatsCounter::OutBytes => &mut stats.outbytes,
        StatsCounter::Cps => &mut stats.cps,
        StatsCounter::InPps => &mut stats.inpps,
        StatsCounter::OutPps => &mut stats.outpps,
        StatsCounter::InBps => &mut stats.inbps,
        StatsCounter::OutBps => &mut stats.outbps,
    }
}

/// Reads a STATS or STATS64 container.
pub fn stats_from_attributes(attributes: &[StatsAttribute]) -> Stats {
    let mut stats = Stats::default();
    for attribute in attributes {
        if let StatsAttribute::Value(counter, value) = attribute {
            *field(&mut stats, *counter) = value.get();
        }
    }
    stats
}

/// A STATS64 container as the kernel writes it (all u64). Why public: reply fixtures and the
/// round-trip property need the kernel's shape.
pub fn stats64_attributes(stats: &Stats) -> Vec<StatsAttribute> {
    let mut stats = *stats;
    StatsCounter::ALL
        .into_iter()
        .map(|c| StatsAttribute::Value(c, StatValue::U64(*field(&mut stats, c))))
        .collect()
}

/// A legacy STATS container as the kernel writes it: counts and rates truncated to u32, bytes
/// u64 (the truncation is the kernel's, which is why STATS64 is preferred).
pub fn legacy_stats_attributes(stats: &Stats) -> Vec<StatsAttribute> {
    let mut stats = *stats;
    StatsCounter::ALL
        .into_iter()
        .map(|c| {
            let v = *field(&mut stats, c);
            let value = if c.legacy_is_u64() {
                StatValue::U64(v)
            } else {
                StatValue::U32(v as u32)
            };
            StatsAttribute::Value(c, value)
        })
        .collect()
}
