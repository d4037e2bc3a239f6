//! How a pass ended, typed: the verdict and the failure reason, and the one place their texts
//! are spelled (the `result`/`reason` labels of `lbctl_syncs_total` and `last_sync.result` in
//! `/status` are user contracts).

use lb_director::sync::PassOutcome;

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Everything written and every step done.
    Ok,
    /// The delete guard held deletions back; the rest was written.
    Guarded,
    /// Some writes were refused or skipped, or a step failed.
    Failed,
    /// The pass could not start (nothing written).
    Error,
}

/// Why a pass did not end well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// It did.
    None,
    /// The kernel or a tool did not answer in time.
    Timeout,
    /// Anything else.
    Error,
}

impl Verdict {
    /// The verdict of a pass that ran: failed writes first, then the guard, then steps.
    pub(crate) fn of(outcome: &PassOutcome) -> (Verdict, Reason) {
        let report = &outcome.report;
        let verdict = if !report.failed.is_empty() || !report.skipped.is_empty() {
            Verdict::Failed
        } else if report.guard_refusal.is_some() {
            Verdict::Guarded
        } else if !outcome.step_errors.is_empty() {
            Verdict::Failed
        } else {
            Verdict::Ok
        };
        let reason = match verdict {
            Verdict::Ok | Verdict::Guarded => Reason::None,
            _ if outcome.timed_out() => Reason::Timeout,
            _ => Reason::Error,
        };
        (verdict, reason)
    }

    /// Whether the pass counts as a success (readiness, latency).
    pub(crate) fn succeeded(self) -> bool {
        matches!(self, Verdict::Ok | Verdict::Guarded)
    }

    /// `ok`, `guarded`, `failed` or `error`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Guarded => "guarded",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
        }
    }
}

impl Reason {
    /// `none`, `timeout` or `error`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::Timeout => "timeout",
            Reason::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are what dashboards and `/status` readers match on.
    #[test]
    fn labels_keep_their_texts() {
        let verdicts: Vec<&str> = [
            Verdict::Ok,
            Verdict::Guarded,
            Verdict::Failed,
            Verdict::Error,
        ]
        .into_iter()
        .map(Verdict::label)
        .collect();
        assert_eq!(verdicts, ["ok", "guarded", "failed", "error"]);
        let reasons: Vec<&str> = [Reason::None, Reason::Timeout, Reason::Error]
            .into_iter()
            .map(Reason::label)
            .collect();
        assert_eq!(reasons, ["none", "timeout", "error"]);
    }
}
