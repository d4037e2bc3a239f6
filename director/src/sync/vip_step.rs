//! The VIP step that follows a pass of the director: the addresses on the VIP interface
//! (rtnetlink, async), brought to the VIPs the pass left serving.
//!
//! It runs in async context after the blocking pass returned (the daemon after its
//! `spawn_blocking`, `lbctl apply` on its one current-thread runtime): no runtime is nested.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::{PassInput, PassOutcome, Step, StepError, StepFailure, wanted_vips};
use lb_ipvs_sync::reconcile::Scope;
use lb_ipvs_sync::vip::{VipError, VipInterface, VipPlan, plan_vips};
use tracing::info;

/// The longest the VIP step (rtnetlink) may take; it is a handful of requests.
pub const VIP_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the VIP step did.
#[derive(Debug, Clone, Default)]
pub struct VipOutcome {
    /// The changes made; `None` when the step failed or was skipped (nothing to change).
    pub plan: Option<VipPlan>,
    /// The VIPs on the interface after the step, when known to be right (the step succeeded,
    /// or a focused pass found the wanted set unchanged).
    pub on_interface: Option<BTreeSet<IpAddr>>,
    /// The wanted VIPs known to be on the interface, also when the step failed part-way: BGP
    /// announces only these.
    pub confirmed: BTreeSet<IpAddr>,
}

/// Brings `interface` to the VIPs the pass left serving ([`wanted_vips`]); a failure is added
/// to the pass's step errors. Skips the interface when `last` (what the last clean pass left,
/// for a focused pass) equals the wanted set. `None` when the table after the pass is
/// unknown: nothing is confirmed then.
pub async fn sync_vips_after(
    pass: &mut PassOutcome,
    input: &PassInput,
    interface: &str,
    last: Option<&BTreeSet<IpAddr>>,
) -> Option<VipOutcome> {
    let after = pass.after.as_ref()?;
    let wanted = wanted_vips(&input.desired_vips, after, &input.scope);
    if last == Some(&wanted) {
        return Some(VipOutcome {
            plan: None,
            on_interface: Some(wanted.clone()),
            confirmed: wanted,
        });
    }
    let mut confirmed = BTreeSet::new();
    // Bounded like every kernel call: a hung rtnetlink must not hold the daemon's pass.
    let step = tokio::time::timeout(
        VIP_STEP_TIMEOUT,
        apply_vips(interface, &wanted, &input.scope, &mut confirmed),
    )
    .await
    .unwrap_or(Err(VipError::Timeout(VIP_STEP_TIMEOUT)));
    Some(match step {
        Ok(plan) => VipOutcome {
            plan: Some(plan),
            on_interface: Some(wanted),
            confirmed,
        },
        Err(source) => {
            pass.step_errors.push(StepError::new(
                Step::Vips,
                StepFailure::Vips {
                    interface: interface.to_owned(),
                    source,
                },
            ));
            VipOutcome {
                plan: None,
                on_interface: None,
                confirmed,
            }
        }
    })
}

/// Brings the interface's addresses to `wanted`; `confirmed` collects the wanted VIPs known
/// to be on it, also when a step fails part-way (nothing, when the interface itself fails).
async fn apply_vips(
    interface: &str,
    wanted: &BTreeSet<IpAddr>,
    scope: &Scope,
    confirmed: &mut BTreeSet<IpAddr>,
) -> Result<VipPlan, VipError> {
    let vips = VipInterface::ensure(interface).await?;
    let present = vips.addresses().await?;
    confirmed.extend(wanted.intersection(&present));
    let plan = plan_vips(wanted, &present, &scope.managed);
    for vip in &plan.add {
        vips.add(*vip).await?;
        confirmed.insert(*vip);
    }
    for vip in &plan.remove {
        vips.remove(*vip).await?;
    }
    info!(
        interface,
        added = plan.add.len(),
        removed = plan.remove.len(),
        "VIPs in sync"
    );
    Ok(plan)
}
