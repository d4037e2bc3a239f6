//! Builders of desired-state values for tests, in one place for every crate's tests (feature
//! `test-util`): service and real-server keys, a plain virtual service, real servers and a
//! desired state holding given services. The defaults are what a bare ConfigMap entry gives
//! (TCP, round robin, no persistence, no health check, weight 1, active); a test that needs
//! another value changes the one field it is about.

// Builders parse literals the test wrote: a bad one is a bug in the test, so they unwrap.
#![allow(clippy::unwrap_used)]

use crate::desired::{DesiredState, Origin, RealServer, RealServerState, VirtualService};
use crate::model::{ForwardMethod, Protocol, RealServerKey, Scheduler, SchedulerFlags, ServiceKey};

/// The TCP service `vip:port`.
pub fn service_key(vip: &str, port: u16) -> ServiceKey {
    ServiceKey {
        vip: vip.parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
    }
}

/// The real server `addr:port`.
pub fn real_server_key(addr: &str, port: u16) -> RealServerKey {
    RealServerKey {
        addr: addr.parse().unwrap(),
        port,
    }
}

/// An active real server of weight 1 without thresholds.
pub fn real_server(key: RealServerKey) -> RealServer {
    RealServer {
        key,
        weight: 1,
        upper_threshold: 0,
        lower_threshold: 0,
        state: RealServerState::Active,
    }
}

/// A round-robin service `vip:port` over TCP from the ConfigMap key `VIP-PORT`, forwarding with
/// `forward`, without real servers.
pub fn virtual_service(vip: &str, port: u16, forward: ForwardMethod) -> VirtualService {
    VirtualService {
        key: service_key(vip, port),
        origin: Origin {
            config_key: format!("{vip}-{port}"),
            service: None,
        },
        scheduler: Scheduler::Rr,
        scheduler_flags: SchedulerFlags::default(),
        persistence: None,
        forward,
        tunnel: None,
        health_check: None,
        real_servers: Default::default(),
    }
}

/// `service` with these real servers added (see [`real_server`]).
pub fn with_real_servers(
    mut service: VirtualService,
    real_servers: impl IntoIterator<Item = RealServer>,
) -> VirtualService {
    service
        .real_servers
        .extend(real_servers.into_iter().map(|rs| (rs.key, rs)));
    service
}

/// A desired state with these services and their VIPs, and no netfilter intents.
pub fn desired_state(services: impl IntoIterator<Item = VirtualService>) -> DesiredState {
    let mut state = DesiredState::default();
    for service in services {
        state.vips.insert(service.key.vip);
        state
            .services
            .insert(service.key, std::sync::Arc::new(service));
    }
    state
}
