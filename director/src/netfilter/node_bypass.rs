//! The node's rules for `lbctl node-bypass`: traffic between the directors' local addresses and
//! the pods bypasses conntrack and is accepted in FORWARD ahead of the CNI's chains.
//!
//! Pure: no I/O. Both directions are covered (director -> pod and pod -> director), for every
//! pair of ranges of the same family.

use ipnetwork::IpNetwork;

use super::ruleset::{Family, Owner, RuleSet, Selector, normalize};

/// The rule set for a node, from the directors' source ranges and the pod ranges.
pub fn node_bypass_rules(director_ranges: &[IpNetwork], pod_ranges: &[IpNetwork]) -> RuleSet {
    let mut selectors = Vec::new();
    for director in director_ranges.iter().map(|n| normalize(*n)) {
        for pod in pod_ranges.iter().map(|n| normalize(*n)) {
            if Family::of(director.ip()) != Family::of(pod.ip()) {
                continue;
            }
            for selector in [
                Selector::between(director, pod),
                Selector::between(pod, director),
            ] {
                if !selectors.contains(&selector) {
                    selectors.push(selector);
                }
            }
        }
    }
    RuleSet {
        owner: Owner::NodeBypass,
        notrack: selectors.clone(),
        snat: Vec::new(),
        forward_accept: selectors,
    }
}
