//! The iptables backend against real iptables in throwaway network namespaces on the host:
//! chains created, foreign rules survive every sync, a second sync writes nothing, cleanup
//! removes exactly ours, node-bypass re-asserts FORWARD position 1. Needs root, iptables
//! (nf_tables and legacy variants) and iproute2; no IPVS (the SNAT `-m ipvs` rules run in the
//! lab VM, tests/lab/scenarios/30-fullnat.sh).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod netfilter_support;

use lb_config::test_util::virtual_service;
use lb_config::{DesiredState, ForwardMethod, ServiceKey, VirtualService};
use lb_director::netfilter::{
    Change, IptablesBackend, IptablesVariant, Netfilter, Owner, director_rules, node_bypass_rules,
};
use netfilter_support::{Netns, have};

fn service(vip: &str, port: u16, forward: ForwardMethod) -> (ServiceKey, VirtualService) {
    let vs = virtual_service(vip, port, forward);
    (vs.key, vs)
}

/// A director with DR and NAT services (no FullNAT, so no `-m ipvs` rule: host-safe).
fn notrack_state(services: &[(&str, u16, ForwardMethod)]) -> DesiredState {
    let mut state = DesiredState::default();
    for (vip, port, method) in services {
        let (key, vs) = service(vip, *port, *method);
        state.services.insert(key, std::sync::Arc::new(vs));
        state.netfilter.notrack.insert(key);
        state.vips.insert(key.vip);
    }
    state
}

fn tools(variant: IptablesVariant) -> (&'static str, &'static str) {
    match variant {
        IptablesVariant::System => ("iptables-save", "ip6tables-save"),
        IptablesVariant::Legacy => ("iptables-legacy-save", "ip6tables-legacy-save"),
    }
}

fn director_cycle(variant: IptablesVariant) {
    let ns = Netns::new();
    let (save4, save6) = tools(variant);
    let add = match variant {
        IptablesVariant::System => "iptables",
        IptablesVariant::Legacy => "iptables-legacy",
    };
    // Foreign rules in the tables we use, before and after our jump.
    ns.sh(&format!(
        "{add} -t raw -A PREROUTING -s 192.0.2.9 -j ACCEPT && {add} -t raw -N FOREIGN && \
         {add} -t raw -A FOREIGN -p udp -j ACCEPT && {add} -t raw -A OUTPUT -j FOREIGN"
    ));
    let foreign_before = ns.save(&format!("{save4} -t raw"));
    let mut backend = IptablesBackend::new(variant, ns.runner());

    let state = notrack_state(&[
        ("10.0.0.97", 80, ForwardMethod::Dr),
        ("10.0.0.99", 80, ForwardMethod::Nat),
        ("2001:db8:100::1", 443, ForwardMethod::Dr),
    ]);
    let rules = director_rules(&state).rules;
    // A check says what a sync would do and writes nothing.
    let check = backend.check(&rules).unwrap();
    assert!(
        check.tables.iter().any(|t| t.change == Change::Replaced),
        "{check:?}"
    );
    assert_eq!(ns.save(&format!("{save4} -t raw")), foreign_before);
    let first = backend.sync(&rules).unwrap();
    assert!(first.changed());
    let raw = ns.save(&format!("{save4} -t raw"));
    assert!(raw.contains(":LBCTL-NOTRACK - [0:0]\n"), "{raw}");
    assert!(raw.contains("-A PREROUTING -j LBCTL-NOTRACK\n"), "{raw}");
    assert!(raw.contains("-A OUTPUT -j LBCTL-NOTRACK\n"), "{raw}");
    assert!(
        raw.contains("-A LBCTL-NOTRACK -d 10.0.0.99/32 -p tcp -m tcp --dport 80 -j CT --notrack\n")
    );
    assert!(
        raw.contains("-A PREROUTING -s 192.0.2.9/32 -j ACCEPT\n"),
        "foreign rule lost: {raw}"
    );
    assert!(
        raw.contains("-A OUTPUT -j FOREIGN\n") && raw.contains("-A FOREIGN -p udp -j ACCEPT\n")
    );
    let raw6 = ns.save(&format!("{save6} -t raw"));
    assert!(
        raw6.contains(
            "-A LBCTL-NOTRACK -d 2001:db8:100::1/128 -p tcp -m tcp --dport 443 -j CT --notrack\n"
        ),
        "{raw6}"
    );
    assert!(
        raw6.contains(
            "-A LBCTL-NOTRACK -s 2001:db8:100::1/128 -p tcp -m tcp --sport 443 -j CT --notrack\n"
        ),
        "{raw6}"
    );

    // Second sync: compared equal, nothing written.
    let second = backend.sync(&rules).unwrap();
    assert!(!second.changed(), "second sync wrote: {second:?}");
    assert!(!backend.check(&rules).unwrap().changed());
    assert_eq!(ns.save(&format!("{save4} -t raw")), raw);

    // A changed state replaces our chain only.
    let smaller = director_rules(&notrack_state(&[("10.0.0.97", 80, ForwardMethod::Dr)])).rules;
    let check = backend.check(&smaller).unwrap();
    assert!(
        check.tables.iter().any(|t| t.change == Change::Removed),
        "{check:?}"
    );
    assert_eq!(ns.save(&format!("{save4} -t raw")), raw, "check wrote");
    let third = backend.sync(&smaller).unwrap();
    assert!(third.tables.iter().any(|t| t.change == Change::Replaced));
    assert!(
        third.tables.iter().any(|t| t.change == Change::Removed),
        "{third:?}"
    );
    let raw = ns.save(&format!("{save4} -t raw"));
    assert!(!raw.contains("10.0.0.99"), "{raw}");
    assert_eq!(raw.matches("-j LBCTL-NOTRACK\n").count(), 2, "{raw}");
    assert!(raw.contains("-A PREROUTING -s 192.0.2.9/32 -j ACCEPT\n"));
    assert!(!ns.save(&format!("{save6} -t raw")).contains("LBCTL"));

    // Cleanup removes exactly ours: the table is byte-identical to before.
    let removed = backend.remove(Owner::Director).unwrap();
    assert!(removed.changed());
    assert_eq!(ns.save(&format!("{save4} -t raw")), foreign_before);
    assert!(!backend.remove(Owner::Director).unwrap().changed());
}

#[test]
fn legacy_cleanup_does_not_create_legacy_tables() {
    let ns = Netns::new();
    let mut backend = IptablesBackend::new(IptablesVariant::Legacy, ns.runner());
    assert!(!backend.remove(Owner::Director).unwrap().changed());
    assert!(!backend.remove(Owner::NodeBypass).unwrap().changed());
    let names = ns.sh("cat /proc/net/ip_tables_names 2>/dev/null || true");
    assert_eq!(names.trim(), "", "reading created legacy tables: {names}");
}

#[test]
fn iptables_nft_director_sync_is_atomic_idempotent_and_clean() {
    director_cycle(IptablesVariant::System);
}

#[test]
fn iptables_legacy_director_sync_is_atomic_idempotent_and_clean() {
    assert!(
        have("iptables-legacy-restore"),
        "iptables-legacy-restore is missing (package iptables)"
    );
    director_cycle(IptablesVariant::Legacy);
}

#[test]
fn node_bypass_keeps_forward_first_after_a_cni_inserts_ahead() {
    let ns = Netns::new();
    ns.sh(
        "iptables -N cali-FORWARD && iptables -A cali-FORWARD -j DROP && iptables -P FORWARD DROP",
    );
    let rules = node_bypass_rules(
        &[
            "10.0.1.200/31".parse().unwrap(),
            "2001:db8:1::/64".parse().unwrap(),
        ],
        &[
            "10.244.0.0/16".parse().unwrap(),
            "fd00:244::/48".parse().unwrap(),
        ],
    );
    let mut backend = IptablesBackend::new(IptablesVariant::System, ns.runner());
    assert!(backend.sync(&rules).unwrap().changed());
    let first_forward = |tool: &str| -> String {
        ns.save(&format!("{tool} -t filter"))
            .lines()
            .find(|l| l.starts_with("-A FORWARD "))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        first_forward("iptables-save"),
        "-A FORWARD -j LBCTL-NODE-FORWARD"
    );
    assert_eq!(
        first_forward("ip6tables-save"),
        "-A FORWARD -j LBCTL-NODE-FORWARD"
    );
    let raw = ns.save("iptables-save -t raw");
    assert!(
        raw.contains("-A LBCTL-NODE-NOTRACK -s 10.0.1.200/31 -d 10.244.0.0/16 -j CT --notrack\n"),
        "{raw}"
    );
    assert!(
        raw.contains("-A LBCTL-NODE-NOTRACK -s 10.244.0.0/16 -d 10.0.1.200/31 -j CT --notrack\n"),
        "{raw}"
    );
    assert!(!backend.sync(&rules).unwrap().changed());

    // The CNI inserts itself at position 1 (as Calico's felix does).
    ns.sh("iptables -I FORWARD 1 -j cali-FORWARD");
    assert_eq!(first_forward("iptables-save"), "-A FORWARD -j cali-FORWARD");
    let outcome = backend.sync(&rules).unwrap();
    assert!(outcome.changed());
    let filter = ns.save("iptables-save -t filter");
    let forward: Vec<&str> = filter
        .lines()
        .filter(|l| l.starts_with("-A FORWARD "))
        .collect();
    assert_eq!(
        forward,
        [
            "-A FORWARD -j LBCTL-NODE-FORWARD",
            "-A FORWARD -j cali-FORWARD"
        ],
        "{filter}"
    );
    assert!(
        filter.contains(":FORWARD DROP"),
        "the foreign policy changed: {filter}"
    );
    assert!(!backend.sync(&rules).unwrap().changed());

    // Cleanup leaves the CNI's chain and policy alone.
    backend.remove(Owner::NodeBypass).unwrap();
    let filter = ns.save("iptables-save -t filter");
    assert!(!filter.contains("LBCTL"), "{filter}");
    assert!(filter.contains("-A FORWARD -j cali-FORWARD\n") && filter.contains(":FORWARD DROP"));
    assert!(!ns.save("iptables-save -t raw").contains("LBCTL"));
    assert!(!ns.save("ip6tables-save").contains("LBCTL"));
}
