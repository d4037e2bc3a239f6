//! Conntrack statistics that reveal SNAT port exhaustion and table pressure, summed over CPUs
//! from `/proc/net/stat/nf_conntrack`.
//!
//! Parsing is pure ([`parse_conntrack_stats`]); [`read_conntrack_stats`] is the only I/O. When
//! SNAT cannot find a free source tuple, the new connection's conntrack entry fails to insert
//! (`insert_failed`) and the packet is dropped (`drop`); `early_drop` counts entries evicted
//! because the table was full.

// I/O room (see clippy.toml): reads the kernel's conntrack statistics file.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::error::NetfilterError;

/// The default location of the statistics.
pub const CONNTRACK_STAT_PATH: &str = "/proc/net/stat/nf_conntrack";

/// Conntrack counters, summed over CPUs (monotonic since boot or namespace creation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConntrackStats {
    /// Entries that could not be inserted (e.g. no free SNAT tuple: port exhaustion).
    pub insert_failed: u64,
    /// Packets dropped because no entry could be created.
    pub drop: u64,
    /// Entries evicted early because the table was full.
    pub early_drop: u64,
    /// Lookups restarted because of concurrent changes (a contention signal).
    pub search_restart: u64,
}

/// Parses the file's text: a header of column names, then one line of hex values per CPU.
pub fn parse_conntrack_stats(text: &str) -> Result<ConntrackStats, NetfilterError> {
    let parse_error = |detail: String| NetfilterError::Parse {
        program: CONNTRACK_STAT_PATH.to_owned(),
        detail,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| parse_error("empty file".to_owned()))?
        .split_whitespace()
        .collect();
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != header.len() {
            return Err(parse_error(format!(
                "a line has {} values for {} columns",
                values.len(),
                header.len()
            )));
        }
        for (name, value) in header.iter().zip(values) {
            let n = u64::from_str_radix(value, 16)
                .map_err(|e| parse_error(format!("{name}: {value:?}: {e}")))?;
            let sum = sums.entry(name).or_default();
            *sum = sum.saturating_add(n);
        }
    }
    let get = |name: &str| sums.get(name).copied().unwrap_or(0);
    Ok(ConntrackStats {
        insert_failed: get("insert_failed"),
        drop: get("drop"),
        early_drop: get("early_drop"),
        search_restart: get("search_restart"),
    })
}

/// Reads and parses the statistics file (absent when nf_conntrack is not loaded).
pub fn read_conntrack_stats(path: &Path) -> Result<ConntrackStats, NetfilterError> {
    let text = std::fs::read_to_string(path).map_err(|cause| NetfilterError::Proc {
        path: path.to_owned(),
        cause,
    })?;
    parse_conntrack_stats(&text)
}
