//! Property: rendering any valid entry and parsing the text gives the same entry back.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use lb_config::{
    CheckSpec, Entry, EntryOptions, ForwardMethod, HealthCheckKind, Persistence, PortSelector,
    Protocol, Scheduler, SchedulerFlags, ServiceRef, StaticRealServer, Target, TunnelType,
    parse_entry, render_entry,
};
use proptest::prelude::*;

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

fn real_servers(port: u16) -> impl Strategy<Value = Vec<StaticRealServer>> {
    let one = (
        any::<IpAddr>(),
        prop_oneof![Just(port), 1..=u16::MAX],
        proptest::option::of(0..=65_535u32),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
    )
        // Only valid thresholds round-trip: the parser refuses a lower threshold above the
        // upper one (an unset upper counting as 0), as the kernel does.
        .prop_map(|(addr, port, weight, upper, lower)| StaticRealServer {
            addr,
            port,
            weight,
            upper_threshold: upper,
            lower_threshold: lower.map(|lower| lower.min(upper.unwrap_or(0))),
        });
    proptest::collection::vec(one, 1..4).prop_map(|mut v| {
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|rs| seen.insert((rs.addr, rs.port)));
        v
    })
}

fn target() -> impl Strategy<Value = Target> {
    let static_target = (1..=u16::MAX, protocol()).prop_flat_map(|(port, protocol)| {
        real_servers(port).prop_map(move |real_servers| Target::Static {
            port,
            protocol,
            real_servers,
        })
    });
    let selector = prop_oneof![
        Just(PortSelector::All),
        "[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?"
            .prop_filter("s means all ports", |n| n != "s")
            .prop_map(PortSelector::Name),
        (1..=u16::MAX).prop_map(PortSelector::Number),
    ];
    let service_target = (
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        "[a-z]([a-z0-9-]{0,10}[a-z0-9])?",
        selector,
        proptest::option::of(protocol()),
    )
        .prop_map(|(namespace, name, ports, protocol)| Target::Service {
            service: ServiceRef {
                namespace,
                name,
                ports,
            },
            protocol,
        });
    prop_oneof![static_target, service_target]
}

fn check() -> impl Strategy<Value = CheckSpec> {
    let kind = prop_oneof![
        proptest::option::of(1..=u16::MAX).prop_map(|port| HealthCheckKind::Tcp { port }),
        (
            any::<bool>(),
            "/[a-z0-9/:._%?=-]{0,12}",
            100..=599u16,
            proptest::option::of(1..=u16::MAX),
            proptest::option::of("[a-zA-Z0-9]([a-zA-Z0-9 ._:/-]{0,10}[a-zA-Z0-9])?")
        )
            .prop_map(|(tls, path, expect_status, port, expect_body)| {
                HealthCheckKind::Http {
                    tls,
                    path,
                    expect_status,
                    port,
                    expect_body,
                }
            }),
        proptest::collection::vec("[a-zA-Z0-9/._=,:-]{1,8}", 1..4)
            .prop_map(|command| HealthCheckKind::Exec { command }),
    ];
    let timing = || proptest::option::of(1..=1_000u32);
    (kind, timing(), timing(), timing(), timing()).prop_map(|(kind, i, t, r, f)| CheckSpec {
        kind,
        interval_secs: i,
        timeout_secs: t,
        rise: r,
        fall: f,
    })
}

fn options(max_prefix: u8) -> impl Strategy<Value = EntryOptions> {
    let scheduler = proptest::option::of(proptest::sample::select(Scheduler::ALL.to_vec()));
    let forward = proptest::option::of(prop_oneof![
        Just(ForwardMethod::Nat),
        Just(ForwardMethod::Dr),
        Just(ForwardMethod::Tunnel),
        Just(ForwardMethod::Fullnat),
    ]);
    let tunnel = proptest::option::of(prop_oneof![
        Just(TunnelType::Ipip),
        Just(TunnelType::Gre),
        (1..=u16::MAX).prop_map(|port| TunnelType::Gue { port }),
    ]);
    let pool = proptest::collection::vec(any::<IpAddr>(), 0..3).prop_map(|addrs| {
        addrs
            .into_iter()
            .filter_map(|a| IpNetwork::new(a, if a.is_ipv4() { 31 } else { 127 }).ok())
            .collect::<Vec<_>>()
    });
    let persistence = proptest::option::of(
        (1..=u32::MAX, proptest::option::of(0..=max_prefix)).prop_map(
            |(timeout_secs, prefix_len)| Persistence {
                timeout_secs,
                prefix_len,
            },
        ),
    );
    (
        scheduler,
        any::<(bool, bool)>(),
        forward,
        tunnel,
        pool,
        persistence,
        proptest::option::of(0..=65_535u32),
        proptest::option::of(check()),
    )
        .prop_map(
            |(scheduler, (fallback, port), forward, tunnel, pool, persistence, weight, check)| {
                let hashing = scheduler.is_some_and(Scheduler::takes_hash_flags);
                let fullnat_or_unset = matches!(forward, None | Some(ForwardMethod::Fullnat));
                EntryOptions {
                    scheduler,
                    scheduler_flags: if hashing {
                        SchedulerFlags { fallback, port }
                    } else {
                        SchedulerFlags::default()
                    },
                    forward,
                    tunnel: tunnel.filter(|_| forward == Some(ForwardMethod::Tunnel)),
                    snat_pool: if fullnat_or_unset { pool } else { Vec::new() },
                    persistence,
                    weight,
                    health_check: check,
                }
            },
        )
}

fn entry() -> impl Strategy<Value = Entry> {
    any::<IpAddr>().prop_flat_map(|vip| {
        let max_prefix = if vip.is_ipv4() { 32 } else { 128 };
        (target(), options(max_prefix)).prop_map(move |(target, options)| {
            let mut entry = Entry {
                key: String::new(),
                vip,
                target,
                options,
            };
            entry.key = render_entry(&entry).0;
            entry
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn render_then_parse_gives_the_entry_back(entry in entry()) {
        let (key, value) = render_entry(&entry);
        let (parsed, problems) = parse_entry(&key, &value);
        prop_assert!(problems.is_empty(), "{key}: {value}: {problems:?}");
        prop_assert_eq!(parsed, Some(entry));
    }
}
