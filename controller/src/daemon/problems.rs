//! ConfigMap problems: the metric by key, and each new problem reported once (as a Kubernetes
//! Event on the ConfigMap, or a log line without a cluster), not once per sync.
//!
//! [`ProblemTracker`] is pure; [`ProblemSink`] is the seam to the outside.

use std::collections::{BTreeMap, BTreeSet};

use lb_config::Problem;
use lb_ipvs_sync::reconcile::utc_timestamp;
use tracing::warn;

use super::status::KeptKey;
use crate::metrics::ControllerMetrics;

/// Where new problems go (Kubernetes Events, or the log).
pub trait ProblemSink: Send + Sync {
    /// Reports problems that were not present at the previous build. Must not block.
    fn report(&self, problems: Vec<Problem>);

    /// Reports keys served from their last good version since this build (each once, until
    /// it is no longer kept). Must not block. Default: a log line each.
    fn kept(&self, keys: Vec<KeptKey>) {
        for k in &keys {
            log_kept(k);
        }
    }
}

/// The log line of a key served from its last good version.
pub(crate) fn log_kept(k: &KeptKey) {
    warn!(
        key = %k.key,
        from = k.from.describe(),
        version_since = %utc_timestamp(k.version_since),
        "serving the last good version of a ConfigMap key: its current value is rejected"
    );
}

/// What an operator reads about a kept key (log line, Kubernetes Event note).
pub(crate) fn kept_note(k: &KeptKey) -> String {
    let origin = k.from.describe();
    format!(
        "key {}: its current value is rejected (see its InvalidKey problems); serving its last \
         good version ({origin}), which first built cleanly at {}",
        k.key,
        utc_timestamp(k.version_since)
    )
}

/// Logs each new problem (file mode, tests).
#[derive(Debug, Default)]
pub struct LogSink;

impl ProblemSink for LogSink {
    fn report(&self, problems: Vec<Problem>) {
        for p in problems {
            warn!(key = %p.key, severity = %p.severity, problem = %p, "ConfigMap problem");
        }
    }
}

/// The problems of the previous build.
#[derive(Debug, Default)]
pub(crate) struct ProblemTracker {
    current: BTreeSet<Problem>,
}

impl ProblemTracker {
    /// Replaces the current problems; returns those that are new.
    pub(crate) fn update(&mut self, problems: &[Problem]) -> Vec<Problem> {
        let next: BTreeSet<Problem> = problems.iter().cloned().collect();
        let new = next.difference(&self.current).cloned().collect();
        self.current = next;
        new
    }
}

/// Sets `lbctl_config_problems{key, severity}` to the count of current problems per key.
pub(crate) fn record_metric(metrics: &ControllerMetrics, problems: &[Problem]) {
    let mut counts: BTreeMap<(&str, String), i64> = BTreeMap::new();
    for p in problems {
        *counts
            .entry((p.key.as_str(), p.severity.to_string()))
            .or_default() += 1;
    }
    metrics.config_problems.reset();
    for ((key, severity), n) in counts {
        metrics
            .config_problems
            .with_label_values(&[key, severity.as_str()])
            .set(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::KeptFrom;

    #[test]
    fn only_new_problems_are_reported_and_a_returning_one_is_new_again() {
        let a = Problem::error("k1", None, "bad");
        let b = Problem::warning("k2", None, "meh");
        let mut t = ProblemTracker::default();
        assert_eq!(t.update(std::slice::from_ref(&a)), vec![a.clone()]);
        assert!(
            t.update(std::slice::from_ref(&a)).is_empty(),
            "deduplicated across syncs"
        );
        assert_eq!(t.update(&[a.clone(), b.clone()]), vec![b.clone()]);
        assert!(t.update(&[]).is_empty());
        assert_eq!(t.update(std::slice::from_ref(&a)), vec![a]);
    }

    #[test]
    fn metric_counts_problems_per_key_and_clears_fixed_keys() {
        let m = ControllerMetrics::new().unwrap();
        record_metric(
            &m,
            &[
                Problem::error("k1", None, "x"),
                Problem::error("k1", None, "y"),
            ],
        );
        assert_eq!(
            m.config_problems.with_label_values(&["k1", "error"]).get(),
            2
        );
        record_metric(&m, &[]);
        let families = prometheus::core::Collector::collect(&m.config_problems);
        assert!(families.iter().all(|f| f.get_metric().is_empty()));
    }

    // Fails if the note drops the key or does not say a restart's version came from the
    // state file (operators could not tell a restart's kept version from an in-memory one).
    #[test]
    fn the_kept_note_names_the_key_and_its_origin() {
        let k = KeptKey {
            key: "10.0.0.1-80".to_owned(),
            kept_since: 9,
            version_since: 7,
            from: KeptFrom::StateFile,
        };
        let note = kept_note(&k);
        assert!(note.contains("10.0.0.1-80"), "{note}");
        assert!(note.contains("state file"), "{note}");
        let memory = kept_note(&KeptKey {
            from: KeptFrom::Memory,
            ..k
        });
        assert!(!memory.contains("state file"), "{memory}");
    }
}
