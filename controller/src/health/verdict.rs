//! Rise/fall counting and the publication of per-check verdicts as [`HealthResults`].
//!
//! Pure: no I/O, no clock. A check starts without a verdict (the desired-state builder treats
//! that as healthy, so a restart does not quiesce everything); `rise` consecutive successes
//! make it healthy, `fall` consecutive failures unhealthy. A real server checked by several
//! services (same address and port behind two VIPs) has one verdict per service: each
//! service's own check decides its weight there.

use lb_config::HealthResults;

use super::check::CheckKey;

/// Rise/fall state of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RiseFall {
    verdict: Option<bool>,
    successes: u32,
    failures: u32,
}

impl RiseFall {
    /// Records one probe result; returns the new verdict when it changed.
    pub(crate) fn record(&mut self, ok: bool, rise: u32, fall: u32) -> Option<bool> {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            if self.verdict != Some(true) && self.successes >= rise.max(1) {
                self.verdict = Some(true);
                return self.verdict;
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            if self.verdict != Some(false) && self.failures >= fall.max(1) {
                self.verdict = Some(false);
                return self.verdict;
            }
        }
        None
    }

    /// The state a replaced check starts from: the verdict stays, the counts start again
    /// (they counted results of the old check).
    pub(crate) fn carried(&self) -> RiseFall {
        RiseFall {
            verdict: self.verdict,
            ..RiseFall::default()
        }
    }

    /// The current verdict (`None` until rise or fall was reached once).
    pub(crate) fn verdict(&self) -> Option<bool> {
        self.verdict
    }
}

/// Publishes the checks that have a verdict (without one, a check is absent: unknown counts
/// as healthy).
pub(crate) fn combine<'a>(
    verdicts: impl IntoIterator<Item = (&'a CheckKey, Option<bool>)>,
) -> HealthResults {
    verdicts
        .into_iter()
        .filter_map(|(key, verdict)| Some(((key.service, key.real_server), verdict?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_config::{Protocol, RealServerKey, ServiceKey};

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let mut rf = RiseFall::default();
        assert_eq!(rf.record(false, 2, 3), None);
        assert_eq!(rf.record(false, 2, 3), None);
        assert_eq!(
            rf.record(true, 2, 3),
            None,
            "a success resets the failure streak"
        );
        assert_eq!(rf.record(false, 2, 3), None);
        assert_eq!(rf.record(false, 2, 3), None);
        assert_eq!(rf.record(false, 2, 3), Some(false));
        assert_eq!(rf.record(false, 2, 3), None, "no repeated flip");
        assert_eq!(rf.record(true, 2, 3), None);
        assert_eq!(rf.record(true, 2, 3), Some(true));
        assert_eq!(rf.verdict(), Some(true));
    }

    #[test]
    fn a_carried_state_keeps_the_verdict_and_counts_afresh() {
        let mut rf = RiseFall::default();
        assert_eq!(rf.record(false, 1, 1), Some(false));
        assert_eq!(rf.record(true, 3, 1), None);
        let mut carried = rf.carried();
        assert_eq!(carried.verdict(), Some(false));
        assert_eq!(
            carried.record(true, 2, 1),
            None,
            "the old check's success is not counted"
        );
        assert_eq!(carried.record(true, 2, 1), Some(true));
        assert_eq!(RiseFall::default().carried(), RiseFall::default());
    }

    #[test]
    fn a_shared_real_server_has_one_verdict_per_service() {
        let rs = RealServerKey {
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let key = |port| CheckKey {
            service: ServiceKey {
                vip: "203.0.113.1".parse().unwrap(),
                protocol: Protocol::Tcp,
                port,
            },
            real_server: rs,
        };
        let (a, b) = (key(80), key(81));
        let both = combine([(&a, Some(true)), (&b, Some(false))]);
        assert_eq!(both.verdict(&a.service, &rs), Some(true));
        assert_eq!(both.verdict(&b.service, &rs), Some(false));
        let one = combine([(&a, Some(true)), (&b, None)]);
        assert_eq!(one.verdict(&b.service, &rs), None);
        assert!(one.is_healthy(&b.service, &rs), "unknown counts as healthy");
        assert!(combine([(&a, None), (&b, None)]).by_check.is_empty());
    }
}
