//! Coalescing bursts of input changes into one sync.
//!
//! Pure: time is a parameter. A change arms the timer; each further change pushes the sync back
//! by `quiet` (the debounce), but never later than `max_delay` after the first change of the
//! burst, so a steady trickle of changes still gets programmed.

use std::time::Duration;

use tokio::time::Instant;

/// The debounce state of the core loop.
#[derive(Debug, Clone)]
pub(crate) struct Coalescer {
    quiet: Duration,
    max_delay: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Coalescer {
    /// Waits `quiet` after the last change, at most `max_delay` after the first.
    pub(crate) fn new(quiet: Duration, max_delay: Duration) -> Self {
        Coalescer {
            quiet,
            max_delay: max_delay.max(quiet),
            first: None,
            last: None,
        }
    }

    /// Records a change at `now`.
    pub(crate) fn note(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pending burst should be synced; `None` when nothing is pending.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_delay))
    }

    /// Whether a change is pending.
    pub(crate) fn is_pending(&self) -> bool {
        self.first.is_some()
    }

    /// Forgets the pending burst (a sync is starting).
    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_waits_for_quiet_but_not_past_max_delay() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut c = Coalescer::new(ms(150), ms(1000));
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
        c.clear();
        assert_eq!(c.deadline(), None);
        assert!(!c.is_pending());
    }
}
