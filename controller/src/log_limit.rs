//! Warnings that can repeat many times a second (a flood of refused connections, accept errors,
//! probes without a verdict) are logged at most once per period, with how many were held back,
//! so the log stays readable and cheap while the counters keep the exact numbers.

use std::time::Duration;

use tokio::time::Instant;

/// Decides whether a repeated warning may be logged now.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    period: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogLimiter {
    /// At most one log per `period`.
    pub(crate) const fn new(period: Duration) -> Self {
        LogLimiter {
            period,
            last: None,
            held_back: 0,
        }
    }

    /// Records one occurrence at `now`; `Some(held back since the last log)` when it may be
    /// logged, `None` when it is held back.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.period => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_period_and_counts_the_rest() {
        let mut limiter = LogLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(limiter.allow(start), Some(0));
        for i in 1..=5 {
            assert_eq!(limiter.allow(start + Duration::from_secs(i)), None);
        }
        assert_eq!(limiter.allow(start + Duration::from_secs(10)), Some(5));
        assert_eq!(limiter.allow(start + Duration::from_secs(11)), None);
    }
}
