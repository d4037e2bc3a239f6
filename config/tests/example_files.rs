//! The files under examples/ and the endpoints file format: they parse, and the lab example
//! builds the services the lab VM tests expect.

use lb_config::{
    EndpointConditions, EndpointSnapshot, EndpointsError, ForwardMethod, HealthResults, Protocol,
    ServiceKey, Settings, TargetPort, build_desired_state, parse_configmap,
};

#[test]
fn endpoints_file_parses_with_kubernetes_defaults() {
    let snap =
        EndpointSnapshot::from_yaml_str(include_str!("../../examples/endpoints.yaml")).unwrap();
    assert_eq!(snap.services().len(), 3);
    let web = snap
        .service("gslb", "nginx-ingress-controller-new-lb")
        .unwrap();
    assert_eq!(
        web.ports[0].target_port,
        Some(TargetPort::Name("http".into()))
    );
    assert_eq!(web.ports[1].target_port, Some(TargetPort::Number(8443)));
    let openapi = snap.service("openapi", "openapi-nginx-lb").unwrap();
    assert_eq!(openapi.ports[0].protocol, Protocol::Tcp);
    let c = openapi.slices[0].endpoints[0].conditions;
    assert_eq!(c, EndpointConditions::default());
    assert!(c.is_ready() && c.is_serving() && !c.is_terminating());
    let dns = snap.service("kube-system", "kube-dns").unwrap();
    assert_eq!(dns.ports[0].protocol, Protocol::Udp);
}

#[test]
fn endpoints_json_and_round_trip_through_serde() {
    let json = r#"{"services":[{"namespace":"a","name":"b","ports":[{"port":80,"protocol":"udp"}],
        "slices":[{"addressType":"IPv6","endpoints":[{"addresses":["2001:db8::1"],
        "conditions":{"ready":false,"serving":true,"terminating":true}}]}]}]}"#;
    let snap = EndpointSnapshot::from_yaml_str(json).unwrap();
    let c = snap.services()[0].slices[0].endpoints[0].conditions;
    assert!(!c.is_ready() && c.is_serving() && c.is_terminating());
    let written = serde_json::to_string(&snap).unwrap();
    assert!(written.contains("\"protocol\":\"UDP\""), "{written}");
    assert_eq!(EndpointSnapshot::from_yaml_str(&written).unwrap(), snap);
    assert_eq!(
        EndpointSnapshot::from_yaml_str("").unwrap(),
        EndpointSnapshot::default()
    );
}

#[test]
fn endpoints_errors() {
    let err = |text: &str| EndpointSnapshot::from_yaml_str(text).unwrap_err();
    let dup = "services:\n- {namespace: a, name: b}\n- {namespace: a, name: b}\n";
    assert_eq!(
        err(dup).to_string(),
        "invalid endpoint snapshot: service a/b: listed twice"
    );
    let family = "services:\n- namespace: a\n  name: b\n  slices:\n  - addressType: IPv4\n    \
                  endpoints: [{addresses: ['2001:db8::1']}]\n";
    assert!(
        err(family)
            .to_string()
            .contains("address 2001:db8::1 is in a slice of addressType IPv4")
    );
    let typo = "services:\n- {namespace: a, name: b, portz: []}\n";
    assert!(matches!(err(typo), EndpointsError::Yaml { .. }));
    assert!(err(typo).to_string().contains("portz"), "{}", err(typo));
    let fqdn = "services:\n- namespace: a\n  name: b\n  slices: [{addressType: FQDN}]\n";
    assert!(matches!(err(fqdn), EndpointsError::Yaml { .. }));
}

/// The desired state of a lab ConfigMap with the lab's settings and endpoints, free of problems.
fn lab_state(configmap: &str) -> lb_config::DesiredState {
    let parsed = parse_configmap(configmap);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let settings = Settings::from_toml_str(include_str!("../../examples/lab/settings.toml"))
        .unwrap_or_else(|e| panic!("examples/lab/settings.toml: {e}"));
    let endpoints =
        EndpointSnapshot::from_yaml_str(include_str!("../../examples/lab/endpoints.yaml"))
            .unwrap_or_else(|e| panic!("examples/lab/endpoints.yaml: {e}"));
    let o = build_desired_state(
        &parsed.entries,
        &settings,
        &endpoints,
        &HealthResults::default(),
    );
    assert!(o.problems.is_empty(), "{:?}", o.problems);
    o.state
}

#[test]
fn lab_example_builds_the_four_lab_services() {
    let state = lab_state(include_str!("../../examples/lab/configmap.yaml"));
    let key = |vip: &str, protocol, port| ServiceKey {
        vip: vip.parse().unwrap(),
        protocol,
        port,
    };
    let methods: Vec<(ServiceKey, ForwardMethod, usize)> = state
        .services
        .values()
        .map(|s| (s.key, s.forward, s.real_servers.len()))
        .collect();
    assert_eq!(
        methods,
        vec![
            (key("10.0.0.100", Protocol::Tcp, 80), ForwardMethod::Nat, 2),
            (key("10.0.0.100", Protocol::Udp, 53), ForwardMethod::Nat, 1),
            (key("10.0.0.101", Protocol::Tcp, 80), ForwardMethod::Dr, 2),
            (
                key("10.0.0.102", Protocol::Tcp, 80),
                ForwardMethod::Tunnel,
                2
            ),
        ]
    );
    assert_eq!(state.vips.len(), 3);
    assert_eq!(state.netfilter.notrack.len(), 4);
}

#[test]
fn example_settings_parse() {
    let s = Settings::from_toml_str(include_str!("../../examples/settings.toml")).unwrap();
    assert!(s.require_managed_ranges().is_ok());
    assert!(s.manages("203.0.113.225".parse().unwrap()));
}

/// The demo's premise (tests/lab/scenarios/demo.sh): the daemon's ConfigMap, which names the
/// Service shop/web, builds the very table `lbctl apply` programs from the static one, so the
/// daemon adopts it with zero writes. Only the origins and the health checks differ.
#[test]
fn lab_services_example_builds_the_same_table_as_the_static_one() {
    let statics = lab_state(include_str!("../../examples/lab/configmap.yaml"));
    let services = lab_state(include_str!("../../examples/lab/configmap-services.yaml"));
    let kernel_view = |state: &lb_config::DesiredState| {
        state
            .services
            .values()
            .map(|s| {
                let mut s = (**s).clone();
                s.origin.config_key.clear();
                s.origin.service = None;
                s.health_check = None;
                s
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(kernel_view(&statics), kernel_view(&services));
    assert_eq!(statics.vips, services.vips);
    assert_eq!(statics.netfilter, services.netfilter);
    let checked = services
        .services
        .values()
        .filter(|s| s.origin.service.is_some() && s.health_check.is_some())
        .count();
    assert_eq!(
        checked, 2,
        "NAT and DR VIPs come from shop/web, health-checked"
    );
}

/// The snapshot keeps its Services sorted whatever the order they come in, so every one is
/// found by binary search, and a Service listed twice is still refused. Mutation: building
/// the snapshot without sorting (`from = "SnapshotFile"` dropped) loses most lookups here.
#[test]
fn every_service_is_found_in_a_snapshot_given_in_any_order() {
    let mut text = String::from("services:\n");
    // 0, 37, 74, ...: a scrambled order of 100 names over 3 namespaces.
    for i in 0..100u32 {
        let n = (i * 37) % 100;
        text.push_str(&format!("  - {{namespace: ns{}, name: svc-{n}}}\n", n % 3));
    }
    let snap = EndpointSnapshot::from_yaml_str(&text).unwrap();
    for n in 0..100u32 {
        let ns = format!("ns{}", n % 3);
        let name = format!("svc-{n}");
        let found = snap.service(&ns, &name).map(|s| s.name.as_str());
        assert_eq!(found, Some(name.as_str()));
    }
    assert!(snap.service("ns0", "svc-1").is_none());
    let twice = "services:\n  - {namespace: a, name: x}\n  - {namespace: b, name: y}\n  - {namespace: a, name: x}\n";
    assert!(matches!(
        EndpointSnapshot::from_yaml_str(twice),
        Err(EndpointsError::Invalid { .. })
    ));
}
