//! The director's rules, derived from the desired state: which services bypass conntrack and
//! which are SNATed to a pool (FullNAT emulation on stock kernels).
//!
//! Pure: no I/O. The policy, and why:
//! - DR and tunnel services never need conntrack on the director: NOTRACK always, in both
//!   directions (requests to VIP:port, and replies from VIP:port in case the director is also
//!   the real servers' gateway and routes them).
//! - NAT services need no conntrack for IPVS itself, but when `net.ipv4.vs.conntrack=1` (which
//!   FullNAT needs, and which is one switch per network namespace) IPVS keeps conntrack entries
//!   for its connections and untracked packets would leave half-built entries for the replies.
//!   So NAT services are NOTRACKed only while no FullNAT service exists (`vs.conntrack=0`).
//! - FullNAT services are never NOTRACKed: SNAT is a conntrack feature.

use std::collections::BTreeMap;

use ipnetwork::IpNetwork;
use lb_config::{DesiredState, ForwardMethod, ServiceKey};
use serde::Serialize;

use super::ruleset::{Family, Owner, RuleSet, Selector, SnatRule, normalize};

/// Why a service in the desired state's NOTRACK or SNAT intents got no rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// The service.
    pub service: ServiceKey,
    /// Human-readable reason.
    pub reason: String,
}

/// The director's rule set plus the decisions an operator may want to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectorRules {
    /// What to install.
    pub rules: RuleSet,
    /// Whether `net.ipv4.vs.conntrack` must be 1 (some service is SNATed).
    pub needs_vs_conntrack: bool,
    /// Intents that got no rule, with the reason.
    pub exempt: Vec<Exemption>,
}

/// Whether the desired state needs IPVS to keep conntrack entries (`vs.conntrack=1`).
pub fn needs_vs_conntrack(desired: &DesiredState) -> bool {
    !desired.netfilter.snat.is_empty()
}

/// Renders the desired state's netfilter intents into the director's rule set.
pub fn director_rules(desired: &DesiredState) -> DirectorRules {
    let conntrack = needs_vs_conntrack(desired);
    let mut exempt = Vec::new();
    let mut notrack = Vec::new();
    for key in &desired.netfilter.notrack {
        let method = desired.services.get(key).map(|s| s.forward);
        match method {
            Some(ForwardMethod::Dr | ForwardMethod::Tunnel) => {
                notrack.push(Selector::to_service(key));
                notrack.push(Selector::from_service(key));
            }
            Some(ForwardMethod::Nat) if !conntrack => notrack.push(Selector::to_service(key)),
            Some(ForwardMethod::Nat) => exempt.push(Exemption {
                service: *key,
                reason: "NAT service while FullNAT needs net.ipv4.vs.conntrack=1: stays tracked"
                    .to_owned(),
            }),
            Some(ForwardMethod::Fullnat) => exempt.push(Exemption {
                service: *key,
                reason: "FullNAT needs conntrack for its SNAT".to_owned(),
            }),
            None => exempt.push(Exemption {
                service: *key,
                reason: "not a virtual service of the desired state".to_owned(),
            }),
        }
    }
    let mut snat = Vec::new();
    for (key, pool) in &desired.netfilter.snat {
        let family = Family::of(key.vip);
        let usable = pool_of_family(pool, family);
        if usable.is_empty() {
            exempt.push(Exemption {
                service: *key,
                reason: format!("the SNAT pool has no {family:?} address"),
            });
            continue;
        }
        snat.push(SnatRule {
            service: *key,
            pool: usable,
        });
    }
    DirectorRules {
        rules: RuleSet {
            owner: Owner::Director,
            notrack,
            snat,
            forward_accept: Vec::new(),
        },
        needs_vs_conntrack: conntrack,
        exempt,
    }
}

/// The pool's networks of one family, normalised and without duplicates, in the given order.
fn pool_of_family(pool: &[IpNetwork], family: Family) -> Vec<IpNetwork> {
    let mut seen = BTreeMap::new();
    pool.iter()
        .map(|net| normalize(*net))
        .filter(|net| Family::of(net.ip()) == family)
        .filter(|net| seen.insert(*net, ()).is_none())
        .collect()
}
