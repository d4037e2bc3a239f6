//! The nftables backend against real nft in throwaway network namespaces on the host: our
//! table created with NOTRACK and SNAT (nft's SNAT matches conntrack, so it needs no IPVS),
//! a foreign table survives, the second sync writes nothing, removal deletes only our table.
//! Also the conntrack-statistics parser. Needs root, nft and iproute2.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod netfilter_support;

use lb_config::test_util::virtual_service;
use lb_config::{DesiredState, ForwardMethod, ServiceKey};
use lb_director::netfilter::conntrack_stats::parse_conntrack_stats;
use lb_director::netfilter::nft::render::{self, table_listing};
use lb_director::netfilter::{
    Change, Netfilter, NftBackend, Owner, director_rules, node_bypass_rules,
};
use netfilter_support::Netns;

fn add(state: &mut DesiredState, vip: &str, port: u16, forward: ForwardMethod) -> ServiceKey {
    let service = virtual_service(vip, port, forward);
    let key = service.key;
    state.services.insert(key, std::sync::Arc::new(service));
    state.vips.insert(key.vip);
    key
}

fn fullnat_state() -> DesiredState {
    let mut state = DesiredState::default();
    let dr = add(&mut state, "10.0.0.97", 80, ForwardMethod::Dr);
    state.netfilter.notrack.insert(dr);
    let nat = add(&mut state, "10.0.0.99", 80, ForwardMethod::Nat);
    state.netfilter.notrack.insert(nat);
    let full = add(&mut state, "10.0.0.100", 443, ForwardMethod::Fullnat);
    state.netfilter.snat.insert(
        full,
        vec![
            "10.0.1.200/31".parse().unwrap(),
            "10.0.1.210/32".parse().unwrap(),
        ],
    );
    let v6 = add(&mut state, "2001:db8:100::2", 80, ForwardMethod::Fullnat);
    state
        .netfilter
        .snat
        .insert(v6, vec!["2001:db8:1::10/128".parse().unwrap()]);
    state
}

#[test]
fn nft_director_table_is_replaced_atomically_and_idempotently() {
    let ns = Netns::new();
    ns.sh("nft 'add table inet foreign; add chain inet foreign pre { type filter hook prerouting priority raw; }; add rule inet foreign pre ip saddr 192.0.2.9 accept'");
    let foreign = ns.sh("nft list table inet foreign");
    let mut backend = NftBackend::new(ns.runner());
    let rules = director_rules(&fullnat_state()).rules;
    // A check says what a sync would do and writes nothing.
    let check = backend.check(&rules).unwrap();
    assert_eq!(check.tables[0].change, Change::Replaced, "{check:?}");
    assert_eq!(ns.sh("nft list tables").trim(), "table inet foreign");
    assert!(backend.sync(&rules).unwrap().changed());
    assert!(!backend.check(&rules).unwrap().changed());
    let listing = ns.sh("nft -s list table inet lbctl");
    assert_eq!(listing, table_listing(&rules).unwrap());
    assert!(listing.contains("ip daddr . tcp dport @lb_to_v4_tcp counter notrack"));
    assert!(listing.contains("ip saddr . tcp sport @lb_from_v4_tcp counter notrack"));
    assert!(
        listing.contains("elements = { 10.0.0.97 . 80 }"),
        "{listing}"
    );
    assert!(
        !listing.contains("10.0.0.99"),
        "NAT must stay tracked next to FullNAT: {listing}"
    );
    assert!(listing.contains("counter snat ip6 to 2001:db8:1::10 fully-random"));

    let second = backend.sync(&rules).unwrap();
    assert_eq!(second.tables[0].change, Change::Unchanged, "{second:?}");

    // The rules count what they match, and counting is not a change: the next sync compares
    // the stateless listing and leaves the table (and its counts) alone. (Comparing the
    // plain listing, which carries the counts, would replace the table at every pass.)
    // Control: a port outside the set is not counted.
    ns.sh("ip link set lo up; ip addr add 10.0.0.97/32 dev lo; curl -s --max-time 1 http://10.0.0.97:81/ || true");
    let lookup = "ip daddr . tcp dport @lb_to_v4_tcp counter packets ";
    assert!(
        ns.sh("nft list chain inet lbctl lb_bypass")
            .contains(&format!("{lookup}0 ")),
        "a port outside the set was counted"
    );
    ns.sh("curl -s --max-time 1 http://10.0.0.97:80/ || true");
    let counted = ns.sh("nft list chain inet lbctl lb_bypass");
    assert!(
        counted.contains(lookup) && !counted.contains(&format!("{lookup}0 ")),
        "{counted}"
    );
    let after_traffic = backend.sync(&rules).unwrap();
    assert_eq!(
        after_traffic.tables[0].change,
        Change::Unchanged,
        "{after_traffic:?}"
    );
    assert_eq!(ns.sh("nft list chain inet lbctl lb_bypass"), counted);

    // Drift (someone deleted our chain's rules, or one service from a set) is repaired.
    ns.sh("nft flush chain inet lbctl lb_bypass");
    assert!(backend.sync(&rules).unwrap().changed());
    assert_eq!(ns.sh("nft -s list table inet lbctl"), listing);
    ns.sh("nft delete element inet lbctl lb_to_v4_tcp '{ 10.0.0.97 . 80 }'");
    assert!(backend.sync(&rules).unwrap().changed());
    assert_eq!(ns.sh("nft -s list table inet lbctl"), listing);

    assert_eq!(ns.sh("nft list table inet foreign"), foreign);
    assert_eq!(
        backend.remove(Owner::Director).unwrap().tables[0].change,
        Change::Removed
    );
    let tables = ns.sh("nft list tables");
    assert_eq!(tables.trim(), "table inet foreign");
    assert_eq!(ns.sh("nft list table inet foreign"), foreign);
    assert!(!backend.remove(Owner::Director).unwrap().changed());
}

/// Many services: one set per family, direction, protocol and port-or-all-ports, whatever
/// order nft lists their elements in, and a second sync writes nothing. Mutation: comparing
/// the listings without sorting the elements (`comparable` returning its input) makes the
/// second sync replace the table, and this test fail.
#[test]
fn nft_notrack_sets_of_many_services_are_idempotent() {
    let ns = Netns::new();
    let mut state = DesiredState::default();
    for i in 0..200u16 {
        let dr = add(
            &mut state,
            &format!("10.0.1.{}", i % 250),
            1000 + i,
            ForwardMethod::Dr,
        );
        state.netfilter.notrack.insert(dr);
        let v6 = add(
            &mut state,
            &format!("2001:db8::{i:x}"),
            53,
            ForwardMethod::Nat,
        );
        state.netfilter.notrack.insert(v6);
    }
    let mut udp = virtual_service("10.0.2.1", 0, ForwardMethod::Tunnel);
    udp.key.protocol = lb_config::Protocol::Udp;
    state.netfilter.notrack.insert(udp.key);
    state.services.insert(udp.key, std::sync::Arc::new(udp));
    let rules = director_rules(&state).rules;
    let mut backend = NftBackend::new(ns.runner());
    assert!(backend.sync(&rules).unwrap().changed());
    let listing = ns.sh("nft -s list table inet lbctl");
    for set in [
        "lb_to_v4_tcp",
        "lb_from_v4_tcp",
        "lb_to_v6_tcp",
        "lb_to_v4_udp_all",
        "lb_from_v4_udp_all",
    ] {
        assert!(
            listing.contains(&format!("set {set} {{")),
            "{set}: {listing}"
        );
    }
    assert!(listing.contains("ip daddr @lb_to_v4_udp_all meta l4proto udp counter notrack"));
    assert_eq!(
        render::comparable(&listing),
        render::comparable(&table_listing(&rules).unwrap())
    );
    assert_ne!(
        listing,
        table_listing(&rules).unwrap(),
        "control: nft lists the elements in its own order"
    );
    let second = backend.sync(&rules).unwrap();
    assert_eq!(second.tables[0].change, Change::Unchanged, "{second:?}");
}

#[test]
fn nft_empty_rule_set_deletes_our_table() {
    let ns = Netns::new();
    let mut backend = NftBackend::new(ns.runner());
    assert!(
        backend
            .sync(&director_rules(&fullnat_state()).rules)
            .unwrap()
            .changed()
    );
    let empty = director_rules(&DesiredState::default()).rules;
    assert_eq!(
        backend.check(&empty).unwrap().tables[0].change,
        Change::Removed
    );
    assert!(ns.sh("nft list tables").contains("lbctl"), "check wrote");
    let outcome = backend.sync(&empty).unwrap();
    assert_eq!(outcome.tables[0].change, Change::Removed);
    assert!(!backend.check(&empty).unwrap().changed());
    assert_eq!(ns.sh("nft list tables").trim(), "");
}

#[test]
fn nft_node_bypass_uses_its_own_table() {
    let ns = Netns::new();
    let mut backend = NftBackend::new(ns.runner());
    let director = director_rules(&fullnat_state()).rules;
    backend.sync(&director).unwrap();
    let node = node_bypass_rules(
        &["10.0.1.200/31".parse().unwrap()],
        &["10.244.0.0/16".parse().unwrap()],
    );
    backend.sync(&node).unwrap();
    let listing = ns.sh("nft -s list table inet lbctl_node");
    assert_eq!(listing, table_listing(&node).unwrap());
    assert!(!backend.sync(&node).unwrap().changed());
    backend.remove(Owner::NodeBypass).unwrap();
    assert_eq!(ns.sh("nft list tables").trim(), "table inet lbctl");
}

#[test]
fn conntrack_stats_sum_over_cpus() {
    let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
        00000005  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000010 00000001 00000000  00000000 00000000 00000000 00000003\n\
        00000005  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 00000001 00000000 00000000  00000000 00000000 00000000 00000000\n";
    let stats = parse_conntrack_stats(text).unwrap();
    assert_eq!(
        (
            stats.insert_failed,
            stats.drop,
            stats.early_drop,
            stats.search_restart
        ),
        (12, 17, 1, 3)
    );
    assert!(parse_conntrack_stats("").is_err());
    assert!(parse_conntrack_stats("a b\n1\n").is_err());
    assert!(parse_conntrack_stats("a\nzz\n").is_err());
}
