//! The delete guard: a plan that would remove too many managed services, or too many managed
//! real servers, at once is refused unless forced. Pure.
//!
//! It protects against an empty, truncated or mis-edited ConfigMap flushing the director, and
//! against an EndpointSlice emptied by mistake removing the real servers of a VIP whose service
//! stays. Rules, checked for services first, then for real servers (destinations): nothing to
//! remove passes; `force` passes; removing *every* managed service is always refused (so 1 of 1
//! is refused, whatever the share: a small table gets no free pass); otherwise the share
//! `removed / managed` must not exceed `max_delete_share` (a share that is not a finite number
//! counts as 0). Real servers get the same rules, except that removing at most
//! [`MAX_FREE_REAL_SERVER_REMOVALS`] never trips them (a table of three real servers may lose
//! one or two without `--force`). Only removals the plan *starts* count: a real server counts
//! when it is first quiesced for its drain (or deleted at once, when it has no connections),
//! and the real servers of a removed service count with it; a drain that an earlier plan
//! started (recorded in the drain book) continues without a new check.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::plan::{Plan, PlanOptions};

/// Removing at most this many real servers in one plan never trips the real-server rule.
pub const MAX_FREE_REAL_SERVER_REMOVALS: usize = 2;

/// What a refused plan removes too many of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarded {
    /// IPVS services (virtual services).
    #[default]
    Services,
    /// Real servers (IPVS destinations).
    RealServers,
}

impl fmt::Display for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Guarded::Services => "IPVS services",
            Guarded::RealServers => "real servers",
        })
    }
}

/// The guard refused a plan; its message says what and how to override.
#[derive(Debug, Clone, PartialEq, Error, Serialize, Deserialize)]
pub struct GuardRefusal {
    /// What the plan removes too many of.
    #[serde(default)]
    pub what: Guarded,
    /// Managed services (or real servers) the plan would start removing.
    pub removals: usize,
    /// Managed services (or real servers) in the kernel.
    pub managed: usize,
    /// The configured limit.
    pub max_delete_share: f64,
}

impl fmt::Display for GuardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.what;
        if self.removals >= self.managed {
            let one = match what {
                Guarded::Services => "service",
                Guarded::RealServers => "real server",
            };
            write!(
                f,
                "refusing to remove all {} managed {what}: removing every managed {one} always \
                 needs --force",
                self.managed
            )?;
        } else {
            let percent = self.removals as f64 * 100.0 / self.managed as f64;
            write!(
                f,
                "refusing to remove {} of {} managed {what} ({percent:.0}%, limit {:.0}%)",
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
    if options.force {
        return Ok(());
    }
    let limit = if options.max_delete_share.is_finite() {
        options.max_delete_share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let checks = [
        (
            Guarded::Services,
            plan.deletes_services,
            plan.managed_services_before,
            0,
        ),
        (
            Guarded::RealServers,
            plan.deletes_destinations,
            plan.managed_destinations_before,
            MAX_FREE_REAL_SERVER_REMOVALS,
        ),
    ];
    for (what, removals, managed, free) in checks {
        if removals <= free {
            continue;
        }
        // The epsilon keeps an exact hit of the limit (29 of 100 at 0.29) on the allowed side.
        if removals >= managed || removals as f64 > limit * managed as f64 + 1e-9 {
            return Err(GuardRefusal {
                what,
                removals,
                managed,
                max_delete_share: limit,
            });
        }
    }
    Ok(())
}
