//! Planning: wanted table + kernel dump + drain book + time -> ordered operations. Pure.
//!
//! Order (each group sorted by service, then destination): add services, edit services, add
//! destinations, edit destinations, quiesce leaving destinations (weight 0), delete drained
//! destinations, delete drained services. Settings are always edited in place.
//!
//! Draining:
//! - A destination in the kernel but not in the wanted table, in a service that stays, is quiesced
//!   and gets the deadline `now + timeout` (UDP services use the UDP timeout, which may be 0 =
//!   delete at once). It is deleted once `active + inactive == 0` or the deadline passed. A
//!   deadline already in the book is kept; if the book lost it (weight 0, not desired, no
//!   entry), a fresh `now + timeout` is started: a restart can lengthen a drain, never cut it.
//! - A service in scope but not in the wanted table drains as a whole: all its destinations are
//!   quiesced, and the service is deleted once all of them have no connections or the service's
//!   deadline passed. This keeps established connections alive across a config removal.
//! - A destination or service that comes back into the wanted table is simply edited back; its
//!   deadline is dropped, as are deadlines of objects that vanished from the kernel. Deadlines of
//!   objects deleted by this plan stay until the kernel no longer has them, so a failed delete
//!   is retried instead of restarting the drain.

use std::collections::BTreeMap;
use std::fmt;

use lb_config::{Protocol, RealServerKey};
use serde::{Deserialize, Serialize};

use super::compare::{same_destination, same_service};
use super::drain::{DrainBook, DrainStatus};
use super::scope::Scope;
use crate::model::{
    IpvsTable, ObservedDestination, ObservedService, Operation, ServiceId, ServiceSpec,
};
use crate::wanted::WantedService;

/// Knobs of planning and of the delete guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Largest share (0.0..=1.0) of the managed services, and of the managed real servers, one
    /// plan may start removing; beyond it [`guard`](super::guard) refuses. Removing every
    /// managed service always needs `force`.
    pub max_delete_share: f64,
    /// Skip the guard (`--force`).
    pub force: bool,
    /// Drain time for TCP and SCTP services, in seconds.
    pub drain_timeout_secs: u64,
    /// Drain time for UDP services (0 = delete at once: UDP "connections" are only timers).
    pub udp_drain_timeout_secs: u64,
}

impl Default for PlanOptions {
    /// Half the services per plan, 5 minutes of TCP drain, 1 minute of UDP drain.
    fn default() -> Self {
        PlanOptions {
            max_delete_share: 0.5,
            force: false,
            drain_timeout_secs: 300,
            udp_drain_timeout_secs: 60,
        }
    }
}

/// Why a wanted service was not planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Its VIP is outside the managed ranges (or it is a fwmark service).
    OutOfScope,
}

/// A wanted service the planner refused to program (defence in depth: config should have
/// rejected it already).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The service.
    pub service: ServiceId,
    /// Why.
    pub reason: RefusalReason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            RefusalReason::OutOfScope => write!(
                f,
                "refused {}: VIP outside the managed ranges",
                self.service
            ),
        }
    }
}

/// What one reconcile pass would write, and the drain state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The writes, in the order they must be applied.
    pub operations: Vec<Operation>,
    /// The drain book after this plan (the caller persists it once the plan is applied).
    pub drain: DrainBook,
    /// Destinations still draining after this plan (quiesced, with connections left).
    pub draining: Vec<DrainStatus>,
    /// Wanted services not planned.
    pub refused: Vec<Refusal>,
    /// Managed services this plan starts removing (deleting or draining) that no earlier plan
    /// had started: what the delete guard counts.
    pub deletes_services: usize,
    /// Managed (in-scope) services in the dump.
    pub managed_services_before: usize,
    /// Real servers this plan starts removing (quiescing for a drain, or deleting at once)
    /// that no earlier plan had started, those of removed services included: what the delete
    /// guard counts besides services.
    #[serde(default)]
    pub deletes_destinations: usize,
    /// Real servers of the managed services in the dump.
    #[serde(default)]
    pub managed_destinations_before: usize,
    /// The drain book the plan started from; [`Plan::without_deletions`] falls back to it.
    #[serde(default)]
    pub drain_before: DrainBook,
}

impl Plan {
    /// Whether the kernel already equals the wanted table (nothing to write).
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Whether an operation quiesces a draining destination (an `EditDestination` to weight 0
    /// that this plan made for draining, as opposed to a desired weight of 0).
    pub fn is_quiesce(&self, op: &Operation) -> bool {
        self.quiesce_deadline(op).is_some()
    }

    /// The drain deadline behind a quiesce operation, if `op` is one.
    pub fn quiesce_deadline(&self, op: &Operation) -> Option<u64> {
        let Operation::EditDestination {
            service,
            destination,
        } = op
        else {
            return None;
        };
        if destination.weight != 0 {
            return None;
        }
        self.draining
            .iter()
            .find(|d| d.service == *service && d.destination == destination.key)
            .map(|d| d.deadline)
    }

    /// The plan minus everything destructive (deletes and drain quiesces), for when the guard
    /// refuses. New services, new destinations and in-place edits of staying objects still get
    /// programmed: they cut no established traffic, and withholding them would only leave new
    /// VIPs dark. Drains that had not started before this plan are forgotten, so a later plan
    /// starts them (and counts them for the guard) afresh.
    pub fn without_deletions(&self) -> Plan {
        let operations = self
            .operations
            .iter()
            .filter(|op| !op.is_delete() && !self.is_quiesce(op))
            .cloned()
            .collect();
        let before = &self.drain_before;
        let mut drain = self.drain.clone();
        drain
            .destinations
            .retain(|key, _| before.destinations.contains_key(key));
        drain
            .services
            .retain(|id, _| before.services.contains_key(id));
        let draining = self
            .draining
            .iter()
            .filter(|d| {
                if d.whole_service {
                    drain.services.contains_key(&d.service)
                } else {
                    drain.destinations.contains_key(&(d.service, d.destination))
                }
            })
            .cloned()
            .collect();
        Plan {
            operations,
            drain,
            draining,
            refused: self.refused.clone(),
            deletes_services: 0,
            managed_services_before: self.managed_services_before,
            deletes_destinations: 0,
            managed_destinations_before: self.managed_destinations_before,
            drain_before: self.drain_before.clone(),
        }
    }
}

/// Plans the writes that bring the managed part of `observed` to `wanted`.
///
/// `now` is seconds since the Unix epoch. Services outside `scope` are neither planned (wanted
/// side: reported in [`Plan::refused`]) nor touched (kernel side).
pub fn plan(
    wanted: &BTreeMap<ServiceId, WantedService>,
    observed: &IpvsTable,
    scope: &Scope,
    drain: &DrainBook,
    now: u64,
    options: &PlanOptions,
) -> Plan {
    let mut planner = Planner {
        before: drain,
        now,
        options,
        groups: Groups::default(),
        book: DrainBook::default(),
        draining: Vec::new(),
        deletes_services: 0,
        deletes_destinations: 0,
    };
    let mut refused = Vec::new();
    // Two passes over the wanted services, services first, so that the destinations (ten
    // times as many) are written once, straight after them in the operation list, instead of
    // into a group of their own that is then copied behind the services.
    let mut in_scope = Vec::with_capacity(wanted.len());
    for (id, want) in wanted {
        if !scope.contains(id) {
            refused.push(Refusal {
                service: *id,
                reason: RefusalReason::OutOfScope,
            });
            continue;
        }
        let have = observed.services.get(id).map(|have| &**have);
        planner.plan_service(id, want, have);
        in_scope.push((id, want, have));
    }
    planner.groups.end_services();
    for (id, want, have) in in_scope {
        planner.plan_destinations(id, want, have);
    }
    let mut managed_services_before = 0;
    let mut managed_destinations_before = 0;
    for (id, have) in &observed.services {
        if !scope.contains(id) {
            continue;
        }
        managed_services_before += 1;
        managed_destinations_before += have.destinations.len();
        if !wanted.contains_key(id) {
            planner.remove_service(id, have);
        }
    }
    let mut draining = planner.draining;
    draining.sort_by_key(|d| (d.service, d.destination));
    Plan {
        operations: planner.groups.into_operations(),
        drain: planner.book,
        draining,
        refused,
        deletes_services: planner.deletes_services,
        managed_services_before,
        deletes_destinations: planner.deletes_destinations,
        managed_destinations_before,
        drain_before: drain.clone(),
    }
}

/// The operations in apply order: `head` holds the added services, then (once
/// [`Groups::end_services`] appended them) the edited services and the added destinations,
/// which both passes of [`plan`] produce in service and destination order; the other groups
/// follow it.
#[derive(Default)]
struct Groups {
    head: Vec<Operation>,
    edit_services: Vec<Operation>,
    edit_destinations: Vec<Operation>,
    quiesces: Vec<Operation>,
    delete_destinations: Vec<Operation>,
    delete_services: Vec<Operation>,
    /// Where the added destinations start in `head`, once the services are in.
    services_end: usize,
}

impl Groups {
    /// Appends the edited services behind the added ones; the added destinations follow.
    fn end_services(&mut self) {
        by_target(&mut self.head);
        by_target(&mut self.edit_services);
        self.head.append(&mut self.edit_services);
        self.services_end = self.head.len();
    }

    fn into_operations(self) -> Vec<Operation> {
        let mut operations = self.head;
        // Each group sorted by service, then destination (a no-op for the passes' own order).
        by_target(&mut operations[self.services_end..]);
        let rest = [
            self.edit_destinations,
            self.quiesces,
            self.delete_destinations,
            self.delete_services,
        ];
        operations.reserve(rest.iter().map(Vec::len).sum());
        for mut group in rest {
            by_target(&mut group);
            operations.append(&mut group);
        }
        operations
    }
}

/// Sorts operations by service, then destination.
fn by_target(group: &mut [Operation]) {
    group.sort_by_key(|op| (*op.service(), destination_key(op)));
}

fn destination_key(op: &Operation) -> Option<RealServerKey> {
    match op {
        Operation::AddDestination { destination, .. }
        | Operation::EditDestination { destination, .. } => Some(destination.key),
        Operation::DeleteDestination { destination, .. } => Some(*destination),
        _ => None,
    }
}

struct Planner<'a> {
    before: &'a DrainBook,
    now: u64,
    options: &'a PlanOptions,
    groups: Groups,
    book: DrainBook,
    draining: Vec<DrainStatus>,
    deletes_services: usize,
    deletes_destinations: usize,
}

impl Planner<'_> {
    /// The service's own operation: added, or edited in place when its settings differ.
    fn plan_service(
        &mut self,
        id: &ServiceId,
        want: &WantedService,
        have: Option<&ObservedService>,
    ) {
        let service = || ServiceSpec {
            id: *id,
            ..want.spec.clone()
        };
        match have {
            None => self
                .groups
                .head
                .push(Operation::AddService { service: service() }),
            Some(have) if !same_service(&want.spec, &have.spec) => self
                .groups
                .edit_services
                .push(Operation::EditService { service: service() }),
            Some(_) => {}
        }
    }

    /// The service's destinations: added, edited in place, or removed (drained).
    fn plan_destinations(
        &mut self,
        id: &ServiceId,
        want: &WantedService,
        have: Option<&ObservedService>,
    ) {
        for (key, dest) in want.destinations.iter() {
            let mut destination = dest.clone();
            destination.key = *key;
            match have.and_then(|have| have.destinations.get(key)) {
                None => self.groups.head.push(Operation::AddDestination {
                    service: *id,
                    destination,
                }),
                Some(seen) if !same_destination(&destination, &seen.spec) => {
                    self.groups
                        .edit_destinations
                        .push(Operation::EditDestination {
                            service: *id,
                            destination,
                        });
                }
                Some(_) => {}
            }
        }
        let Some(have) = have else {
            return;
        };
        for (key, seen) in &have.destinations {
            if !want.destinations.contains_key(key) {
                self.remove_destination(id, key, seen);
            }
        }
    }

    fn remove_destination(
        &mut self,
        id: &ServiceId,
        key: &RealServerKey,
        seen: &ObservedDestination,
    ) {
        let book_key = (*id, *key);
        let known = self.before.destinations.get(&book_key).copied();
        if known.is_none() {
            self.deletes_destinations += 1;
        }
        let deadline = known.unwrap_or_else(|| self.fresh_deadline(id));
        self.book.destinations.insert(book_key, deadline);
        if connections(seen) == 0 || self.now >= deadline {
            self.groups
                .delete_destinations
                .push(Operation::DeleteDestination {
                    service: *id,
                    destination: *key,
                });
            return;
        }
        self.quiesce(id, seen);
        self.draining.push(status(id, seen, deadline, false));
    }

    fn remove_service(&mut self, id: &ServiceId, have: &ObservedService) {
        let known = self.before.services.get(id).copied();
        if known.is_none() {
            self.deletes_services += 1;
            // Its real servers leave with it, except those already draining on their own.
            self.deletes_destinations += have
                .destinations
                .keys()
                .filter(|key| !self.before.destinations.contains_key(&(*id, **key)))
                .count();
        }
        let deadline = known.unwrap_or_else(|| self.fresh_deadline(id));
        self.book.services.insert(*id, deadline);
        let drained = have.destinations.values().all(|d| connections(d) == 0);
        if drained || self.now >= deadline {
            self.groups
                .delete_services
                .push(Operation::DeleteService { service: *id });
            return;
        }
        // Every destination is reported, idle ones too: they wait for their siblings, and the
        // report is what marks their quiesce as part of a drain.
        for seen in have.destinations.values() {
            self.quiesce(id, seen);
            self.draining.push(status(id, seen, deadline, true));
        }
    }

    fn quiesce(&mut self, id: &ServiceId, seen: &ObservedDestination) {
        if seen.spec.weight != 0 {
            let mut destination = seen.spec.clone();
            destination.weight = 0;
            self.groups.quiesces.push(Operation::EditDestination {
                service: *id,
                destination,
            });
        }
    }

    fn fresh_deadline(&self, id: &ServiceId) -> u64 {
        let udp = id.inet().is_some_and(|k| k.protocol == Protocol::Udp);
        let timeout = if udp {
            self.options.udp_drain_timeout_secs
        } else {
            self.options.drain_timeout_secs
        };
        self.now.saturating_add(timeout)
    }
}

fn connections(dest: &ObservedDestination) -> u64 {
    u64::from(dest.active_conns) + u64::from(dest.inactive_conns)
}

fn status(id: &ServiceId, seen: &ObservedDestination, deadline: u64, whole: bool) -> DrainStatus {
    DrainStatus {
        service: *id,
        destination: seen.spec.key,
        deadline,
        active_conns: seen.active_conns,
        inactive_conns: seen.inactive_conns,
        whole_service: whole,
    }
}
