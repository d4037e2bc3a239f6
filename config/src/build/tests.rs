//! Desired-state builder tests: the examples end to end, ranges, conflicts, methods, endpoints.

use std::net::IpAddr;

use super::*;
use crate::configmap::parse_configmap;
use crate::desired::{RealServerState, VirtualService};
use crate::model::{Protocol, RealServerKey, ServiceKey, TunnelType};
use crate::problem::{Position, Severity};

fn settings(text: &str) -> Settings {
    Settings::from_toml_str(text).unwrap()
}

fn managed() -> Settings {
    settings("managed_vip_ranges = [\"203.0.113.0/24\", \"2001:db8::/32\"]")
}

fn build(configmap: &str, settings: &Settings, endpoints: &str) -> DesiredOutcome {
    build_with_health(configmap, settings, endpoints, &HealthResults::default())
}

fn build_with_health(
    configmap: &str,
    settings: &Settings,
    endpoints: &str,
    health: &HealthResults,
) -> DesiredOutcome {
    let parsed = parse_configmap(configmap);
    assert!(
        parsed.problems.iter().all(|p| !p.is_error()),
        "{:?}",
        parsed.problems
    );
    let snapshot = EndpointSnapshot::from_yaml_str(endpoints).unwrap();
    build_desired_state(&parsed.entries, settings, &snapshot, health)
}

fn skey(vip: &str, protocol: Protocol, port: u16) -> ServiceKey {
    ServiceKey {
        vip: vip.parse().unwrap(),
        protocol,
        port,
    }
}

fn rkey(addr: &str, port: u16) -> RealServerKey {
    RealServerKey {
        addr: addr.parse().unwrap(),
        port,
    }
}

fn service<'a>(
    o: &'a DesiredOutcome,
    vip: &str,
    protocol: Protocol,
    port: u16,
) -> &'a VirtualService {
    o.state
        .services
        .get(&skey(vip, protocol, port))
        .unwrap_or_else(|| {
            panic!(
                "no service {vip}:{port}/{protocol} in {:?}",
                o.state.services.keys()
            )
        })
}

fn weights(s: &VirtualService) -> Vec<(String, u32, RealServerState)> {
    s.real_servers
        .values()
        .map(|r| (r.key.to_string(), r.weight, r.state))
        .collect()
}

fn messages(o: &DesiredOutcome) -> Vec<String> {
    o.problems.iter().map(ToString::to_string).collect()
}

#[test]
fn examples_build_without_problems() {
    let o = build(
        include_str!("../../../examples/configmap.yaml"),
        &settings(include_str!("../../../examples/settings.toml")),
        include_str!("../../../examples/endpoints.yaml"),
    );
    assert!(o.problems.is_empty(), "{:#?}", o.problems);
    use RealServerState::*;
    // Named targetPort resolved through the slice; terminating drains; not-ready is left out.
    let http = service(&o, "203.0.113.226", Protocol::Tcp, 80);
    assert_eq!(
        weights(http),
        vec![
            ("198.51.100.101:8080".into(), 1, Active),
            ("198.51.100.102:8080".into(), 1, Active),
            ("198.51.100.103:8080".into(), 0, Terminating),
        ]
    );
    let origin = http.origin.service.as_ref().unwrap();
    assert_eq!(
        (origin.namespace.as_str(), origin.port.as_str()),
        ("gslb", "http")
    );
    assert_eq!(
        service(&o, "203.0.113.226", Protocol::Tcp, 443)
            .real_servers
            .len(),
        3
    );
    // Duplicated endpoint counted once; IPv6 endpoints not used for an IPv4 VIP.
    assert_eq!(
        weights(service(&o, "203.0.113.227", Protocol::Tcp, 80)),
        vec![
            ("198.51.100.111:8080".into(), 1, Active),
            ("198.51.100.112:8080".into(), 1, Active)
        ]
    );
    // The UDP port named dns only.
    assert!(
        o.state
            .services
            .contains_key(&skey("203.0.113.232", Protocol::Udp, 53))
    );
    assert!(
        !o.state
            .services
            .contains_key(&skey("203.0.113.232", Protocol::Tcp, 53))
    );
    let dr = service(&o, "203.0.113.228", Protocol::Tcp, 80);
    assert_eq!(dr.forward, ForwardMethod::Dr);
    assert_eq!(dr.scheduler, crate::model::Scheduler::Mh);
    assert!(dr.scheduler_flags.fallback);
    assert_eq!(weights(dr)[0].1, 3);
    let check = dr.health_check.as_ref().unwrap();
    assert_eq!(
        (
            check.interval_secs,
            check.timeout_secs,
            check.rise,
            check.fall
        ),
        (5, 2, 2, 3)
    );
    let gue = service(&o, "203.0.113.231", Protocol::Tcp, 443);
    assert_eq!(gue.tunnel, Some(TunnelType::Gue { port: 6080 }));
    assert_eq!(
        gue.real_servers[&rkey("198.51.100.50", 443)].upper_threshold,
        5000
    );
    let v6 = service(&o, "2001:db8:100::10", Protocol::Tcp, 443);
    assert_eq!(weights(v6)[1].1, 2);
    // Netfilter: FullNAT gets SNAT (its own pool), everything else NOTRACK.
    let fullnat = skey("203.0.113.230", Protocol::Tcp, 8080);
    assert_eq!(
        o.state.netfilter.snat[&fullnat][0].to_string(),
        "198.51.100.250/31"
    );
    assert!(!o.state.netfilter.notrack.contains(&fullnat));
    assert_eq!(o.state.netfilter.notrack.len(), o.state.services.len() - 1);
    let vips: Vec<String> = o.state.vips.iter().map(ToString::to_string).collect();
    assert_eq!(vips.len(), 9);
    assert!(vips.contains(&"2001:db8:100::10".to_owned()));
}

#[test]
fn bad_example_reports_each_mistake() {
    let parsed = parse_configmap(include_str!("../../../examples/configmap-bad.yaml"));
    let s = settings(include_str!("../../../examples/settings.toml"));
    let o = build_desired_state(
        &parsed.entries,
        &s,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    );
    let mut all: Vec<String> = parsed
        .problems
        .iter()
        .chain(&o.problems)
        .map(ToString::to_string)
        .collect();
    all.sort();
    assert_eq!(
        all,
        vec![
            "198.51.100.7-80: VIP 198.51.100.7 is outside the managed VIP ranges \
             (203.0.113.224/28, 2001:db8:100::/64)",
            "2001_db8_100__10-443: column 1: write IPv6 real servers in brackets, e.g. \
             [2001:db8::5]:80",
            "203.0.113.225-80: column 34: expected a port number 1-65535, found \"8o\"",
            "203.0.113.226-80: column 19: unknown option \"schedular\": expected one of \
             scheduler, method, pool, persistence, weight, check, check-port, check-interval, \
             check-timeout, check-rise, check-fall, check-body",
            "203.0.113.227-443: real server 1: real server 198.51.100.32:8443: method=dr cannot \
             change ports, so the real-server port must be the virtual port 443",
            "203.0.113.228: column 37: expected ':s' (all ports), ':PORTNAME' or ':PORTNUMBER' \
             after the Service name",
            "203.0.113.229-80-tcp: 203.0.113.229:80/tcp is also defined by key \
             203.0.113.229-80; the lexicographically smaller key wins, so key \
             203.0.113.229-80-tcp is ignored",
        ]
    );
    assert_eq!(o.state.services.len(), 1);
}

#[test]
fn vips_outside_managed_ranges_are_rejected() {
    let o = build(
        "203.0.113.1-80: 198.51.100.1:80\n",
        &Settings::default(),
        "",
    );
    assert!(o.state.services.is_empty() && o.state.vips.is_empty());
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.1-80: VIP 203.0.113.1 is not managed: the settings have no \
             managed_vip_ranges, so no VIP is managed; add a range that holds it, e.g. \
             managed_vip_ranges = [\"203.0.113.1/32\"]"
        ]
    );
    let s = settings("managed_vip_ranges = [\"203.0.113.0/28\"]");
    let o = build(
        "203.0.113.1-80: 198.51.100.1:80\n203.0.113.16-80: 198.51.100.1:80\n",
        &s,
        "",
    );
    assert_eq!(o.state.services.len(), 1);
    assert_eq!(
        o.rejected_keys().into_iter().collect::<Vec<_>>(),
        vec!["203.0.113.16-80"]
    );
}

#[test]
fn conflicts_keep_the_smaller_key_whatever_the_order() {
    let text = "203.0.113.226: web/front:s\n203.0.113.226-80: 198.51.100.1:80\n";
    let endpoints =
        "services:\n- {namespace: web, name: front, ports: [{port: 80}, {port: 443}]}\n";
    let o = build(text, &managed(), endpoints);
    // "203.0.113.226" < "203.0.113.226-80": the Service entry wins both of its ports.
    assert_eq!(o.state.services.len(), 2);
    assert_eq!(
        service(&o, "203.0.113.226", Protocol::Tcp, 80)
            .origin
            .config_key,
        "203.0.113.226"
    );
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.226-80: 203.0.113.226:80/tcp is also defined by key 203.0.113.226; the \
             lexicographically smaller key wins, so key 203.0.113.226-80 is ignored"
        ]
    );
    let parsed = parse_configmap(text);
    let mut reversed = parsed.entries.clone();
    reversed.reverse();
    let snapshot = EndpointSnapshot::from_yaml_str(endpoints).unwrap();
    let again = build_desired_state(&reversed, &managed(), &snapshot, &HealthResults::default());
    assert_eq!(again, o);
}

#[test]
fn different_spellings_of_one_service_conflict() {
    let o = build(
        "2001_db8__1-80: \"[2001:db8::9]:80\"\n2001_db8_0_0_0_0_0_1-80-tcp: \"[2001:db8::8]:80\"\n",
        &managed(),
        "",
    );
    assert_eq!(o.state.services.len(), 1);
    assert_eq!(o.problems.len(), 1);
    assert!(
        o.problems[0]
            .message
            .contains("also defined by key 2001_db8_0_0_0_0_0_1-80-tcp")
    );
    assert_eq!(o.problems[0].key, "2001_db8__1-80");
}

#[test]
fn dr_and_tunnel_keep_ports_and_families() {
    let o = build(
        "203.0.113.1-80: 198.51.100.1:80, 198.51.100.2:8080; method=dr\n\
         203.0.113.2-80: \"[2001:db8::1]:80; method=tunnel\"\n\
         203.0.113.3-80: \"[2001:db8::1]:80\"\n\
         203.0.113.4-80: 198.51.100.1:8080\n",
        &managed(),
        "",
    );
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.1-80: real server 2: real server 198.51.100.2:8080: method=dr cannot \
             change ports, so the real-server port must be the virtual port 80",
            "203.0.113.3-80: real server 1: real server [2001:db8::1]:80 is not of the VIP's \
             address family (only method=tunnel can mix IPv4 and IPv6)",
        ]
    );
    assert_eq!(o.problems[0].position, Some(Position::Item { index: 2 }));
    let tunnel = service(&o, "203.0.113.2", Protocol::Tcp, 80);
    assert_eq!(tunnel.tunnel, Some(TunnelType::Ipip));
    // NAT rewrites ports.
    assert!(
        service(&o, "203.0.113.4", Protocol::Tcp, 80)
            .real_servers
            .contains_key(&rkey("198.51.100.1", 8080))
    );
    assert_eq!(o.state.services.len(), 2);
}

#[test]
fn fullnat_needs_a_pool_and_skips_notrack() {
    let text = "203.0.113.1-80: 198.51.100.1:80; method=fullnat\n";
    let o = build(text, &managed(), "");
    assert!(o.state.services.is_empty());
    assert!(messages(&o)[0].contains("method=fullnat needs a SNAT pool"));
    let s = settings(
        "managed_vip_ranges = [\"203.0.113.0/24\"]\nfullnat_pool = [\"198.51.100.250/32\"]",
    );
    let o = build(text, &s, "");
    let key = skey("203.0.113.1", Protocol::Tcp, 80);
    assert_eq!(o.state.netfilter.snat[&key], s.fullnat_pool);
    assert!(o.state.netfilter.notrack.is_empty());
    // pool= with a non-FullNAT default method is only a warning.
    let o = build(
        "203.0.113.1-80: 198.51.100.1:80; pool=198.51.100.9\n",
        &managed(),
        "",
    );
    assert_eq!(o.problems[0].severity, Severity::Warning);
    assert!(o.state.netfilter.notrack.contains(&key));
}

#[test]
fn health_results_zero_the_weight_only_with_a_check() {
    let checked = skey("203.0.113.1", Protocol::Tcp, 80);
    let health: HealthResults = [
        ((checked, rkey("198.51.100.1", 80)), false),
        ((checked, rkey("198.51.100.2", 80)), true),
    ]
    .into_iter()
    .collect();
    let o = build_with_health(
        "203.0.113.1-80: 198.51.100.1:80 weight=5, 198.51.100.2:80, 198.51.100.3:80; check=tcp\n\
         203.0.113.2-80: 198.51.100.1:80\n",
        &managed(),
        "",
        &health,
    );
    assert_eq!(
        weights(service(&o, "203.0.113.1", Protocol::Tcp, 80)),
        vec![
            ("198.51.100.1:80".into(), 0, RealServerState::Unhealthy),
            ("198.51.100.2:80".into(), 1, RealServerState::Active),
            ("198.51.100.3:80".into(), 1, RealServerState::Active),
        ]
    );
    assert_eq!(
        weights(service(&o, "203.0.113.2", Protocol::Tcp, 80))[0].1,
        1
    );
}

#[test]
fn a_shared_real_server_is_judged_by_each_services_own_check() {
    let http = skey("203.0.113.1", Protocol::Tcp, 80);
    let tcp = skey("203.0.113.2", Protocol::Tcp, 80);
    let rs = rkey("198.51.100.1", 80);
    let health: HealthResults = [((http, rs), false), ((tcp, rs), true)]
        .into_iter()
        .collect();
    let o = build_with_health(
        "203.0.113.1-80: 198.51.100.1:80; check=http:/healthz\n\
         203.0.113.2-80: 198.51.100.1:80; check=tcp\n",
        &managed(),
        "",
        &health,
    );
    assert_eq!(
        weights(service(&o, "203.0.113.1", Protocol::Tcp, 80)),
        vec![("198.51.100.1:80".into(), 0, RealServerState::Unhealthy)]
    );
    assert_eq!(
        weights(service(&o, "203.0.113.2", Protocol::Tcp, 80)),
        vec![("198.51.100.1:80".into(), 1, RealServerState::Active)]
    );
}

const DNS: &str = "
services:
- namespace: kube-system
  name: kube-dns
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns-tcp}
  - {name: metrics, port: 9153, targetPort: metrics}
  slices:
  - addressType: IPv6
    ports: [{name: dns-tcp, port: 5354, protocol: TCP}]
    endpoints:
    - addresses: ['2001:db8::53']
  - addressType: IPv4
    ports: [{name: dns-tcp, port: 5354, protocol: TCP}]
    endpoints:
    - addresses: [198.51.100.53]
      conditions: {ready: false, serving: false, terminating: true}
    - addresses: [198.51.100.54]
      conditions: {ready: true}
";

#[test]
fn service_ports_selection_and_target_ports() {
    let o = build("203.0.113.53: kube-system/kube-dns:53\n", &managed(), DNS);
    let udp = service(&o, "203.0.113.53", Protocol::Udp, 53);
    assert_eq!(
        weights(udp),
        vec![("198.51.100.54:5353".into(), 1, RealServerState::Active)]
    );
    let tcp = service(&o, "203.0.113.53", Protocol::Tcp, 53);
    assert_eq!(
        weights(tcp),
        vec![("198.51.100.54:5354".into(), 1, RealServerState::Active)]
    );
    assert_eq!(o.state.services.len(), 2);
    // The named port "metrics" is not in any slice: a service without real servers.
    let o = build(
        "203.0.113.53: kube-system/kube-dns:metrics; weight=7\n",
        &managed(),
        DNS,
    );
    assert!(
        service(&o, "203.0.113.53", Protocol::Tcp, 9153)
            .real_servers
            .is_empty()
    );
    // Protocol filter from the key; IPv6 VIP gets only IPv6 endpoints.
    let o = build(
        "2001_db8__53-tcp: kube-system/kube-dns:s; weight=7\n",
        &managed(),
        DNS,
    );
    assert_eq!(o.state.services.len(), 2);
    assert_eq!(
        weights(service(&o, "2001:db8::53", Protocol::Tcp, 53)),
        vec![("[2001:db8::53]:5354".into(), 7, RealServerState::Active)]
    );
}

#[test]
fn service_problems_are_warnings() {
    let o = build("203.0.113.53: kube-system/nope:s\n", &managed(), DNS);
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.53: Service kube-system/nope is not in the endpoint snapshot: the VIP \
              serves nothing from it"
        ]
    );
    let o = build(
        "203.0.113.53-sctp: kube-system/kube-dns:s\n",
        &managed(),
        DNS,
    );
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.53-sctp: Service kube-system/kube-dns has no port matching any port \
              with protocol sctp (its ports: dns, dns-tcp, metrics)"
        ]
    );
    let only_v6 = "services:\n- namespace: a\n  name: b\n  ports: [{port: 80}]\n  slices:\n  \
                   - addressType: IPv6\n    endpoints: [{addresses: ['2001:db8::1']}]\n";
    let o = build("203.0.113.1: a/b:s\n", &managed(), only_v6);
    assert_eq!(o.problems[0].severity, Severity::Warning);
    assert!(
        o.problems[0]
            .message
            .contains("none of the VIP's family (IPv4)")
    );
    assert_eq!(o.state.services.len(), 1);
    assert!(o.rejected_keys().is_empty());
}

#[test]
fn service_dr_needs_equal_target_port() {
    let o = build(
        "203.0.113.53-udp: kube-system/kube-dns:s; method=dr\n",
        &managed(),
        DNS,
    );
    assert!(o.state.services.is_empty());
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.53-udp: Service kube-system/kube-dns port dns sends to target port \
              5353, but method=dr cannot change ports"
        ]
    );
}

#[test]
fn vip_set_is_every_vip_with_a_service() {
    let o = build(
        "203.0.113.1-80: 198.51.100.1:80\n203.0.113.1-443: 198.51.100.1:443\n203.0.113.9: a/b:s\n",
        &managed(),
        "",
    );
    let vips: Vec<IpAddr> = o.state.vips.iter().copied().collect();
    assert_eq!(vips, vec!["203.0.113.1".parse::<IpAddr>().unwrap()]);
}

/// A ConfigMap editor is not root on the director: an exec check or a SNAT pool the settings
/// do not allow rejects that key alone; the other keys are built as usual. Mutation: without
/// the policy step in `build_desired_state`, both keys are built.
#[test]
fn keys_asking_for_more_than_the_settings_allow_are_rejected_alone() {
    let text = "\
203.0.113.1-80: 198.51.100.1:80
203.0.113.2-80: 198.51.100.2:80; check=exec:/bin/sh -c touch${IFS}/tmp/pwned
203.0.113.3-80: 198.51.100.3:80; method=fullnat; pool=192.0.2.77
203.0.113.4-80: 198.51.100.4:80; method=fullnat; pool=198.51.100.250/31
";
    let s = settings(
        "managed_vip_ranges = [\"203.0.113.0/24\"]\nallowed_snat_ranges = [\"198.51.100.248/29\"]",
    );
    let o = build(text, &s, "");
    let keys: Vec<String> = o
        .state
        .services
        .values()
        .map(|svc| svc.origin.config_key.clone())
        .collect();
    assert_eq!(keys, vec!["203.0.113.1-80", "203.0.113.4-80"]);
    let m = messages(&o);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m[0].starts_with("203.0.113.2-80: check=exec is disabled on this director"),
        "{}",
        m[0]
    );
    assert!(
        m[1].starts_with("203.0.113.3-80: pool= 192.0.2.77/32 is outside the SNAT source ranges"),
        "{}",
        m[1]
    );

    // Allowed by the settings: the exec key is built, with its check.
    let s = settings(
        "managed_vip_ranges = [\"203.0.113.0/24\"]\n[exec_checks]\nenabled = true\n\
         allowed_directories = [\"/bin\"]\n",
    );
    let o = build(
        "203.0.113.2-80: 198.51.100.2:80; check=exec:/bin/true\n",
        &s,
        "",
    );
    assert!(o.problems.is_empty(), "{:#?}", o.problems);
    assert!(
        service(&o, "203.0.113.2", Protocol::Tcp, 80)
            .health_check
            .is_some()
    );
}

/// `ADDR` alone takes the virtual port, so it and `ADDR:VPORT` are one real server: the key is
/// rejected instead of the second item silently replacing the first (with its weight).
/// Mutation: without the check in `resolve_static` the key builds with weight 5 and no problem.
#[test]
fn a_real_server_named_with_and_without_the_virtual_port_is_a_duplicate() {
    let o = build(
        "203.0.113.1-80: 198.51.100.1, 198.51.100.1:80 weight=5\n",
        &managed(),
        "",
    );
    assert!(o.state.services.is_empty());
    assert_eq!(
        messages(&o),
        vec![
            "203.0.113.1-80: real server 2: 198.51.100.1:80 is listed twice (ADDR alone \
             means ADDR:80)"
        ]
    );
}

/// Entries that share a key (a caller's list, not a ConfigMap) still build the same state in
/// any order: the rendered entry breaks the tie. Mutation: sorting by key alone (dropping the
/// render tie-break that replaced rendering every entry up front) makes the first entry given
/// win, and the reversed build differs.
#[test]
fn entries_sharing_a_key_build_the_same_state_in_any_order() {
    let one = parse_configmap("203.0.113.5-80: 198.51.100.1:80\n").entries;
    let two = parse_configmap("203.0.113.5-80: 198.51.100.2:80\n").entries;
    let forward: Vec<Entry> = one.iter().chain(&two).cloned().collect();
    let backward: Vec<Entry> = two.iter().chain(&one).cloned().collect();
    let build = |entries: &[Entry]| {
        build_desired_state(
            entries,
            &managed(),
            &EndpointSnapshot::default(),
            &HealthResults::default(),
        )
    };
    let o = build(&forward);
    assert_eq!(o, build(&backward));
    assert_eq!(
        weights(service(&o, "203.0.113.5", Protocol::Tcp, 80)),
        vec![("198.51.100.1:80".to_owned(), 1, RealServerState::Active)]
    );
}
