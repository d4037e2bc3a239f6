//! What static and Service entries share: effective options and real-server weighing.
//!
//! Pure. Entry options win over the settings' defaults.

use std::sync::Arc;

use ipnetwork::IpNetwork;

use crate::desired::{HealthCheck, Origin, RealServer, RealServerState, VirtualService};
use crate::entry::Entry;
use crate::health::HealthResults;
use crate::model::{ForwardMethod, RealServerKey, ServiceKey, TunnelType};
use crate::problem::Problem;
use crate::settings::Settings;

/// A virtual service an entry wants, with its SNAT pool when it is FullNAT.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) service: Arc<VirtualService>,
    pub(crate) snat_pool: Option<Vec<IpNetwork>>,
}

/// What resolving one entry gave: candidates and problems (an error rejects the entry).
#[derive(Debug, Default, Clone)]
pub(crate) struct Resolved {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) problems: Vec<Problem>,
}

impl Resolved {
    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// A virtual service with the entry's effective options and no real servers yet.
pub(crate) fn empty_service(
    entry: &Entry,
    settings: &Settings,
    key: ServiceKey,
    origin: Origin,
) -> VirtualService {
    let opts = &entry.options;
    let forward = entry.forward_method(settings);
    VirtualService {
        key,
        origin,
        scheduler: opts.scheduler.unwrap_or(settings.default_scheduler),
        scheduler_flags: opts.scheduler_flags,
        persistence: opts.persistence,
        forward,
        tunnel: (forward == ForwardMethod::Tunnel).then(|| opts.tunnel.unwrap_or(TunnelType::Ipip)),
        health_check: opts.health_check.as_ref().map(|spec| HealthCheck {
            kind: spec.kind.clone(),
            interval_secs: spec
                .interval_secs
                .unwrap_or(settings.health_check.interval_secs),
            timeout_secs: spec
                .timeout_secs
                .unwrap_or(settings.health_check.timeout_secs),
            rise: spec.rise.unwrap_or(settings.health_check.rise),
            fall: spec.fall.unwrap_or(settings.health_check.fall),
        }),
        real_servers: Default::default(),
    }
}

/// The SNAT pool of a FullNAT entry, or an error when neither entry nor settings have one.
/// Also warns when an entry sets `pool=` but does not end up FullNAT.
pub(crate) fn snat_pool(
    entry: &Entry,
    settings: &Settings,
    problems: &mut Vec<Problem>,
) -> Option<Vec<IpNetwork>> {
    let method = entry.forward_method(settings);
    if method != ForwardMethod::Fullnat {
        if !entry.options.snat_pool.is_empty() {
            problems.push(Problem::warning(
                &entry.key,
                None,
                format!("pool= is ignored: the forwarding method is {method} (settings default)"),
            ));
        }
        return None;
    }
    let pool = if entry.options.snat_pool.is_empty() {
        settings.fullnat_pool.clone()
    } else {
        entry.options.snat_pool.clone()
    };
    if pool.is_empty() {
        problems.push(Problem::error(
            &entry.key,
            None,
            "method=fullnat needs a SNAT pool: set pool= on the entry or fullnat_pool in the \
             settings",
        ));
        return None;
    }
    Some(pool)
}

/// A real server with the weight its readiness and health give it.
pub(crate) fn weigh(
    service: &VirtualService,
    key: RealServerKey,
    configured_weight: u32,
    ready_state: RealServerState,
    health: &HealthResults,
) -> RealServer {
    let state = match ready_state {
        RealServerState::Active
            if service.health_check.is_some() && !health.is_healthy(&service.key, &key) =>
        {
            RealServerState::Unhealthy
        }
        other => other,
    };
    RealServer {
        key,
        weight: if state == RealServerState::Active {
            configured_weight
        } else {
            0
        },
        upper_threshold: 0,
        lower_threshold: 0,
        state,
    }
}
