//! Focused passes: read and plan only the services a change touches.
//!
//! A full pass dumps the whole table: with thousands of services, one endpoint change would
//! cost thousands of netlink round trips. A focused pass reads only the services of its
//! [`Focus`] (a GET_SERVICE and a destination dump each), plans them with the same [`plan`],
//! guards with the managed count of the whole table, and leaves every other service, and its
//! drain deadlines, as they are.
//!
//! Contract: [`Focus::between`] is pure. The planner treats services independently (the writes
//! for a service depend only on its wanted table, its kernel entry and its drain deadlines), so a
//! focused pass writes for each of its services exactly what a full pass would; the property
//! tests check this. Choosing the focus carries the risk of missing a change made behind our
//! back: the daemon takes focused passes only after a clean pass, and still runs a full pass
//! every resync period, which repairs such drift.

use std::collections::{BTreeMap, BTreeSet};

use super::drain::DrainBook;
use super::plan::{PlanOptions, plan};
use super::scope::Scope;
use super::sync::{SyncError, SyncReport, Synced, execute};
use crate::kernel::IpvsKernel;
use crate::model::{IpvsTable, ServiceId};
use crate::wanted::WantedService;

/// The services a focused pass reads and plans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Focus {
    /// Services to read, plan and possibly write.
    pub services: BTreeSet<ServiceId>,
    /// Managed services in the whole kernel table: the delete guard's denominator.
    pub managed_services: usize,
    /// Real servers of those services: the guard's other denominator.
    pub managed_destinations: usize,
}

impl Focus {
    /// What changed since the last clean pass: services whose wanted entry differs from `previous`
    /// (added, edited or removed), every service with a drain deadline (its connection counts
    /// decide when the drain ends), and every managed service of `table` that the wanted table does
    /// not hold. `table` is the kernel table after the last clean pass.
    pub fn between(
        previous: &BTreeMap<ServiceId, WantedService>,
        wanted: &BTreeMap<ServiceId, WantedService>,
        table: &IpvsTable,
        drain: &DrainBook,
        scope: &Scope,
    ) -> Focus {
        let mut services = drain.services();
        // The same map (the caller kept the last pass's table: nothing was rebuilt) changed
        // nothing; otherwise one ordered walk over both, no lookups.
        if !std::ptr::eq(previous, wanted) {
            services.extend(changed_keys(previous, wanted));
        }
        let (mut managed_services, mut managed_destinations) = (0, 0);
        for (id, have) in &table.services {
            if !scope.contains(id) {
                continue;
            }
            managed_services += 1;
            managed_destinations += have.destinations.len();
            if !wanted.contains_key(id) {
                services.insert(*id);
            }
        }
        Focus {
            services,
            managed_services,
            managed_destinations,
        }
    }

    /// Whether nothing needs to be read or written.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The keys whose entry differs between two ordered maps (added, changed or removed), in one
/// walk over both.
fn changed_keys<'a>(
    previous: &'a BTreeMap<ServiceId, WantedService>,
    wanted: &'a BTreeMap<ServiceId, WantedService>,
) -> Vec<ServiceId> {
    let mut changed = Vec::new();
    let mut old = previous.iter().peekable();
    let mut new = wanted.iter().peekable();
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((id, _)), None) => {
                changed.push(**id);
                old.next();
            }
            (None, Some((id, _))) => {
                changed.push(**id);
                new.next();
            }
            (Some((a, was)), Some((b, now))) => match a.cmp(b) {
                std::cmp::Ordering::Less => {
                    changed.push(**a);
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    changed.push(**b);
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if was != now {
                        changed.push(**a);
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
    changed
}

/// One focused pass: read the focus's services, plan them, guard, apply. Deadlines of services
/// outside the focus are carried over unchanged in the report's drain book.
pub fn sync_focused<K: IpvsKernel>(
    kernel: &mut K,
    wanted: &BTreeMap<ServiceId, WantedService>,
    scope: &Scope,
    drain: &DrainBook,
    now: u64,
    options: &PlanOptions,
    focus: &Focus,
) -> Result<SyncReport, SyncError> {
    sync_focused_observed(kernel, wanted, scope, drain, now, options, focus)
        .map(|synced| synced.report)
}

/// [`sync_focused`], also handing back the focus's services as it read them. Only the focus's
/// wanted services are looked up and planned: the work is in proportion to the focus, not to
/// the wanted table.
pub fn sync_focused_observed<K: IpvsKernel>(
    kernel: &mut K,
    wanted: &BTreeMap<ServiceId, WantedService>,
    scope: &Scope,
    drain: &DrainBook,
    now: u64,
    options: &PlanOptions,
    focus: &Focus,
) -> Result<Synced, SyncError> {
    let observed = kernel
        .read_services(&focus.services)
        .map_err(SyncError::Dump)?;
    let focused: BTreeMap<ServiceId, WantedService> = focus
        .services
        .iter()
        .filter_map(|id| wanted.get_key_value(id))
        .map(|(id, want)| (*id, want.clone()))
        .collect();
    let (inside, outside) = drain.split(&focus.services);
    let mut planned = plan(&focused, &observed, scope, &inside, now, options);
    planned.managed_services_before = planned.managed_services_before.max(focus.managed_services);
    planned.managed_destinations_before = planned
        .managed_destinations_before
        .max(focus.managed_destinations);
    let mut report = execute(kernel, planned, options);
    report.drain.merge(outside);
    Ok(Synced { observed, report })
}
