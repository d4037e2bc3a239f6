//! `[bgp.policy]` as written in the settings file -> the announcer's `PolicyConfig`. Pure.
//!
//! A flat mirror with its own unknown-key check: the announcer's `PolicyConfig` flattens its
//! internally tagged `mode` into the table, which serde cannot combine with
//! `deny_unknown_fields` (it then rejects `mode` itself and requires it), so the settings file
//! is read through this type instead.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use lb_bgp_announcer::{PolicyConfig, PolicyMode, RouteAttributes};
use serde::Deserialize;

/// `per_vip` or `aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    PerVip,
    Aggregate,
}

/// The keys of `[bgp.policy]`; defaults are the announcer's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicySettings {
    announce_at: Option<u32>,
    withdraw_below: Option<u32>,
    hold_down_ms: Option<u64>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    ranges: Vec<IpNetwork>,
    #[serde(default)]
    require_healthy: bool,
    #[serde(default)]
    default_attributes: RouteAttributes,
    #[serde(default)]
    vip_attributes: BTreeMap<IpAddr, RouteAttributes>,
}

impl PolicySettings {
    /// The announcer's configuration (threshold checks happen in `AnnouncePolicy::new`).
    pub(crate) fn into_config(self) -> PolicyConfig {
        let defaults = PolicyConfig::default();
        PolicyConfig {
            announce_at: self.announce_at.unwrap_or(defaults.announce_at),
            withdraw_below: self.withdraw_below.unwrap_or(defaults.withdraw_below),
            hold_down_ms: self.hold_down_ms.unwrap_or(defaults.hold_down_ms),
            mode: match self.mode {
                Mode::PerVip => PolicyMode::PerVip,
                Mode::Aggregate => PolicyMode::Aggregate {
                    ranges: self.ranges,
                    require_healthy: self.require_healthy,
                },
            },
            default_attributes: self.default_attributes,
            vip_attributes: self.vip_attributes,
        }
    }
}
