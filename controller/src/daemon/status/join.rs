//! The join behind `/status`: which services a query selects, and each one's row with its
//! real servers (desired state, the table of the last sync, health verdicts, drain book).
//!
//! Proportional to what is asked: a VIP filter takes that VIP's range of the two ordered
//! maps (services are keyed VIP first), and the `service`/`key` filters look at each
//! service's origin before any real server is joined.

use std::collections::BTreeSet;
use std::net::IpAddr;

use lb_config::{
    DesiredState, HealthResults, Protocol, RealServerKey, RealServerState, ServiceKey,
};
use lb_ipvs_sync::reconcile::{DrainBook, Scope};
use lb_ipvs_sync::{IpvsTable, ObservedService, ServiceId};

use super::query::StatusQuery;
use super::{Rates, RealServerStatus, ServiceStatus};

/// The inputs of the join, as the last pass left them.
#[derive(Clone, Copy)]
pub(crate) struct Tables<'a> {
    pub(crate) desired: &'a DesiredState,
    pub(crate) table: Option<&'a IpvsTable>,
    pub(crate) scope: &'a Scope,
    pub(crate) health: &'a HealthResults,
    pub(crate) drain: &'a DrainBook,
}

/// The smallest service key of a VIP (keys order by VIP, then protocol, then port).
fn first_key(vip: IpAddr) -> ServiceKey {
    ServiceKey {
        vip,
        protocol: Protocol::Tcp,
        port: 0,
    }
}

impl Tables<'_> {
    /// The services the query selects, in key order: desired ones and those the kernel
    /// still has in the managed ranges (leaving).
    pub(crate) fn selected(&self, query: &StatusQuery) -> Vec<ServiceKey> {
        let mut keys: BTreeSet<ServiceKey> = match query.vip {
            Some(vip) => self
                .desired
                .services
                .range(first_key(vip)..)
                .map(|(k, _)| *k)
                .take_while(|k| k.vip == vip)
                .collect(),
            None => self.desired.services.keys().copied().collect(),
        };
        if let Some(table) = self.table {
            let observed: Box<dyn Iterator<Item = &ServiceId>> = match query.vip {
                Some(vip) => Box::new(
                    table
                        .services
                        .range(ServiceId::Inet(first_key(vip))..)
                        .map(|(id, _)| id)
                        .take_while(move |id| id.inet().is_some_and(|k| k.vip == vip)),
                ),
                None => Box::new(table.services.keys()),
            };
            keys.extend(
                observed
                    .filter(|id| self.scope.contains(id))
                    .filter_map(|id| id.inet().copied())
                    .filter(|k| !self.desired.services.contains_key(k)),
            );
        }
        keys.into_iter()
            .filter(|k| query.matches_vip(k))
            .filter(|k| query.matches_origin(self.desired.services.get(k).map(|s| &**s)))
            .collect()
    }

    /// The kernel's entry for a service, if the last table has it.
    pub(crate) fn observed(&self, key: ServiceKey) -> Option<&ObservedService> {
        self.table
            .and_then(|t| t.services.get(&ServiceId::Inet(key)))
            .map(std::sync::Arc::as_ref)
    }

    /// One service's row with all its real servers.
    pub(crate) fn service_status(&self, key: ServiceKey) -> ServiceStatus {
        let id = ServiceId::Inet(key);
        let want = self.desired.services.get(&key).map(|s| &**s);
        let observed = self.observed(key);
        let service_deadline = self.drain.services.get(&id).copied();
        let real_servers = real_server_keys(want, observed)
            .into_iter()
            .map(|rs| {
                let w = want.and_then(|w| w.real_servers.get(&rs));
                let o = observed.and_then(|o| o.destinations.get(&rs));
                RealServerStatus {
                    address: rs.to_string(),
                    weight: w.map(|w| w.weight),
                    kernel_weight: o.map(|o| o.spec.weight),
                    state: w.map_or("leaving", |w| state_name(w.state)).to_owned(),
                    health: self.health_of(key, rs).to_owned(),
                    active_conns: o.map_or(0, |o| o.active_conns),
                    inactive_conns: o.map_or(0, |o| o.inactive_conns),
                    conns: o.map_or(0, |o| o.stats.conns),
                    rates: o.map(|o| Rates::from(&o.stats)).unwrap_or_default(),
                    drain_deadline: self.drain_deadline(id, rs, w.is_none(), service_deadline),
                }
            })
            .collect();
        let stats = observed.map(|o| o.stats).unwrap_or_default();
        ServiceStatus {
            service: key.to_string(),
            config_key: want.map(|w| w.origin.config_key.clone()),
            kubernetes_service: want
                .and_then(|w| w.origin.service.as_ref())
                .map(|s| format!("{}/{}:{}", s.namespace, s.name, s.port)),
            scheduler: want.map_or_else(
                || {
                    observed
                        .map(|o| o.spec.scheduler.to_string())
                        .unwrap_or_default()
                },
                |w| w.scheduler.to_string(),
            ),
            forward: want.map(|w| w.forward.to_string()),
            in_kernel: observed.is_some(),
            conns: stats.conns,
            inpkts: stats.inpkts,
            outpkts: stats.outpkts,
            inbytes: stats.inbytes,
            outbytes: stats.outbytes,
            rates: Rates::from(&stats),
            real_servers,
        }
    }

    /// `healthy`, `failing` or `unchecked` (no check configured, or no verdict yet).
    pub(crate) fn health_of(&self, key: ServiceKey, rs: RealServerKey) -> &'static str {
        let checked = self
            .desired
            .services
            .get(&key)
            .is_some_and(|w| w.health_check.is_some());
        match (checked, self.health.verdict(&key, &rs)) {
            (true, Some(true)) => "healthy",
            (true, Some(false)) => "failing",
            _ => "unchecked",
        }
    }

    /// When a real server's drain ends: its own deadline, or, when it is leaving with its
    /// whole service, the service's.
    pub(crate) fn drain_deadline(
        &self,
        id: ServiceId,
        rs: RealServerKey,
        leaving: bool,
        service_deadline: Option<u64>,
    ) -> Option<u64> {
        self.drain
            .destinations
            .get(&(id, rs))
            .copied()
            .or(if leaving { service_deadline } else { None })
    }
}

/// The real servers of a service: desired ones and those the kernel still has.
pub(crate) fn real_server_keys(
    want: Option<&lb_config::VirtualService>,
    observed: Option<&ObservedService>,
) -> BTreeSet<RealServerKey> {
    let mut reals: BTreeSet<RealServerKey> = want
        .map(|w| w.real_servers.keys().copied().collect())
        .unwrap_or_default();
    if let Some(o) = observed {
        reals.extend(o.destinations.keys().copied());
    }
    reals
}

/// The state's name as the JSON has always spelled it (serde's snake_case of the enum).
pub(crate) fn state_name(state: RealServerState) -> &'static str {
    match state {
        RealServerState::Active => "active",
        RealServerState::Terminating => "terminating",
        RealServerState::Unhealthy => "unhealthy",
    }
}
