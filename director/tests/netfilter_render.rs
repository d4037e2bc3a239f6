//! Golden tests of the pure netfilter rendering: ConfigMap -> desired state -> rule set ->
//! iptables-restore input and nft script, byte for byte.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use lb_config::{
    DesiredState, EndpointSnapshot, HealthResults, Settings, build_desired_state, parse_configmap,
};
use lb_director::netfilter::iptables::plan::{removal_input, restore_input};
use lb_director::netfilter::iptables::render::{owner_tables, table_specs};
use lb_director::netfilter::iptables::save::parse_table;
use lb_director::netfilter::nft::render::{comparable, replace_script, table_listing};
use lb_director::netfilter::{Family, Owner, director_rules, node_bypass_rules};

fn desired(data: &str, settings: &str) -> DesiredState {
    let settings = Settings::from_toml_str(settings).unwrap();
    let parsed = parse_configmap(data);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    );
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    outcome.state
}

const SETTINGS: &str = r#"
managed_vip_ranges = ["10.0.0.96/28", "2001:db8:100::/64"]
fullnat_pool = ["10.0.1.200/32"]
allowed_snat_ranges = ["10.0.1.192/27", "2001:db8:1::/64"]
"#;

/// DR, tunnel, NAT and FullNAT services, IPv4 and IPv6.
const MIXED: &str = r#"
10.0.0.97-80: 10.0.1.10:80; method=dr
10.0.0.98-53-udp: 10.0.1.10:53; method=tunnel
10.0.0.99-80: 10.0.1.10:8080; method=nat
10.0.0.100-443: 10.0.1.10:443, 10.0.1.11:443; method=fullnat; pool=10.0.1.200/31, 10.0.1.210
2001_db8_100__1-80: "[2001:db8:200::1]:80; method=dr"
2001_db8_100__2-80: "[2001:db8:200::1]:80; method=fullnat; pool=2001:db8:1::10"
"#;

#[test]
fn fullnat_keeps_nat_tracked_and_sets_conntrack() {
    let rules = director_rules(&desired(MIXED, SETTINGS));
    assert!(rules.needs_vs_conntrack);
    let exempt: Vec<String> = rules.exempt.iter().map(|e| e.service.to_string()).collect();
    assert_eq!(exempt, ["10.0.0.99:80/tcp"]);
    assert_eq!(
        rules.rules.notrack.len(),
        6,
        "DR and tunnel: both directions"
    );
    assert_eq!(rules.rules.snat.len(), 2);
}

#[test]
fn without_fullnat_nat_is_notracked() {
    let data = "10.0.0.99-80: 10.0.1.10:8080; method=nat\n10.0.0.97-80: 10.0.1.10:80; method=dr\n";
    let rules = director_rules(&desired(data, SETTINGS));
    assert!(!rules.needs_vs_conntrack);
    assert!(rules.exempt.is_empty());
    assert_eq!(rules.rules.notrack.len(), 3, "NAT one direction, DR both");
    assert!(rules.rules.snat.is_empty());
}

#[test]
fn iptables_golden() {
    let rules = director_rules(&desired(MIXED, SETTINGS)).rules;
    let specs = table_specs(&rules);
    let text: Vec<String> = specs
        .iter()
        .filter_map(|spec| {
            restore_input(spec, &Default::default()).map(|t| format!("# {:?}\n{t}", spec.family))
        })
        .collect();
    let expected = "\
# V4
*raw
:LBCTL-NOTRACK - [0:0]
-A LBCTL-NOTRACK -d 10.0.0.97/32 -p tcp -m tcp --dport 80 -j CT --notrack
-A LBCTL-NOTRACK -s 10.0.0.97/32 -p tcp -m tcp --sport 80 -j CT --notrack
-A LBCTL-NOTRACK -d 10.0.0.98/32 -p udp -m udp --dport 53 -j CT --notrack
-A LBCTL-NOTRACK -s 10.0.0.98/32 -p udp -m udp --sport 53 -j CT --notrack
-I PREROUTING 1 -j LBCTL-NOTRACK
-I OUTPUT 1 -j LBCTL-NOTRACK
COMMIT
# V4
*nat
:LBCTL-SNAT - [0:0]
-A LBCTL-SNAT -m ipvs --vproto 6 --vaddr 10.0.0.100 --vport 443 -m statistic --mode nth --every 2 --packet 0 -j SNAT --to-source 10.0.1.200-10.0.1.201 --random-fully
-A LBCTL-SNAT -m ipvs --vproto 6 --vaddr 10.0.0.100 --vport 443 -j SNAT --to-source 10.0.1.210 --random-fully
-I POSTROUTING 1 -j LBCTL-SNAT
COMMIT
# V6
*raw
:LBCTL-NOTRACK - [0:0]
-A LBCTL-NOTRACK -d 2001:db8:100::1/128 -p tcp -m tcp --dport 80 -j CT --notrack
-A LBCTL-NOTRACK -s 2001:db8:100::1/128 -p tcp -m tcp --sport 80 -j CT --notrack
-I PREROUTING 1 -j LBCTL-NOTRACK
-I OUTPUT 1 -j LBCTL-NOTRACK
COMMIT
# V6
*nat
:LBCTL-SNAT - [0:0]
-A LBCTL-SNAT -m ipvs --vproto 6 --vaddr 2001:db8:100::2 --vport 80 -j SNAT --to-source 2001:db8:1::10 --random-fully
-I POSTROUTING 1 -j LBCTL-SNAT
COMMIT
";
    assert_eq!(text.concat(), expected);
}

#[test]
fn nft_golden() {
    let rules = director_rules(&desired(MIXED, SETTINGS)).rules;
    let expected = "\
table inet lbctl {
\tset lb_to_v4_tcp {
\t\ttype ipv4_addr . inet_service
\t\telements = { 10.0.0.97 . 80 }
\t}

\tset lb_to_v4_udp {
\t\ttype ipv4_addr . inet_service
\t\telements = { 10.0.0.98 . 53 }
\t}

\tset lb_from_v4_tcp {
\t\ttype ipv4_addr . inet_service
\t\telements = { 10.0.0.97 . 80 }
\t}

\tset lb_from_v4_udp {
\t\ttype ipv4_addr . inet_service
\t\telements = { 10.0.0.98 . 53 }
\t}

\tset lb_to_v6_tcp {
\t\ttype ipv6_addr . inet_service
\t\telements = { 2001:db8:100::1 . 80 }
\t}

\tset lb_from_v6_tcp {
\t\ttype ipv6_addr . inet_service
\t\telements = { 2001:db8:100::1 . 80 }
\t}

\tchain lb_prerouting {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tjump lb_bypass
\t}

\tchain lb_output {
\t\ttype filter hook output priority raw; policy accept;
\t\tjump lb_bypass
\t}

\tchain lb_bypass {
\t\tip daddr . tcp dport @lb_to_v4_tcp counter notrack
\t\tip daddr . udp dport @lb_to_v4_udp counter notrack
\t\tip saddr . tcp sport @lb_from_v4_tcp counter notrack
\t\tip saddr . udp sport @lb_from_v4_udp counter notrack
\t\tip6 daddr . tcp dport @lb_to_v6_tcp counter notrack
\t\tip6 saddr . tcp sport @lb_from_v6_tcp counter notrack
\t}

\tchain lb_postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tct original ip daddr 10.0.0.100 meta l4proto tcp ct original proto-dst 443 numgen inc mod 2 0 counter snat ip to 10.0.1.200/31 fully-random
\t\tct original ip daddr 10.0.0.100 meta l4proto tcp ct original proto-dst 443 counter snat ip to 10.0.1.210 fully-random
\t\tct original ip6 daddr 2001:db8:100::2 meta l4proto tcp ct original proto-dst 80 counter snat ip6 to 2001:db8:1::10 fully-random
\t}
}
";
    assert_eq!(table_listing(&rules).unwrap(), expected);
    let script = replace_script(&rules).unwrap();
    assert!(script.starts_with("table inet lbctl\ndelete table inet lbctl\ntable inet lbctl {\n"));
}

/// nft lists a set's elements in its own order and wraps them; the comparison does not care.
/// Control: another element, or one missing, is a difference.
#[test]
fn nft_listings_compare_with_elements_in_any_order() {
    let ours = "table inet lbctl {\n\tset s {\n\t\ttype ipv4_addr . inet_service\n\t\telements = { 10.0.0.1 . 80, 10.0.0.2 . 53 }\n\t}\n}\n";
    let nft = "table inet lbctl {\n\tset s {\n\t\ttype ipv4_addr . inet_service\n\t\telements = { 10.0.0.2 . 53,\n\t\t\t     10.0.0.1 . 80 }\n\t}\n}\n";
    assert_eq!(comparable(ours), comparable(nft));
    let other = nft.replace("10.0.0.2 . 53", "10.0.0.3 . 53");
    assert_ne!(comparable(ours), comparable(&other));
    let fewer = nft.replace("10.0.0.2 . 53,\n\t\t\t     ", "");
    assert_ne!(comparable(ours), comparable(&fewer));
    assert_eq!(comparable("no sets\n"), "no sets");
}

#[test]
fn node_bypass_golden() {
    let rules = node_bypass_rules(
        &[
            "10.0.1.200/31".parse().unwrap(),
            "2001:db8:1::/64".parse().unwrap(),
        ],
        &["10.244.0.0/16".parse().unwrap()],
    );
    let specs = table_specs(&rules);
    let filter = specs
        .iter()
        .find(|s| s.table == "filter" && s.family == Family::V4)
        .unwrap();
    assert_eq!(
        restore_input(filter, &Default::default()).unwrap(),
        "*filter\n:LBCTL-NODE-FORWARD - [0:0]\n\
         -A LBCTL-NODE-FORWARD -s 10.0.1.200/31 -d 10.244.0.0/16 -j ACCEPT\n\
         -A LBCTL-NODE-FORWARD -s 10.244.0.0/16 -d 10.0.1.200/31 -j ACCEPT\n\
         -I FORWARD 1 -j LBCTL-NODE-FORWARD\nCOMMIT\n"
    );
    // No IPv6 pod range: nothing for IPv6.
    assert!(
        specs
            .iter()
            .filter(|s| s.family == Family::V6)
            .all(|s| s.rules.is_empty())
    );
    let listing = table_listing(&rules).unwrap();
    assert!(
        listing.contains("\t\tip saddr 10.0.1.200/31 ip daddr 10.244.0.0/16 counter notrack\n")
    );
    assert!(listing.contains("type filter hook forward priority filter - 10; policy accept;"));
}

#[test]
fn in_sync_table_needs_no_restore_and_foreign_rules_are_never_named() {
    let rules = node_bypass_rules(
        &["10.0.1.200/31".parse().unwrap()],
        &["10.244.0.0/16".parse().unwrap()],
    );
    let spec = table_specs(&rules)
        .into_iter()
        .find(|s| s.table == "filter" && s.family == Family::V4)
        .unwrap();
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :LBCTL-NODE-FORWARD - [0:0]\n:cali-FORWARD - [0:0]\n\
        -A FORWARD -j LBCTL-NODE-FORWARD\n-A FORWARD -j cali-FORWARD\n\
        -A LBCTL-NODE-FORWARD -s 10.0.1.200/31 -d 10.244.0.0/16 -j ACCEPT\n\
        -A LBCTL-NODE-FORWARD -s 10.244.0.0/16 -d 10.0.1.200/31 -j ACCEPT\nCOMMIT\n";
    assert_eq!(restore_input(&spec, &parse_table(save, "filter")), None);
    // Calico inserted itself first: our jump is moved back to position 1.
    let pushed = save.replace(
        "-A FORWARD -j LBCTL-NODE-FORWARD\n-A FORWARD -j cali-FORWARD\n",
        "-A FORWARD -j cali-FORWARD\n-A FORWARD -j LBCTL-NODE-FORWARD\n",
    );
    let fix = restore_input(&spec, &parse_table(&pushed, "filter")).unwrap();
    assert!(fix.contains("-D FORWARD -j LBCTL-NODE-FORWARD\n-I FORWARD 1 -j LBCTL-NODE-FORWARD\n"));
    assert!(!fix.contains("cali"));
    // Removal names only our chain and jump.
    let filter = owner_tables(Owner::NodeBypass)
        .into_iter()
        .find(|s| s.table == "filter" && s.family == Family::V4)
        .unwrap();
    assert_eq!(
        removal_input(&filter, &parse_table(save, "filter")).unwrap(),
        "*filter\n-D FORWARD -j LBCTL-NODE-FORWARD\n-F LBCTL-NODE-FORWARD\n-X LBCTL-NODE-FORWARD\nCOMMIT\n"
    );
}

#[test]
fn duplicate_jumps_are_reduced_to_one() {
    let rules = director_rules(&desired(
        "10.0.0.97-80: 10.0.1.10:80; method=dr\n",
        SETTINGS,
    ))
    .rules;
    let raw = table_specs(&rules)
        .into_iter()
        .find(|s| s.table == "raw" && s.family == Family::V4)
        .unwrap();
    let save = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:LBCTL-NOTRACK - [0:0]\n\
        -A PREROUTING -j LBCTL-NOTRACK\n-A PREROUTING -j LBCTL-NOTRACK\n-A OUTPUT -j LBCTL-NOTRACK\n\
        -A LBCTL-NOTRACK -d 10.0.0.97/32 -p tcp -m tcp --dport 80 -j CT --notrack\nCOMMIT\n";
    let fix = restore_input(&raw, &parse_table(save, "raw")).unwrap();
    assert_eq!(fix.matches("-D PREROUTING -j LBCTL-NOTRACK").count(), 1);
    assert!(!fix.contains("-I "));
}

#[test]
fn empty_desired_state_renders_nothing() {
    let rules = director_rules(&DesiredState::default()).rules;
    assert!(rules.is_empty());
    assert_eq!(table_listing(&rules), None);
    assert!(
        table_specs(&rules)
            .iter()
            .all(|s| restore_input(s, &Default::default()).is_none())
    );
}
