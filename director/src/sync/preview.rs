//! A pass without writes (`lbctl diff`): the same input and the same planner as
//! [`super::sync_director`], stopped before the first write.

use lb_ipvs_sync::reconcile::{GuardRefusal, Plan, guard, plan};
use lb_ipvs_sync::{IpvsError, IpvsKernel};

use super::input::PassInput;

/// What a whole pass would write now.
#[derive(Debug)]
pub struct Preview {
    /// The writes, in order.
    pub plan: Plan,
    /// Why the delete guard would hold deletions back, if it would.
    pub refusal: Option<GuardRefusal>,
}

/// Dumps the table and plans `input` against it, as a whole pass would; writes nothing (the
/// netfilter side is compared by [`super::check_netfilter`] and [`super::check_sysctls`]).
pub fn preview<K: IpvsKernel>(kernel: &mut K, input: &PassInput) -> Result<Preview, IpvsError> {
    let observed = kernel.dump()?;
    let plan = plan(
        &input.wanted,
        &observed,
        &input.scope,
        &input.drain,
        input.now,
        &input.options,
    );
    let refusal = guard(&plan, &input.options).err();
    Ok(Preview { plan, refusal })
}
