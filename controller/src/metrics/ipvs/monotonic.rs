//! Keeps the exported IPVS counters monotonic although the kernel's are not.
//!
//! Pure: no I/O; time is a parameter. The kernel restarts a destination's (or service's)
//! counters at 0 whenever it is deleted and added again, and a drained destination simply
//! vanishes. Exported as they are, such counters would go backwards, which `rate()` reads as
//! a counter reset and, worse, a vanished-then-returning series would double count. So every
//! series carries an offset:
//!
//! - the exported value is `offset + raw`;
//! - when `raw` drops below the last raw value seen, or the series returns after a scrape in
//!   which it was missing (the kernel object was recreated), the last raw value is added to
//!   the offset, so the exported value continues from where it was;
//! - a series that is missing keeps its state for the retention period, then is forgotten
//!   (memory stays bounded by the live table plus recent churn).
//!
//! Limit: an object deleted and re-added *between two scrapes* whose new counter already
//! exceeds the old one is indistinguishable from one that just kept counting; the exported
//! value then under-counts by the old value (it never goes backwards).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many counters a series has: conns, inpkts, outpkts, inbytes, outbytes.
pub(crate) const COUNTERS: usize = 5;

/// The offsets of every series, keyed by kernel identity.
#[derive(Debug)]
pub(crate) struct MonotonicCounters<K> {
    series: HashMap<K, SeriesState>,
    retention: Duration,
    generation: u64,
}

/// 80 bytes a series: at 110,000 IPVS entries the map is the largest thing a scrape keeps.
#[derive(Debug, Clone)]
struct SeriesState {
    last_raw: [u64; COUNTERS],
    /// `None` until the series' kernel object is first recreated: most never are.
    offset: Option<Box<[u64; COUNTERS]>>,
    last_seen: Instant,
    seen_generation: u64,
    vanished: bool,
}

impl<K: Hash + Eq + Clone> MonotonicCounters<K> {
    /// Offsets of series missing from the kernel are kept for `retention`.
    pub(crate) fn new(retention: Duration) -> Self {
        MonotonicCounters {
            series: HashMap::new(),
            retention,
            generation: 0,
        }
    }

    /// Changes how long vanished series are kept (from the next [`end_pass`] on).
    ///
    /// [`end_pass`]: MonotonicCounters::end_pass
    pub(crate) fn set_retention(&mut self, retention: Duration) {
        self.retention = retention;
    }

    /// Starts a pass over one kernel snapshot of `series` series; every series seen must be
    /// [`observe`]d before [`end_pass`]. The map is grown once to hold them all: grown by
    /// doubling as the first pass of a 110,000-entry table observes them, its last step would
    /// hold the old and the new table at once (about 10 MiB more at the peak).
    ///
    /// [`observe`]: MonotonicCounters::observe
    /// [`end_pass`]: MonotonicCounters::end_pass
    pub(crate) fn begin_pass(&mut self, series: usize) {
        self.generation += 1;
        self.series
            .reserve(series.saturating_sub(self.series.len()));
    }

    /// Records the raw kernel counters of one series and returns the values to export.
    pub(crate) fn observe(
        &mut self,
        key: &K,
        raw: [u64; COUNTERS],
        now: Instant,
    ) -> [u64; COUNTERS] {
        let generation = self.generation;
        let state = self.series.entry(key.clone()).or_insert(SeriesState {
            last_raw: raw,
            offset: None,
            last_seen: now,
            seen_generation: generation,
            vanished: false,
        });
        // A cached snapshot observed again has raw == last_raw: nothing changes.
        let (vanished, last) = (state.vanished, state.last_raw);
        let restarted = |i: usize| vanished || raw[i] < last[i];
        if (0..COUNTERS).any(restarted) {
            let offset = state.offset.get_or_insert_with(Box::default);
            for (i, offset) in offset.iter_mut().enumerate().filter(|(i, _)| restarted(*i)) {
                *offset = offset.saturating_add(last[i]);
            }
        }
        state.last_raw = raw;
        state.last_seen = now;
        state.seen_generation = generation;
        state.vanished = false;
        let mut exported = raw;
        if let Some(offset) = &state.offset {
            for (value, offset) in exported.iter_mut().zip(offset.iter()) {
                *value = offset.saturating_add(*value);
            }
        }
        exported
    }

    /// Ends the pass: series not observed in it are marked vanished (their next appearance is
    /// a recreated kernel object) and those missing for longer than the retention are dropped.
    pub(crate) fn end_pass(&mut self, now: Instant) {
        let generation = self.generation;
        let retention = self.retention;
        self.series.retain(|_, state| {
            if state.seen_generation != generation {
                state.vanished = true;
            }
            now.saturating_duration_since(state.last_seen) <= retention
        });
    }

    /// How many series are tracked (live and recently vanished).
    pub(crate) fn len(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(conns: u64) -> [u64; COUNTERS] {
        [conns, conns * 10, conns * 5, conns * 1000, conns * 500]
    }

    fn pass(
        counters: &mut MonotonicCounters<&'static str>,
        seen: &[(&'static str, u64)],
        now: Instant,
    ) -> Vec<u64> {
        counters.begin_pass(seen.len());
        let out = seen
            .iter()
            .map(|(key, conns)| counters.observe(key, raw(*conns), now)[0])
            .collect();
        counters.end_pass(now);
        out
    }

    /// The state stays small: 110,000 series of it are kept for the daemon's life. Mutation:
    /// the offsets inline (as before) make it 112 bytes.
    #[test]
    fn a_series_state_is_at_most_80_bytes() {
        assert!(std::mem::size_of::<SeriesState>() <= 80);
    }

    #[test]
    fn plain_growth_is_exported_as_is() {
        let t0 = Instant::now();
        let mut c = MonotonicCounters::new(Duration::from_secs(60));
        assert_eq!(pass(&mut c, &[("a", 3)], t0), [3]);
        assert_eq!(pass(&mut c, &[("a", 7)], t0 + Duration::from_secs(1)), [7]);
    }

    #[test]
    fn a_kernel_reset_continues_from_the_last_value() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = MonotonicCounters::new(Duration::from_secs(60));
        pass(&mut c, &[("a", 100)], t0);
        // Deleted and re-added between scrapes: the kernel starts again at 4.
        assert_eq!(pass(&mut c, &[("a", 4)], t0 + s), [104]);
        assert_eq!(pass(&mut c, &[("a", 10)], t0 + 2 * s), [110]);
        // Every counter of the series gets its own offset.
        c.begin_pass(1);
        let all = c.observe(&"a", raw(1), t0 + 3 * s);
        assert_eq!(all, [111, 1110, 555, 111_000, 55_500]);
    }

    #[test]
    fn a_vanished_series_that_returns_does_not_go_backwards_or_double_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = MonotonicCounters::new(Duration::from_secs(60));
        pass(&mut c, &[("a", 50), ("b", 1)], t0);
        pass(&mut c, &[("b", 2)], t0 + s); // "a" drained and deleted
        // "a" is added again and already has more than before: it is still a new object.
        assert_eq!(pass(&mut c, &[("a", 60), ("b", 3)], t0 + 2 * s), [110, 3]);
    }

    #[test]
    fn the_same_snapshot_twice_is_idempotent() {
        let t0 = Instant::now();
        let mut c = MonotonicCounters::new(Duration::from_secs(60));
        pass(&mut c, &[("a", 9)], t0);
        assert_eq!(pass(&mut c, &[("a", 9)], t0), [9]);
        assert_eq!(pass(&mut c, &[("a", 9)], t0), [9]);
    }

    #[test]
    fn vanished_series_are_forgotten_after_the_retention() {
        let t0 = Instant::now();
        let mut c = MonotonicCounters::new(Duration::from_secs(10));
        pass(&mut c, &[("a", 5), ("b", 5)], t0);
        pass(&mut c, &[("b", 6)], t0 + Duration::from_secs(5));
        assert_eq!(c.len(), 2, "a is kept within the retention");
        pass(&mut c, &[("b", 7)], t0 + Duration::from_secs(11));
        assert_eq!(c.len(), 1, "a is dropped after the retention");
        // Forgotten: a new "a" starts from its raw value again.
        assert_eq!(pass(&mut c, &[("a", 2)], t0 + Duration::from_secs(12)), [2]);
    }
}
