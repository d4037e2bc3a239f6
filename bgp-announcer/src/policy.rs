//! Announce policy: which prefixes to announce, given how many real servers behind each VIP
//! are serving (can take traffic). Pure: time is a parameter.
//!
//! Per-VIP mode: a VIP is announced once at least `announce_at` real servers are serving and
//! withdrawn as soon as fewer than `withdraw_below` are (hysteresis: `withdraw_below <=
//! announce_at`). Withdrawals are immediate, so traffic never goes to a director that cannot
//! serve it; re-announcing after a withdrawal waits `hold_down_ms` so a flapping backend
//! does not flap routes. A VIP the operator withdrew is withdrawn.
//!
//! Aggregate mode (the original design): the configured ranges are announced as they are,
//! either always ("pre-announce": fewest route changes; IPVS answers for what it has) or
//! while at least one VIP inside the range passes the per-VIP rule.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::config::{Announcements, RouteAttributes};
use crate::error::ConfigError;

/// What one VIP can serve, as the daemon sees it: the announce policy's input. Not a
/// health-check verdict: a real server counts while it has weight > 0 in a table the kernel
/// serves (checks, terminating endpoints and drains all set weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VipServing {
    /// Real servers that can take traffic: weight > 0 (so not failing their checks).
    pub serving: u32,
    /// The operator withdrew this VIP (`lbctl withdraw --vip`): withdraw it regardless of
    /// `serving`.
    pub withdrawn: bool,
}

/// How prefixes are derived from VIPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum PolicyMode {
    /// Announce each VIP as a /32 or /128.
    PerVip,
    /// Announce configured ranges instead of single VIPs.
    Aggregate {
        /// The ranges to announce.
        ranges: Vec<IpNetwork>,
        /// Announce a range only while one of its VIPs is announceable.
        require_healthy: bool,
    },
}

/// Policy settings.
///
/// The `mode` is flattened into the same table (`mode = "aggregate"`, `ranges = [...]`), which
/// serde cannot combine with `deny_unknown_fields` nor with a default: `mode` must be given and
/// unknown keys are ignored here, so callers that read operator files check keys themselves
/// (lbctl reads `[bgp.policy]` through its own strict type, where `mode` defaults to `per_vip`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Announce a VIP once this many real servers are serving (N).
    pub announce_at: u32,
    /// Withdraw a VIP when fewer than this many are serving (M <= N).
    pub withdraw_below: u32,
    /// Minimum time between a withdrawal and the next announcement of the same VIP.
    pub hold_down_ms: u64,
    /// Per VIP or aggregate.
    #[serde(flatten)]
    pub mode: PolicyMode,
    /// Attributes of every announced prefix.
    pub default_attributes: RouteAttributes,
    /// Attributes of particular VIPs (replace the defaults for that VIP).
    pub vip_attributes: BTreeMap<IpAddr, RouteAttributes>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            announce_at: 1,
            withdraw_below: 1,
            hold_down_ms: 5000,
            mode: PolicyMode::PerVip,
            default_attributes: RouteAttributes::default(),
            vip_attributes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct VipState {
    announced: bool,
    withdrawn_at: Option<Instant>,
}

/// The policy with its memory (what is announced, when it was withdrawn).
#[derive(Debug, Clone)]
pub struct AnnouncePolicy {
    config: PolicyConfig,
    vips: BTreeMap<IpAddr, VipState>,
    next_change: Option<Instant>,
}

impl AnnouncePolicy {
    /// Checks the thresholds and builds an empty policy.
    pub fn new(config: PolicyConfig) -> Result<Self, ConfigError> {
        check(&config)?;
        Ok(AnnouncePolicy {
            config,
            vips: BTreeMap::new(),
            next_change: None,
        })
    }

    /// Takes new settings (a reload) and keeps the memory: what is announced stays announced
    /// unless the new thresholds say otherwise at the next `evaluate`, and running hold-downs
    /// keep their start. An invalid `config` is refused and the current one kept.
    pub fn reconfigure(&mut self, config: PolicyConfig) -> Result<(), ConfigError> {
        check(&config)?;
        self.config = config;
        Ok(())
    }

    /// The settings in use.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// When a pending hold-down ends: call `evaluate` again then (with the same `serving`).
    pub fn next_change(&self) -> Option<Instant> {
        self.next_change
    }

    /// The prefixes to announce now. VIPs missing from `serving` are forgotten (withdrawn).
    pub fn evaluate(
        &mut self,
        serving: &BTreeMap<IpAddr, VipServing>,
        now: Instant,
    ) -> Announcements {
        self.vips.retain(|vip, _| serving.contains_key(vip));
        self.next_change = None;
        let hold_down = Duration::from_millis(self.config.hold_down_ms);
        let mut announced = Vec::new();
        for (vip, h) in serving {
            let state = self.vips.entry(*vip).or_default();
            if h.withdrawn || h.serving < self.config.withdraw_below {
                if state.announced {
                    state.announced = false;
                    state.withdrawn_at = Some(now);
                }
            } else if h.serving >= self.config.announce_at && !state.announced {
                match state.withdrawn_at.map(|t| t + hold_down) {
                    Some(until) if until > now => {
                        self.next_change = Some(self.next_change.map_or(until, |c| c.min(until)));
                    }
                    _ => state.announced = true,
                }
            }
            if state.announced {
                announced.push(*vip);
            }
        }
        match &self.config.mode {
            PolicyMode::PerVip => announced
                .into_iter()
                .filter_map(|vip| {
                    let prefix = match vip {
                        IpAddr::V4(_) => 32,
                        IpAddr::V6(_) => 128,
                    };
                    let net = IpNetwork::new(vip, prefix).ok()?;
                    Some((net, self.attributes_of(vip)))
                })
                .collect(),
            PolicyMode::Aggregate {
                ranges,
                require_healthy,
            } => ranges
                .iter()
                .filter(|range| !require_healthy || announced.iter().any(|v| range.contains(*v)))
                .map(|range| (*range, self.config.default_attributes.clone()))
                .collect(),
        }
    }

    fn attributes_of(&self, vip: IpAddr) -> RouteAttributes {
        self.config
            .vip_attributes
            .get(&vip)
            .unwrap_or(&self.config.default_attributes)
            .clone()
    }
}

/// The threshold rules every policy must satisfy.
fn check(config: &PolicyConfig) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    if config.withdraw_below > config.announce_at {
        problems.push(format!(
            "withdraw_below ({}) must not exceed announce_at ({})",
            config.withdraw_below, config.announce_at
        ));
    }
    if config.announce_at == 0 {
        problems.push("announce_at must be at least 1".to_owned());
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests take a real instant as their time origin
mod tests {
    use super::*;

    fn vip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn serving(entries: &[(&str, u32, bool)]) -> BTreeMap<IpAddr, VipServing> {
        entries
            .iter()
            .map(|(v, serving, withdrawn)| {
                (
                    vip(v),
                    VipServing {
                        serving: *serving,
                        withdrawn: *withdrawn,
                    },
                )
            })
            .collect()
    }

    fn policy(announce_at: u32, withdraw_below: u32, hold_down_ms: u64) -> AnnouncePolicy {
        AnnouncePolicy::new(PolicyConfig {
            announce_at,
            withdraw_below,
            hold_down_ms,
            ..PolicyConfig::default()
        })
        .unwrap()
    }

    fn keys(a: &Announcements) -> Vec<String> {
        a.keys().map(ToString::to_string).collect()
    }

    #[test]
    fn hysteresis_between_thresholds_keeps_the_current_decision() {
        let mut p = policy(3, 2, 0);
        let t = Instant::now();
        assert!(
            p.evaluate(&serving(&[("10.0.0.1", 2, false)]), t)
                .is_empty()
        );
        let a = p.evaluate(&serving(&[("10.0.0.1", 3, false)]), t);
        assert_eq!(keys(&a), ["10.0.0.1/32"]);
        // 2 is between M=2 and N=3: stays announced.
        assert_eq!(p.evaluate(&serving(&[("10.0.0.1", 2, false)]), t).len(), 1);
        assert!(
            p.evaluate(&serving(&[("10.0.0.1", 1, false)]), t)
                .is_empty()
        );
        // Back to 2: stays withdrawn until N is reached again.
        assert!(
            p.evaluate(&serving(&[("10.0.0.1", 2, false)]), t)
                .is_empty()
        );
    }

    #[test]
    fn hold_down_delays_reannouncement_but_not_withdrawal() {
        let mut p = policy(1, 1, 5000);
        let t0 = Instant::now();
        assert_eq!(
            p.evaluate(&serving(&[("2001:db8::1", 1, false)]), t0).len(),
            1
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(
            p.evaluate(&serving(&[("2001:db8::1", 0, false)]), t1)
                .is_empty()
        );
        let t2 = t1 + Duration::from_secs(1);
        assert!(
            p.evaluate(&serving(&[("2001:db8::1", 4, false)]), t2)
                .is_empty()
        );
        assert_eq!(p.next_change(), Some(t1 + Duration::from_secs(5)));
        let a = p.evaluate(
            &serving(&[("2001:db8::1", 4, false)]),
            t1 + Duration::from_secs(5),
        );
        assert_eq!(keys(&a), ["2001:db8::1/128"]);
        assert_eq!(p.next_change(), None);
    }

    #[test]
    fn reconfigure_keeps_what_is_announced_and_the_running_hold_down() {
        let mut p = policy(3, 2, 5000);
        let t0 = Instant::now();
        let h = serving(&[("10.0.0.1", 3, false), ("10.0.0.2", 3, false)]);
        assert_eq!(p.evaluate(&h, t0).len(), 2);
        let down = serving(&[("10.0.0.1", 3, false), ("10.0.0.2", 0, false)]);
        assert_eq!(p.evaluate(&down, t0).len(), 1);

        // New thresholds put 10.0.0.1's 3 serving inside the band (M=2 <= 3 < N=4): a fresh
        // policy would not announce it, a reconfigured one keeps it. New MED applies at once.
        let mut config = p.config().clone();
        config.announce_at = 4;
        config.default_attributes.med = Some(50);
        p.reconfigure(config).unwrap();
        let a = p.evaluate(&down, t0 + Duration::from_secs(1));
        assert_eq!(keys(&a), ["10.0.0.1/32"]);
        assert_eq!(a.values().next().unwrap().med, Some(50));

        // 10.0.0.2's hold-down still counts from its withdrawal at t0.
        let back = serving(&[("10.0.0.1", 3, false), ("10.0.0.2", 4, false)]);
        assert_eq!(p.evaluate(&back, t0 + Duration::from_secs(2)).len(), 1);
        assert_eq!(p.next_change(), Some(t0 + Duration::from_secs(5)));

        // An invalid reload is refused and the policy keeps its settings.
        let mut bad = p.config().clone();
        bad.withdraw_below = 9;
        let err = p.reconfigure(bad).unwrap_err();
        assert!(err.to_string().contains("withdraw_below"), "{err}");
        assert_eq!(p.config().announce_at, 4);
        assert_eq!(p.config().withdraw_below, 2);
    }

    #[test]
    fn withdrawn_and_missing_vips_are_withdrawn() {
        let mut p = policy(1, 1, 0);
        let t = Instant::now();
        let both = serving(&[("10.0.0.1", 5, false), ("10.0.0.2", 5, false)]);
        assert_eq!(p.evaluate(&both, t).len(), 2);
        let withdrawn = serving(&[("10.0.0.1", 5, true), ("10.0.0.2", 5, false)]);
        assert_eq!(keys(&p.evaluate(&withdrawn, t)), ["10.0.0.2/32"]);
        assert!(p.evaluate(&BTreeMap::new(), t).is_empty());
    }

    #[test]
    fn policy_config_deserializes_both_modes() {
        let per_vip: PolicyConfig =
            serde_json::from_str(r#"{"mode": "per_vip", "announce_at": 2, "withdraw_below": 1}"#)
                .unwrap();
        assert_eq!(per_vip.mode, PolicyMode::PerVip);
        assert_eq!(per_vip.announce_at, 2);
        let aggregate: PolicyConfig = serde_json::from_str(
            r#"{"mode": "aggregate", "ranges": ["203.0.113.224/28"], "require_healthy": true}"#,
        )
        .unwrap();
        assert_eq!(
            aggregate.mode,
            PolicyMode::Aggregate {
                ranges: vec!["203.0.113.224/28".parse().unwrap()],
                require_healthy: true,
            }
        );
    }

    #[test]
    fn aggregate_mode_announces_ranges() {
        let range: IpNetwork = "10.0.0.0/24".parse().unwrap();
        let mut always = AnnouncePolicy::new(PolicyConfig {
            mode: PolicyMode::Aggregate {
                ranges: vec![range],
                require_healthy: false,
            },
            ..PolicyConfig::default()
        })
        .unwrap();
        let t = Instant::now();
        assert_eq!(keys(&always.evaluate(&BTreeMap::new(), t)), ["10.0.0.0/24"]);
        let mut healthy_only = AnnouncePolicy::new(PolicyConfig {
            mode: PolicyMode::Aggregate {
                ranges: vec![range],
                require_healthy: true,
            },
            ..PolicyConfig::default()
        })
        .unwrap();
        assert!(
            healthy_only
                .evaluate(&serving(&[("10.0.1.1", 3, false)]), t)
                .is_empty()
        );
        assert_eq!(
            healthy_only
                .evaluate(&serving(&[("10.0.0.9", 1, false)]), t)
                .len(),
            1
        );
    }

    #[test]
    fn per_vip_attributes_override_defaults() {
        let special = RouteAttributes {
            med: Some(50),
            ..RouteAttributes::default()
        };
        let mut p = AnnouncePolicy::new(PolicyConfig {
            default_attributes: RouteAttributes {
                med: Some(10),
                ..RouteAttributes::default()
            },
            vip_attributes: [(vip("10.0.0.2"), special.clone())].into(),
            ..PolicyConfig::default()
        })
        .unwrap();
        let a = p.evaluate(
            &serving(&[("10.0.0.1", 1, false), ("10.0.0.2", 1, false)]),
            Instant::now(),
        );
        let meds: Vec<_> = a.values().map(|r| r.med).collect();
        assert_eq!(meds, [Some(10), Some(50)]);
    }

    #[test]
    fn rejects_inverted_thresholds() {
        let err = AnnouncePolicy::new(PolicyConfig {
            announce_at: 1,
            withdraw_below: 2,
            ..PolicyConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("withdraw_below"));
    }
}
