//! Which cached resolutions an endpoint or health change makes stale.
//!
//! Pure. A static entry's resolution depends on the settings and on the health verdicts of its
//! own services; a Service entry's also on that one Service in the endpoint snapshot. So an
//! EndpointSlice change re-resolves the entries that name its Service, and a health verdict
//! change the entries whose services it judges, instead of all 10,000 keys.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::common::Resolved;
use super::paired::paired;
use crate::endpoints::{EndpointSnapshot, ServiceEndpoints};
use crate::entry::{Entry, Target};
use crate::health::HealthResults;
use crate::model::ServiceKey;

/// The keys of `by_key` whose resolution may differ under the new endpoints and health.
pub(super) fn stale_keys(
    by_key: &HashMap<String, (Arc<Entry>, Resolved)>,
    (old_endpoints, new_endpoints): (&EndpointSnapshot, &EndpointSnapshot),
    (old_health, new_health): (&HealthResults, &HealthResults),
) -> BTreeSet<String> {
    let services = if old_endpoints == new_endpoints {
        BTreeSet::new()
    } else {
        changed_services(old_endpoints, new_endpoints)
    };
    let health_changed = old_health != new_health;
    if services.is_empty() && !health_changed {
        return BTreeSet::new();
    }
    let judged = if health_changed {
        changed_verdicts(old_health, new_health)
    } else {
        BTreeSet::new()
    };
    by_key
        .iter()
        .filter(|(_, (entry, resolved))| {
            let names_changed_service = match &entry.target {
                Target::Service { service, .. } => {
                    services.contains(&(service.namespace.as_str(), service.name.as_str()))
                }
                Target::Static { .. } => false,
            };
            // An entry with errors may have stopped before listing its services: redo it.
            let judged_now = health_changed
                && (resolved.has_errors()
                    || resolved
                        .candidates
                        .iter()
                        .any(|c| judged.contains(&c.service.key)));
            names_changed_service || judged_now
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// `(namespace, name)` of every Service that differs (added, removed or changed): one walk
/// of both sorted snapshots, where a Service shared by both is equal without a look inside.
fn changed_services<'a>(
    old: &'a EndpointSnapshot,
    new: &'a EndpointSnapshot,
) -> BTreeSet<(&'a str, &'a str)> {
    let name = |s: &'a Arc<ServiceEndpoints>| (s.namespace.as_str(), s.name.as_str());
    paired(old.services(), new.services(), |o, n| name(o).cmp(&name(n)))
        .filter(|(o, n)| match (o, n) {
            (Some(o), Some(n)) => !Arc::ptr_eq(o, n) && o != n,
            _ => true,
        })
        .filter_map(|(o, n)| o.or(n).map(name))
        .collect()
}

/// The services whose verdict of any real server differs (set, cleared or flipped).
fn changed_verdicts(old: &HealthResults, new: &HealthResults) -> BTreeSet<ServiceKey> {
    paired(&old.by_check, &new.by_check, |o, n| o.0.cmp(n.0))
        .filter(|(o, n)| o.map(|(_, v)| v) != n.map(|(_, v)| v))
        .filter_map(|(o, n)| o.or(n).map(|((service, _), _)| *service))
        .collect()
}
