//! Coalescing bursts of input changes into one sync.
//!
//! Pure: time is a parameter. A change that comes after a quiet spell (nothing noted and no
//! sync for `quiet`) is synced at once: a lone edit should not wait for company. A change that
//! follows another change or a sync within `quiet` arms the timer instead; each further change
//! pushes the sync back by `quiet` (the debounce), but never later than `max_delay` after the
//! first change of the burst, so a steady trickle of changes still gets programmed. A burst
//! therefore costs at most two syncs: its first change, then the rest together.

use std::time::Duration;

use tokio::time::Instant;

/// The debounce state of the core loop.
#[derive(Debug, Clone)]
pub(crate) struct Coalescer {
    quiet: Duration,
    max_delay: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    /// The pending burst started after a quiet spell: sync it at once.
    leading: bool,
    /// When the last sync started (or the loop started, which counts as one).
    last_sync: Instant,
}

impl Coalescer {
    /// Waits `quiet` after the last change, at most `max_delay` after the first; the loop
    /// starts at `start`, which counts as a sync (the inputs' first values are coalesced).
    pub(crate) fn new(quiet: Duration, max_delay: Duration, start: Instant) -> Self {
        Coalescer {
            quiet,
            max_delay: max_delay.max(quiet),
            first: None,
            last: None,
            leading: false,
            last_sync: start,
        }
    }

    /// Records a change at `now`.
    pub(crate) fn note(&mut self, now: Instant) {
        if self.first.is_none() {
            self.leading = now.saturating_duration_since(self.last_sync) >= self.quiet;
        } else {
            // A second change before the first was synced: the burst waits for quiet.
            self.leading = false;
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pending burst should be synced; `None` when nothing is pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        if self.leading {
            return Some(first);
        }
        Some((last + self.quiet).min(first + self.max_delay))
    }

    /// Whether a change is pending.
    pub(crate) fn is_pending(&self) -> bool {
        self.first.is_some()
    }

    /// Forgets the pending burst: a sync starts at `now`.
    pub(crate) fn clear(&mut self, now: Instant) {
        self.first = None;
        self.last = None;
        self.leading = false;
        self.last_sync = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn burst_waits_for_quiet_but_not_past_max_delay() {
        let t0 = Instant::now();
        // The loop started just now: the first change is part of the start-up burst.
        let mut c = Coalescer::new(ms(150), ms(1000), t0);
        assert_eq!(c.deadline(), None);
        c.note(t0);
        assert_eq!(c.deadline(), Some(t0 + ms(150)));
        c.note(t0 + ms(100));
        assert_eq!(c.deadline(), Some(t0 + ms(250)));
        // A change every 100 ms forever: capped at first + 1 s.
        for i in 2..30 {
            c.note(t0 + ms(100 * i));
        }
        assert_eq!(c.deadline(), Some(t0 + ms(1000)));
        assert!(c.is_pending());
        c.clear(t0 + ms(1000));
        assert_eq!(c.deadline(), None);
        assert!(!c.is_pending());
    }

    #[test]
    fn a_lone_change_after_a_quiet_spell_is_synced_at_once() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(150), ms(1000), t0);
        c.note(t0 + ms(5000));
        assert_eq!(c.deadline(), Some(t0 + ms(5000)), "a lone change waited");

        // Its follower, 20 ms after that sync started, waits for quiet: a burst costs two syncs.
        c.clear(t0 + ms(5000));
        c.note(t0 + ms(5020));
        assert_eq!(c.deadline(), Some(t0 + ms(5170)));
        c.clear(t0 + ms(5170));

        // Exactly `quiet` after the last sync counts as quiet again.
        c.note(t0 + ms(5320));
        assert_eq!(c.deadline(), Some(t0 + ms(5320)));
        // A second change before the first was synced turns it into a burst.
        c.note(t0 + ms(5321));
        assert_eq!(c.deadline(), Some(t0 + ms(5471)));
    }
}
