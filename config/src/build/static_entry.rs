//! Resolving a static entry (`VIP-PORT: ADDR:PORT, ...`) into one virtual service.
//!
//! Pure. Checks what only the effective options reveal: address families and the DR/tunnel
//! rule that the real-server port must equal the virtual port.

use std::collections::btree_map::Entry as Slot;
use std::sync::Arc;

use super::common::{Candidate, Resolved, empty_service, snat_pool, weigh};
use crate::desired::{Origin, RealServerState};
use crate::entry::{Entry, StaticRealServer};
use crate::health::HealthResults;
use crate::model::{ForwardMethod, Protocol, RealServerKey, ServiceKey, SocketText};
use crate::problem::{Position, Problem};
use crate::settings::Settings;

pub(crate) fn resolve_static(
    entry: &Entry,
    port: u16,
    protocol: Protocol,
    real_servers: &[StaticRealServer],
    settings: &Settings,
    health: &HealthResults,
) -> Resolved {
    let mut resolved = Resolved::default();
    let key = ServiceKey {
        vip: entry.vip,
        protocol,
        port,
    };
    let origin = Origin {
        config_key: entry.key.clone(),
        service: None,
    };
    let mut service = empty_service(entry, settings, key, origin);
    let snat = snat_pool(entry, settings, &mut resolved.problems);
    for (i, rs) in real_servers.iter().enumerate() {
        let at = Some(Position::Item { index: i + 1 });
        let shown = SocketText(rs.addr, rs.port);
        if rs.addr.is_ipv4() != entry.vip.is_ipv4() && service.forward != ForwardMethod::Tunnel {
            resolved.problems.push(Problem::error(
                &entry.key,
                at,
                format!(
                    "real server {shown} is not of the VIP's address family (only method=tunnel \
                     can mix IPv4 and IPv6)"
                ),
            ));
            continue;
        }
        if !service.forward.rewrites_port() && rs.port != port {
            resolved.problems.push(Problem::error(
                &entry.key,
                at,
                format!(
                    "real server {shown}: method={} cannot change ports, so the real-server \
                     port must be the virtual port {port}",
                    service.forward
                ),
            ));
            continue;
        }
        let rs_key = RealServerKey {
            addr: rs.addr,
            port: rs.port,
        };
        let weight = rs.weight.or(entry.options.weight).unwrap_or(1);
        let mut real = weigh(&service, rs_key, weight, RealServerState::Active, health);
        real.upper_threshold = rs.upper_threshold.unwrap_or(0);
        real.lower_threshold = rs.lower_threshold.unwrap_or(0);
        // `ADDR` takes the virtual port, so `ADDR` and `ADDR:VPORT` name one real server: the
        // parser cannot see that (it does not know the effective port), so it is caught here
        // instead of the later item silently replacing the earlier one. One map search per
        // real server (the slot), not two.
        match service.real_servers.entry(rs_key) {
            Slot::Vacant(slot) => {
                slot.insert(real);
            }
            Slot::Occupied(_) => resolved.problems.push(Problem::error(
                &entry.key,
                at,
                format!("{shown} is listed twice (ADDR alone means ADDR:{port})"),
            )),
        }
    }
    if service.forward == ForwardMethod::Fullnat && snat.is_none() {
        return resolved;
    }
    resolved.candidates.push(Candidate {
        service: Arc::new(service),
        snat_pool: snat,
    });
    resolved
}
