//! The delete guard: a plan that would remove too many managed services at once is refused
//! unless forced. Pure.
//!
//! It protects against an empty, truncated or mis-edited ConfigMap flushing the director.
//! Rules: nothing to remove passes; `force` passes; removing *every* managed service is always
//! refused (so 1 of 1 is refused, whatever the share: a small table gets no free pass);
//! otherwise the share `removed / managed` must not exceed `max_delete_share` (a share that is
//! not a finite number counts as 0). Only services the plan *starts* removing count: a drain
//! that an earlier plan started (recorded in the drain book) continues without a new check.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::plan::{Plan, PlanOptions};

/// The guard refused a plan; its message says what and how to override.
#[derive(Debug, Clone, PartialEq, Error, Serialize, Deserialize)]
pub struct GuardRefusal {
    /// Managed services the plan would start removing.
    pub removals: usize,
    /// Managed services in the kernel.
    pub managed: usize,
    /// The configured limit.
    pub max_delete_share: f64,
}

impl fmt::Display for GuardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removals >= self.managed {
            write!(
                f,
                "refusing to remove all {} managed IPVS services: removing every managed \
                 service always needs --force",
                self.managed
            )?;
        } else {
            let percent = self.removals as f64 * 100.0 / self.managed as f64;
            write!(
                f,
                "refusing to remove {} of {} managed IPVS services ({percent:.0}%, limit {:.0}%)",
                self.removals,
                self.managed,
                self.max_delete_share * 100.0
            )?;
        }
        f.write_str(
            "; nothing was deleted or drained. Check the configuration, or re-run with --force \
             to apply the removal",
        )
    }
}

/// Checks a plan against the delete limit (see the module doc for the rules).
pub fn guard(plan: &Plan, options: &PlanOptions) -> Result<(), GuardRefusal> {
    let removals = plan.deletes_services;
    let managed = plan.managed_services_before;
    if options.force || removals == 0 {
        return Ok(());
    }
    let limit = if options.max_delete_share.is_finite() {
        options.max_delete_share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // The epsilon keeps an exact hit of the limit (29 of 100 at 0.29) on the allowed side.
    let refuse = removals >= managed || removals as f64 > limit * managed as f64 + 1e-9;
    if refuse {
        Err(GuardRefusal {
            removals,
            managed,
            max_delete_share: limit,
        })
    } else {
        Ok(())
    }
}
