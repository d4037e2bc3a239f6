//! Property: the desired state (and its problems) does not depend on the order of ConfigMap
//! keys, Services, EndpointSlices, endpoints or addresses.

use std::net::IpAddr;
use std::sync::Arc;

use lb_config::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, EndpointSnapshot,
    HealthResults, Protocol, RealServerKey, ServiceEndpoints, ServiceKey, ServicePort, Settings,
    TargetPort, build_desired_state, parse_configmap,
};
use proptest::prelude::*;

/// Lines that overlap on purpose: different spellings of one service, a Service entry that
/// shares a port with a static entry, DR/FullNAT variants, IPv6.
const LINES: &[&str] = &[
    "203.0.113.1-80: 198.51.100.1:80, 198.51.100.2:80",
    "203.0.113.1-80-tcp: 198.51.100.3:80",
    "203.0.113.1: a/web:s",
    "203.0.113.1-udp: a/dns:s",
    "203.0.113.2: a/web:http; method=dr",
    "203.0.113.3-443: 198.51.100.1:443; method=fullnat",
    "203.0.113.4-53-udp: 198.51.100.9:53; check=tcp",
    "2001_db8__1: a/web:s; weight=3; check=http:/h",
    "2001_db8_0_0_0_0_0_1-80: \"[2001:db8::7]:80\"",
    "203.0.113.5: a/missing:s",
    "198.51.100.200-80: 198.51.100.1:80",
];

const ADDRESSES: &[&str] = &[
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
    "198.51.100.9",
    "2001:db8::5",
    "2001:db8::6",
];

fn conditions() -> impl Strategy<Value = EndpointConditions> {
    let b = || proptest::option::of(any::<bool>());
    (b(), b(), b()).prop_map(|(ready, serving, terminating)| EndpointConditions {
        ready,
        serving,
        terminating,
    })
}

fn slice() -> impl Strategy<Value = Arc<EndpointSlice>> {
    (any::<bool>(), 8080..8082u16).prop_flat_map(|(v4, http_port)| {
        let family: Vec<&str> = ADDRESSES
            .iter()
            .copied()
            .filter(|a| a.contains('.') == v4)
            .collect();
        let endpoint = (
            proptest::sample::subsequence(family.clone(), 1..=2),
            conditions(),
        )
            .prop_map(|(addrs, conditions)| Endpoint {
                addresses: addrs
                    .iter()
                    .filter_map(|a| a.parse::<IpAddr>().ok())
                    .collect(),
                conditions,
            });
        proptest::collection::vec(endpoint, 0..4).prop_map(move |endpoints| {
            Arc::new(EndpointSlice {
                address_type: if v4 {
                    AddressType::IPv4
                } else {
                    AddressType::IPv6
                },
                ports: vec![
                    EndpointPort {
                        name: Some("http".into()),
                        port: Some(http_port),
                        protocol: Protocol::Tcp,
                    },
                    EndpointPort {
                        name: Some("dns".into()),
                        port: Some(53),
                        protocol: Protocol::Udp,
                    },
                ],
                endpoints,
            })
        })
    })
}

fn snapshot() -> impl Strategy<Value = EndpointSnapshot> {
    (
        proptest::collection::vec(slice(), 0..4),
        proptest::collection::vec(slice(), 0..3),
    )
        .prop_map(|(web, dns)| {
            [
                ServiceEndpoints {
                    namespace: "a".into(),
                    name: "web".into(),
                    ports: vec![
                        ServicePort {
                            name: Some("http".into()),
                            port: 80,
                            protocol: Protocol::Tcp,
                            target_port: Some(TargetPort::Name("http".into())),
                        },
                        ServicePort {
                            name: Some("alt".into()),
                            port: 8443,
                            protocol: Protocol::Tcp,
                            target_port: None,
                        },
                    ],
                    slices: web,
                },
                ServiceEndpoints {
                    namespace: "a".into(),
                    name: "dns".into(),
                    ports: vec![ServicePort {
                        name: Some("dns".into()),
                        port: 53,
                        protocol: Protocol::Udp,
                        target_port: Some(TargetPort::Number(53)),
                    }],
                    slices: dns,
                },
            ]
            .into_iter()
            .collect::<EndpointSnapshot>()
        })
}

/// Services of LINES that carry a health check.
const CHECKED: &[(&str, Protocol, u16)] = &[
    ("203.0.113.4", Protocol::Udp, 53),
    ("2001:db8::1", Protocol::Tcp, 53),
    ("2001:db8::1", Protocol::Udp, 53),
];

fn health() -> impl Strategy<Value = HealthResults> {
    proptest::collection::vec(
        (
            proptest::sample::select(CHECKED.to_vec()),
            proptest::sample::select(ADDRESSES.to_vec()),
            any::<bool>(),
        ),
        0..4,
    )
    .prop_map(|v| {
        v.into_iter()
            .filter_map(|((vip, protocol, port), a, ok)| {
                let service = ServiceKey {
                    vip: vip.parse().ok()?,
                    protocol,
                    port,
                };
                let addr = a.parse().ok()?;
                Some(((service, RealServerKey { addr, port: 53 }), ok))
            })
            .collect()
    })
}

/// Fisher-Yates with a tiny deterministic generator, so nested lists can be shuffled too.
fn shuffle<T>(v: &mut [T], seed: &mut u64) {
    for i in (1..v.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let j = usize::try_from(*seed % (i as u64 + 1)).unwrap_or(0);
        v.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn desired_state_ignores_input_order(
        lines in proptest::sample::subsequence(LINES.to_vec(), 0..=LINES.len()),
        snapshot in snapshot(),
        health in health(),
        seed in 1..u64::MAX,
    ) {
        let settings = Settings::from_toml_str(
            "managed_vip_ranges = [\"203.0.113.0/24\", \"2001:db8::/32\"]",
        ).unwrap();
        let text = lines.join("\n");
        let parsed = parse_configmap(&text);
        let expected = build_desired_state(&parsed.entries, &settings, &snapshot, &health);

        let mut seed = seed;
        let mut shuffled_lines = lines.clone();
        shuffle(&mut shuffled_lines, &mut seed);
        let mut entries = parse_configmap(&shuffled_lines.join("\n")).entries;
        shuffle(&mut entries, &mut seed);
        let mut services: Vec<ServiceEndpoints> =
            snapshot.services().iter().map(|s| (**s).clone()).collect();
        shuffle(&mut services, &mut seed);
        for svc in &mut services {
            shuffle(&mut svc.ports, &mut seed);
            shuffle(&mut svc.slices, &mut seed);
            for slice in &mut svc.slices {
                let slice = Arc::make_mut(slice);
                shuffle(&mut slice.ports, &mut seed);
                shuffle(&mut slice.endpoints, &mut seed);
                for endpoint in &mut slice.endpoints {
                    shuffle(&mut endpoint.addresses, &mut seed);
                }
            }
        }
        let shuffled: EndpointSnapshot = services.into_iter().collect();
        let actual = build_desired_state(&entries, &settings, &shuffled, &health);
        prop_assert_eq!(actual, expected);
    }
}
