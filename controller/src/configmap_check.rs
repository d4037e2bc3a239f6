//! What `lbctl validate` and the admission webhook (`lbctl webhook`) check a ConfigMap against:
//! one type for both, so a key the webhook admits is a key `validate` passes and vice versa.
//!
//! The grammar of every key is always checked. With settings, the desired state is also built,
//! which adds the settings' policies (managed VIP ranges, SNAT ranges, forwarding methods); with
//! offline endpoints, Service references and port conflicts too. Without settings the range
//! check would reject every VIP, so the ranges are widened to everything.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};
use lb_config::{
    EndpointSnapshot, HealthResults, ParsedConfigMap, Problem, Settings, build_desired_state,
};

use crate::files::{UsageError, load_endpoints, load_settings, merge_problems};

/// The settings and endpoints a ConfigMap is checked against, loaded once.
#[derive(Debug, Clone)]
pub struct ConfigMapChecks {
    /// The settings in force (ranges widened to everything when none were given).
    settings: Settings,
    /// Offline endpoints (empty when none were given).
    endpoints: EndpointSnapshot,
    /// Whether the desired state is built (settings or endpoints given), not only the grammar.
    build: bool,
}

impl ConfigMapChecks {
    /// Loads the settings and endpoints files; `None` leaves that part out (see the module doc).
    ///
    /// The `[bgp]` table is read by the announcer's own types, so it is checked here too: a
    /// settings file `validate` accepts is one the daemon starts with.
    pub fn load(settings: Option<&Path>, endpoints: Option<&Path>) -> Result<Self, UsageError> {
        let settings = settings.map(|path| load_settings(Some(path))).transpose()?;
        let endpoints = endpoints
            .map(|path| load_endpoints(Some(path)))
            .transpose()?;
        Self::new(settings, endpoints)
    }

    /// The checks for settings and endpoints already read; `None` leaves that part out.
    pub fn new(
        settings: Option<Settings>,
        endpoints: Option<EndpointSnapshot>,
    ) -> Result<Self, UsageError> {
        let build = settings.is_some() || endpoints.is_some();
        let widen = settings.is_none();
        let mut settings = settings.unwrap_or_default();
        crate::bgp::check_settings(&settings.bgp)?;
        if widen {
            let everything = |e: ipnetwork::IpNetworkError| {
                UsageError::Refused(format!("cannot widen the managed ranges: {e}"))
            };
            settings.managed_vip_ranges = vec![
                IpNetwork::V4(Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).map_err(everything)?),
                IpNetwork::V6(Ipv6Network::new(Ipv6Addr::UNSPECIFIED, 0).map_err(everything)?),
            ];
        }
        Ok(ConfigMapChecks {
            settings,
            endpoints: endpoints.unwrap_or_default(),
            build,
        })
    }

    /// The settings the checks use (the webhook reads the guarded ConfigMap's name from them).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every problem of `parsed`: its own (grammar) problems, plus, when the desired state is
    /// built, the settings' and endpoints' ones; sorted, without duplicates.
    pub fn check(&self, parsed: &ParsedConfigMap) -> Vec<Problem> {
        if !self.build {
            return parsed.problems.clone();
        }
        let outcome = build_desired_state(
            &parsed.entries,
            &self.settings,
            &self.endpoints,
            &HealthResults::default(),
        );
        merge_problems(parsed.problems.clone(), &outcome.problems)
    }
}
