//! The table after a pass without dumping it again: the table the pass planned from plus the
//! writes the kernel acknowledged, and the check of that model against a read of only the
//! services written. Pure.
//!
//! Kernel-assigned fields of new entries start as the kernel starts them (counters, rate
//! estimates and connection counts at zero); settings are taken as written. Edits keep the
//! counters of the entry they edit. A benign race (EEXIST on an add, ENOENT/ESRCH on a delete:
//! someone else already did it) is taken as done; the read-back then shows what that someone
//! else actually wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::compare::{same_destination, same_service};
use super::sync::SyncReport;
use crate::model::{
    DestinationSpec, IpvsTable, ObservedDestination, ObservedService, Operation, ServiceId, Stats,
};

/// Applies the writes of `report` the kernel acknowledged (accepted, or found already done) to
/// `table`, the table the pass planned from. Services no write touched stay shared with it.
pub fn predict(table: &mut IpvsTable, report: &SyncReport) {
    let acknowledged = report
        .applied
        .iter()
        .chain(report.races.iter().map(|race| &race.operation));
    for op in acknowledged {
        apply_to(table, op);
    }
}

/// The services a pass asked the kernel to change (accepted, raced or refused): the ones to read
/// back. Operations skipped without being sent are not in it.
pub fn written_services(report: &SyncReport) -> BTreeSet<ServiceId> {
    report
        .applied
        .iter()
        .chain(report.races.iter().map(|race| &race.operation))
        .chain(report.failed.iter().map(|failed| &failed.operation))
        .map(|op| *op.service())
        .collect()
}

/// The writes that would turn `read` (the kernel, read back) into `predicted`, over `services`
/// only: empty when the kernel holds what the model says. Only writable settings count (as in
/// planning): counters and connection counts never do.
pub fn read_back_differences(
    predicted: &IpvsTable,
    read: &IpvsTable,
    services: &BTreeSet<ServiceId>,
) -> Vec<Operation> {
    let mut differences = Vec::new();
    for id in services {
        match (predicted.services.get(id), read.services.get(id)) {
            (None, None) => {}
            (None, Some(_)) => differences.push(Operation::DeleteService { service: *id }),
            (Some(want), None) => {
                differences.push(Operation::AddService {
                    service: want.spec.clone(),
                });
                differences.extend(
                    want.destinations
                        .values()
                        .map(|d| Operation::AddDestination {
                            service: *id,
                            destination: d.spec.clone(),
                        }),
                );
            }
            (Some(want), Some(have)) => service_differences(id, want, have, &mut differences),
        }
    }
    differences
}

fn service_differences(
    id: &ServiceId,
    want: &ObservedService,
    have: &ObservedService,
    differences: &mut Vec<Operation>,
) {
    if !same_service(&want.spec, &have.spec) {
        differences.push(Operation::EditService {
            service: want.spec.clone(),
        });
    }
    for (key, dest) in &want.destinations {
        match have.destinations.get(key) {
            None => differences.push(Operation::AddDestination {
                service: *id,
                destination: dest.spec.clone(),
            }),
            Some(seen) if !same_destination(&dest.spec, &seen.spec) => {
                differences.push(Operation::EditDestination {
                    service: *id,
                    destination: dest.spec.clone(),
                });
            }
            Some(_) => {}
        }
    }
    differences.extend(
        have.destinations
            .keys()
            .filter(|key| !want.destinations.contains_key(key))
            .map(|key| Operation::DeleteDestination {
                service: *id,
                destination: *key,
            }),
    );
}

/// One acknowledged write, applied to the model.
fn apply_to(table: &mut IpvsTable, op: &Operation) {
    match op {
        Operation::AddService { service } => match table.service_mut(&service.id) {
            Some(seen) => seen.spec = service.clone(),
            None => table.insert(ObservedService {
                spec: service.clone(),
                stats: Stats::default(),
                destinations: BTreeMap::new(),
            }),
        },
        Operation::EditService { service } => {
            if let Some(seen) = table.service_mut(&service.id) {
                seen.spec = service.clone();
            }
        }
        Operation::DeleteService { service } => {
            table.services.remove(service);
        }
        Operation::AddDestination {
            service,
            destination,
        }
        | Operation::EditDestination {
            service,
            destination,
        } => {
            if let Some(seen) = table.service_mut(service) {
                write_destination(&mut seen.destinations, destination);
            }
        }
        Operation::DeleteDestination {
            service,
            destination,
        } => {
            if let Some(seen) = table.services.get_mut(service)
                && seen.destinations.contains_key(destination)
            {
                Arc::make_mut(seen).destinations.remove(destination);
            }
        }
    }
}

/// Adds a destination with zeroed counters, or edits one in place (its counters stay).
fn write_destination(
    destinations: &mut BTreeMap<lb_config::RealServerKey, ObservedDestination>,
    spec: &DestinationSpec,
) {
    destinations
        .entry(spec.key)
        .and_modify(|seen| seen.spec = spec.clone())
        .or_insert_with(|| ObservedDestination {
            spec: spec.clone(),
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            stats: Stats::default(),
        });
}
