//! [`BuildCache`]: a build through the cache equals a fresh build after any sequence of edits,
//! endpoint and health changes, and shares the services of unchanged keys.
//!
//! Mutations tried: a cache that ignores a change of health results (or of endpoints) fails
//! `every_build_through_the_cache_equals_a_fresh_build`; so do a cache that reuses a resolution
//! for a key whose entry changed, a patch that ignores conflicts (`conflict_free` always true),
//! one that keeps a VIP no service uses any more, and one that keeps the old version's
//! problems. A cache that resolves every key again fails
//! `an_edit_shares_every_other_key_s_services`; [`build_desired_state_shared`] skipping its
//! last entry fails `every_build_through_the_cache_equals_a_fresh_build`; one that never patches fails
//! `a_lone_edit_is_patched_and_a_conflict_in_reach_is_not`. A `stale_keys` that returns
//! nothing, or ignores endpoint changes, or ignores flipped verdicts, fails the property test
//! and `endpoint_and_health_changes_are_patched_for_the_keys_they_touch`.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::configmap::parse_configmap;
use crate::model::{Protocol, RealServerKey, ServiceKey};

fn managed() -> Settings {
    Settings::from_toml_str("managed_vip_ranges = [\"203.0.113.0/24\"]").unwrap()
}

fn entries(text: &str) -> Vec<Arc<Entry>> {
    parse_configmap(text)
        .entries
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn tcp(vip: &str, port: u16) -> ServiceKey {
    ServiceKey {
        vip: vip.parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
    }
}

/// Lines the generated ConfigMaps pick from: static and Service entries, a conflict
/// (`.5-80` against `.5`), a key outside the ranges, health checks, a FullNAT entry.
const LINES: [&str; 9] = [
    "203.0.113.1-80: 198.51.100.1:80, 198.51.100.2:80; check=tcp",
    "203.0.113.1-80: 198.51.100.1:80 weight=3, 198.51.100.2:80; check=tcp",
    "203.0.113.2-80: 198.51.100.1:80",
    "203.0.113.3-443: 198.51.100.3:8443; method=nat",
    "203.0.113.5: web/front:s",
    "203.0.113.5-80: 198.51.100.9:80",
    "198.51.100.7-80: 198.51.100.1:80",
    "203.0.113.6: web/front:http; check=tcp",
    "203.0.113.8-80: 198.51.100.1:80; method=fullnat; pool=203.0.113.250",
];

const ENDPOINTS: [&str; 2] = [
    "services:\n- namespace: web\n  name: front\n  ports: [{name: http, port: 80}, {port: 443}]\n  \
     slices:\n  - addressType: IPv4\n    ports: [{name: http, port: 80}, {port: 443}]\n    \
     endpoints: [{addresses: [10.1.0.1]}]\n",
    "services:\n- namespace: web\n  name: front\n  ports: [{name: http, port: 80}, {port: 443}]\n  \
     slices:\n  - addressType: IPv4\n    ports: [{name: http, port: 80}, {port: 443}]\n    \
     endpoints: [{addresses: [10.1.0.1]}, {addresses: [10.1.0.2]}]\n",
];

fn health(unhealthy: bool) -> HealthResults {
    [
        (
            (tcp("203.0.113.1", 80), rkey("198.51.100.1", 80)),
            !unhealthy,
        ),
        ((tcp("203.0.113.6", 80), rkey("10.1.0.1", 80)), !unhealthy),
    ]
    .into_iter()
    .collect()
}

fn rkey(addr: &str, port: u16) -> RealServerKey {
    RealServerKey {
        addr: addr.parse().unwrap(),
        port,
    }
}

/// The ConfigMap of a bit set over [`LINES`] (a key appears once: the later line wins).
fn configmap(picked: u16) -> String {
    let mut by_key = BTreeMap::new();
    for (i, line) in LINES.iter().enumerate() {
        if picked & (1 << i) != 0 {
            let (key, _) = line.split_once(": ").unwrap();
            by_key.insert(key, *line);
        }
    }
    by_key.values().map(|l| format!("{l}\n")).collect()
}

proptest! {
    #[test]
    fn every_build_through_the_cache_equals_a_fresh_build(
        steps in proptest::collection::vec((0u16..512, 0usize..2, any::<bool>(), 0u8..8), 1..16)
    ) {
        let mut cache = BuildCache::default();
        let ranges = [managed(), Settings::from_toml_str(
            "managed_vip_ranges = [\"203.0.113.0/29\"]").unwrap()];
        for (picked, endpoints, unhealthy, settings) in steps {
            let entries = entries(&configmap(picked));
            let snapshot = EndpointSnapshot::from_yaml_str(ENDPOINTS[endpoints]).unwrap();
            // Settings change rarely in the sequence: mostly the first.
            let settings = &ranges[usize::from(settings == 7)];
            let plain: Vec<Entry> = entries.iter().map(|e| (**e).clone()).collect();
            let fresh = build_desired_state(&plain, settings, &snapshot, &health(unhealthy));
            let once = build_desired_state_shared(&entries, settings, &snapshot, &health(unhealthy));
            prop_assert_eq!(&once, &fresh);
            let cached = cache.build(&entries, settings, &snapshot, &health(unhealthy));
            prop_assert_eq!(cached, fresh);
        }
    }
}

/// After one key's edit, every other key's services are the very values of the build before
/// (what lets the wanted table and the focus skip them), and the edited key's are new.
#[test]
fn an_edit_shares_every_other_key_s_services() {
    let settings = managed();
    let snapshot = EndpointSnapshot::from_yaml_str(ENDPOINTS[0]).unwrap();
    let mut cache = BuildCache::default();
    let before = cache.build(
        &entries(&configmap(0b1_0011_1101)),
        &settings,
        &snapshot,
        &health(false),
    );
    // Line 1 replaces line 0 (same key, another weight).
    let after = cache.build(
        &entries(&configmap(0b1_0011_1110)),
        &settings,
        &snapshot,
        &health(false),
    );
    let edited = tcp("203.0.113.1", 80);
    assert_eq!(after.state.services.len(), before.state.services.len());
    for (key, service) in &after.state.services {
        let old = &before.state.services[key];
        assert_eq!(Arc::ptr_eq(old, service), *key != edited, "{key}");
    }
    // A health verdict of 203.0.113.1:80 flipped: that service only is resolved again.
    let again = cache.build(
        &entries(&configmap(0b1_0011_1110)),
        &settings,
        &snapshot,
        &health(true),
    );
    for (key, service) in &again.state.services {
        let old = &after.state.services[key];
        assert_eq!(Arc::ptr_eq(old, service), *key != edited, "{key}");
    }
}

/// The patch is taken for an edit that involves no other key, and not when the edit is in
/// reach of the "smaller key wins" rule; both give a fresh build's outcome.
#[test]
fn a_lone_edit_is_patched_and_a_conflict_in_reach_is_not() {
    let settings = managed();
    let snapshot = EndpointSnapshot::from_yaml_str(ENDPOINTS[0]).unwrap();
    let mut cache = BuildCache::default();
    let mut step = |picked: u16| {
        let entries = entries(&configmap(picked));
        let plain: Vec<Entry> = entries.iter().map(|e| (**e).clone()).collect();
        let fresh = build_desired_state(&plain, &settings, &snapshot, &health(false));
        let cached = cache.build(&entries, &settings, &snapshot, &health(false));
        assert_eq!(cached, fresh, "{picked:#b}");
        cache.patched()
    };
    assert!(!step(0b0_0001_1101), "the first build assembles");
    assert!(step(0b0_0001_1110), "line 1 replaces line 0: a lone edit");
    assert!(step(0b0_0001_1010), "line 2 (VIP .2) removed: its VIP goes");
    assert!(step(0b1_0001_1010), "a FullNAT key added");
    assert!(
        !step(0b1_0011_1010),
        "203.0.113.5-80 next to 203.0.113.5: a conflict"
    );
    assert!(
        !step(0b1_0010_1010),
        "203.0.113.5 removed: the key it shadowed takes over"
    );
    assert!(step(0b1_0110_1010), "a key outside the ranges added");
}

/// An endpoint change re-resolves only the entries naming that Service, a health change only
/// those whose services it judges; both are patched in. Mutation: `stale_keys` that returns
/// nothing fails this test and the property test (stale weights and endpoints).
#[test]
fn endpoint_and_health_changes_are_patched_for_the_keys_they_touch() {
    let settings = managed();
    let mut cache = BuildCache::default();
    // Static .1-80 (checked), static .2-80, .6 from Service web/front (checked).
    let entries = entries(&configmap(0b0_1000_0101));
    let mut step = |endpoints: usize, unhealthy: bool| {
        let snapshot = EndpointSnapshot::from_yaml_str(ENDPOINTS[endpoints]).unwrap();
        let plain: Vec<Entry> = entries.iter().map(|e| (**e).clone()).collect();
        let fresh = build_desired_state(&plain, &settings, &snapshot, &health(unhealthy));
        let cached = cache.build(&entries, &settings, &snapshot, &health(unhealthy));
        assert_eq!(
            cached, fresh,
            "endpoints {endpoints}, unhealthy {unhealthy}"
        );
        (cache.patched(), cached)
    };
    let (_, before) = step(0, false);
    let (patched, after) = step(1, false);
    assert!(patched, "a second endpoint of web/front");
    let shared = |a: &DesiredOutcome, b: &DesiredOutcome, vip: &str| {
        Arc::ptr_eq(
            &a.state.services[&tcp(vip, 80)],
            &b.state.services[&tcp(vip, 80)],
        )
    };
    assert!(shared(&before, &after, "203.0.113.1") && shared(&before, &after, "203.0.113.2"));
    assert!(!shared(&before, &after, "203.0.113.6"));
    let (patched, unhealthy) = step(1, true);
    assert!(patched, "two verdicts flipped");
    assert!(
        shared(&after, &unhealthy, "203.0.113.2"),
        "not judged: not resolved again"
    );
    assert!(!shared(&after, &unhealthy, "203.0.113.1"));
}
