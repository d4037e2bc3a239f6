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
use super::sync::{SyncError, SyncReport, execute};
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
        services.extend(
            wanted
                .iter()
                .filter(|(id, want)| previous.get(id) != Some(want))
                .map(|(id, _)| *id),
        );
        services.extend(previous.keys().filter(|id| !wanted.contains_key(id)));
        services.extend(
            table
                .services
                .keys()
                .filter(|id| scope.contains(id) && !wanted.contains_key(id)),
        );
        let managed = table.services.iter().filter(|(id, _)| scope.contains(id));
        let (managed_services, managed_destinations) =
            managed.fold((0, 0), |(services, destinations), (_, have)| {
                (services + 1, destinations + have.destinations.len())
            });
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
    let observed = kernel
        .read_services(&focus.services)
        .map_err(SyncError::Dump)?;
    let focused: BTreeMap<ServiceId, WantedService> = wanted
        .iter()
        .filter(|(id, _)| focus.services.contains(id))
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
    Ok(report)
}
