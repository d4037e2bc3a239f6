//! Grammar tests: every documented spelling, the original design examples verbatim, and every
//! error path with its message and position.

use std::net::IpAddr;

use super::*;
use crate::desired::HealthCheckKind;
use crate::entry::{CheckSpec, EntryOptions, PortSelector, ServiceRef};
use crate::model::{ForwardMethod, Persistence, Scheduler, SchedulerFlags, TunnelType};
use crate::problem::{DOCUMENT_KEY, Position, Severity};

const ORIGINAL: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: lvs-vips, namespace: kube-system}
data:
  203.0.113.225-80: 198.51.100.130:80, 198.51.100.20:80
  203.0.113.225-443: 198.51.100.130:443, 198.51.100.20:443
  203.0.113.226: gslb/nginx-ingress-controller-new-lb:s
  203.0.113.227: openapi/openapi-nginx-lb:s
";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn entry(key: &str, value: &str) -> Entry {
    let (entry, problems) = parse_entry(key, value);
    assert!(problems.is_empty(), "{key}: {value}: {problems:?}");
    entry.unwrap()
}

fn options(value_suffix: &str) -> EntryOptions {
    entry(
        "203.0.113.1-80",
        &format!("198.51.100.1:80; {value_suffix}"),
    )
    .options
}

/// The single error of a value, as displayed.
fn error(key: &str, value: &str) -> String {
    let (entry, problems) = parse_entry(key, value);
    assert!(entry.is_none(), "{key}: {value} should be rejected");
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

fn static_rs(addr: &str, port: u16) -> StaticRealServer {
    StaticRealServer {
        addr: ip(addr),
        port,
        weight: None,
        upper_threshold: None,
        lower_threshold: None,
    }
}

#[test]
fn original_design_example_parses_verbatim() {
    let parsed = parse_configmap(ORIGINAL);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.entries.len(), 4);
    let e = &parsed.entries[0];
    assert_eq!(e.key, "203.0.113.225-443");
    assert_eq!(e.vip, ip("203.0.113.225"));
    assert_eq!(
        e.target,
        Target::Static {
            port: 443,
            protocol: Protocol::Tcp,
            real_servers: vec![
                static_rs("198.51.100.130", 443),
                static_rs("198.51.100.20", 443)
            ],
        }
    );
    assert_eq!(e.options, EntryOptions::default());
    assert_eq!(parsed.entries[1].port(), Some(80));
    assert_eq!(
        parsed.entries[2].target,
        Target::Service {
            service: ServiceRef {
                namespace: "gslb".into(),
                name: "nginx-ingress-controller-new-lb".into(),
                ports: PortSelector::All,
            },
            protocol: None,
        }
    );
    assert_eq!(parsed.entries[3].vip, ip("203.0.113.227"));
}

#[test]
fn bare_data_map_and_json_manifest_parse_the_same() {
    let bare = "203.0.113.225-80: 198.51.100.130:80, 198.51.100.20:80\n\
                203.0.113.226: gslb/nginx-ingress-controller-new-lb:s\n";
    let json = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"lvs-vips"},
        "data":{"203.0.113.225-80":"198.51.100.130:80, 198.51.100.20:80",
                "203.0.113.226":"gslb/nginx-ingress-controller-new-lb:s"}}"#;
    let a = parse_configmap(bare);
    let b = parse_configmap(json);
    assert!(
        a.problems.is_empty() && b.problems.is_empty(),
        "{a:?} {b:?}"
    );
    assert_eq!(a.entries.len(), 2);
    assert_eq!(a, b);
}

#[test]
fn non_string_yaml_scalars_are_read_as_text() {
    let parsed = parse_configmap("203.0.113.1-80: 1234\n203.0.113.2-80: true\n");
    assert!(parsed.entries.is_empty());
    let shown: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert!(
        shown[0].starts_with("203.0.113.1-80: column 1:"),
        "{shown:?}"
    );
    assert!(shown[0].contains("found \"1234\""), "{shown:?}");
    assert!(shown[1].contains("found \"true\""), "{shown:?}");
}

#[test]
fn a_bad_key_does_not_hide_the_good_ones() {
    let parsed = parse_configmap(
        "data:\n  203.0.113.225-80: 198.51.100.130:8o\n  203.0.113.225-81: 198.51.100.1:81\n  \
         203.0.113.225-82: x, 198.51.100.1:80 weight=a\n",
    );
    assert_eq!(parsed.entries.len(), 1);
    assert_eq!(parsed.entries[0].key, "203.0.113.225-81");
    let shown: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "203.0.113.225-80: column 16: expected a port number 1-65535, found \"8o\"",
            "203.0.113.225-82: column 1: expected a real server address (198.51.100.1:80 or \
             [2001:db8::1]:80), found \"x\"",
            "203.0.113.225-82: column 27: expected a weight 0-65535, found \"a\"",
        ]
    );
}

#[test]
fn document_level_problems() {
    let p = parse_configmap("data: [unclosed\n");
    assert!(p.entries.is_empty());
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].key, DOCUMENT_KEY);
    assert!(
        matches!(p.problems[0].position, Some(Position::Line { .. })),
        "{p:?}"
    );

    let p = parse_configmap("kind: Secret\ndata: {}\n");
    assert!(p.problems[0].message.contains("found kind \"Secret\""));

    let p = parse_configmap("");
    assert_eq!(p.problems[0].severity, Severity::Warning);
    let p = parse_configmap("apiVersion: v1\nkind: ConfigMap\n");
    assert_eq!(p.problems[0].severity, Severity::Warning);
    assert!(p.problems[0].message.contains("no data"));

    let p = parse_configmap("203.0.113.1-80:\n");
    assert_eq!(
        p.problems[0].to_string(),
        "203.0.113.1-80: column 1: expected real servers (ADDR:PORT, ADDR:PORT) or a Service \
         reference (NAMESPACE/SERVICE:s)"
    );
}

#[test]
fn key_spellings_for_protocols_and_ipv6() {
    let e = entry("203.0.113.1-53-udp", "198.51.100.1:53");
    assert_eq!(e.protocol(), Some(Protocol::Udp));
    let e = entry("203.0.113.1-5000-sctp", "198.51.100.1");
    assert_eq!(e.protocol(), Some(Protocol::Sctp));
    assert_eq!(
        e.target,
        Target::Static {
            port: 5000,
            protocol: Protocol::Sctp,
            real_servers: vec![static_rs("198.51.100.1", 5000)],
        }
    );
    let e = entry("2001_db8__10-443", "[2001:db8::5]:443, [2001:db8::6]");
    assert_eq!(e.vip, ip("2001:db8::10"));
    assert_eq!(
        e.target,
        Target::Static {
            port: 443,
            protocol: Protocol::Tcp,
            real_servers: vec![static_rs("2001:db8::5", 443), static_rs("2001:db8::6", 443)],
        }
    );
    let e = entry("203.0.113.5-udp", "kube-system/kube-dns:s");
    assert_eq!(e.protocol(), Some(Protocol::Udp));
    assert_eq!(e.port(), None);
}

#[test]
fn service_reference_spellings() {
    let selector = |v: &str| match entry("203.0.113.5", v).target {
        Target::Service { service, .. } => service.ports,
        Target::Static { .. } => panic!("not a service"),
    };
    assert_eq!(selector("web/frontend:s"), PortSelector::All);
    assert_eq!(
        selector("web/frontend:http"),
        PortSelector::Name("http".into())
    );
    assert_eq!(selector("web/frontend:8080"), PortSelector::Number(8080));
    assert_eq!(
        selector(" web/frontend:s ; scheduler=wrr"),
        PortSelector::All
    );
}

#[test]
fn real_server_settings() {
    let e = entry(
        "203.0.113.1-80",
        "198.51.100.1:80 weight=3 upper-threshold=1000 lower-threshold=800,198.51.100.2:8080",
    );
    let Target::Static { real_servers, .. } = e.target else {
        panic!("static expected");
    };
    assert_eq!(real_servers[0].weight, Some(3));
    assert_eq!(real_servers[0].upper_threshold, Some(1000));
    assert_eq!(real_servers[0].lower_threshold, Some(800));
    assert_eq!(real_servers[1], static_rs("198.51.100.2", 8080));
}

#[test]
fn option_spellings() {
    let o = options("scheduler=mh mh-fallback mh-port");
    assert_eq!(o.scheduler, Some(Scheduler::Mh));
    assert_eq!(
        o.scheduler_flags,
        SchedulerFlags {
            fallback: true,
            port: true
        }
    );
    let o = options("scheduler = sh fallback");
    assert_eq!(o.scheduler, Some(Scheduler::Sh));
    assert_eq!(
        o.scheduler_flags,
        SchedulerFlags {
            fallback: true,
            port: false
        }
    );
    for s in Scheduler::ALL {
        assert_eq!(options(&format!("scheduler={s}")).scheduler, Some(s));
    }
    assert_eq!(options("method=dr").forward, Some(ForwardMethod::Dr));
    assert_eq!(options("method=nat").forward, Some(ForwardMethod::Nat));
    let o = options("method=tunnel");
    assert_eq!((o.forward, o.tunnel), (Some(ForwardMethod::Tunnel), None));
    assert_eq!(options("method=tunnel:ipip").tunnel, Some(TunnelType::Ipip));
    assert_eq!(options("method=tunnel:gre").tunnel, Some(TunnelType::Gre));
    assert_eq!(
        options("method=tunnel:gue:6080").tunnel,
        Some(TunnelType::Gue { port: 6080 })
    );
    let o = options("method=fullnat; pool=198.51.100.250/31, 198.51.100.252 2001:db8::/126");
    assert_eq!(o.forward, Some(ForwardMethod::Fullnat));
    let pool: Vec<String> = o.snat_pool.iter().map(ToString::to_string).collect();
    assert_eq!(
        pool,
        vec!["198.51.100.250/31", "198.51.100.252/32", "2001:db8::/126"]
    );
    assert_eq!(
        options("persistence=300/24").persistence,
        Some(Persistence {
            timeout_secs: 300,
            prefix_len: Some(24)
        })
    );
    assert_eq!(
        options("persistence=60").persistence,
        Some(Persistence {
            timeout_secs: 60,
            prefix_len: None
        })
    );
    assert_eq!(options("weight=0").weight, Some(0));
}

#[test]
fn health_check_spellings() {
    let check = |s: &str| options(s).health_check.unwrap();
    assert_eq!(check("check=tcp").kind, HealthCheckKind::Tcp { port: None });
    assert_eq!(
        check("check=tcp; check-port=8081").kind,
        HealthCheckKind::Tcp { port: Some(8081) }
    );
    let http = |tls, path: &str, status, port| HealthCheckKind::Http {
        tls,
        path: path.into(),
        expect_status: status,
        port,
        expect_body: None,
    };
    assert_eq!(
        check("check=http:/healthz:200").kind,
        http(false, "/healthz", 200, None)
    );
    assert_eq!(
        check("check=http:/healthz").kind,
        http(false, "/healthz", 200, None)
    );
    assert_eq!(
        check("check=https:/a:b:204").kind,
        http(true, "/a:b", 204, None)
    );
    assert_eq!(
        check("check=http:/ready; check-port=9000").kind,
        http(false, "/ready", 200, Some(9000))
    );
    assert_eq!(
        check("check=exec:/usr/local/bin/probe --fast  -x=1").kind,
        HealthCheckKind::Exec {
            command: vec![
                "/usr/local/bin/probe".into(),
                "--fast".into(),
                "-x=1".into()
            ]
        }
    );
    assert_eq!(
        check("check=tcp; check-interval=5; check-timeout=2; check-rise=3; check-fall=4"),
        CheckSpec {
            kind: HealthCheckKind::Tcp { port: None },
            interval_secs: Some(5),
            timeout_secs: Some(2),
            rise: Some(3),
            fall: Some(4),
        }
    );
}

#[test]
fn value_errors_name_column_and_expectation() {
    let k = "203.0.113.225-80";
    let cases: &[(&str, &str)] = &[
        (
            "198.51.100.130:80, 198.51.100.20:8o",
            "column 34: expected a port number 1-65535, found \"8o\"",
        ),
        (
            "198.51.100.130:0",
            "column 16: expected a port number 1-65535, found \"0\"",
        ),
        (
            "198.51.100.1:80,,198.51.100.2:80",
            "column 17: expected a real server (ADDR:PORT) between the commas",
        ),
        (
            "198.51.100.1:80, 198.51.100.1:80",
            "column 18: real server 198.51.100.1:80 is already listed as item 1",
        ),
        (
            "2001:db8::5:80",
            "column 1: write IPv6 real servers in brackets, e.g. [2001:db8::5]:80",
        ),
        (
            "[2001:db8::5:80",
            "column 1: expected ']' after the IPv6 address in \"[2001:db8::5:80\"",
        ),
        (
            "[2001:db8::zz]:80",
            "column 2: expected an IPv6 address in brackets, found \"2001:db8::zz\"",
        ),
        (
            "[2001:db8::5]80",
            "column 14: expected ':PORT' after ']', found \"80\"",
        ),
        (
            "198.51.100.1:80 weight=70000",
            "column 24: expected a weight 0-65535, found \"70000\"",
        ),
        (
            "198.51.100.1:80 weight=1 weight=2",
            "column 26: weight= is given twice for this real server",
        ),
        (
            "198.51.100.1:80 upper-threshold=1 lower-threshold=5",
            "column 51: lower-threshold=5 is above upper-threshold=1: new connections resume below the lower one, so it must not exceed the upper one",
        ),
        (
            "198.51.100.1:80 lower-threshold=5",
            "column 33: lower-threshold=5 needs an upper-threshold= of at least 5 (without one there is nothing to resume from)",
        ),
        (
            "198.51.100.1:80 wieght=1",
            "column 17: unknown real-server setting \"wieght\": expected weight=, upper-threshold= or lower-threshold=",
        ),
        (
            "198.51.100.1:80 198.51.100.2:80",
            "column 17: expected ',' or a real-server setting (weight=, upper-threshold=, lower-threshold=), found \"198.51.100.2:80\"",
        ),
        (
            "198.51.100.1:80;",
            "column 17: expected an option (NAME=VALUE) after ';'",
        ),
        (
            "198.51.100.1:80; dr",
            "column 18: expected NAME=VALUE, found \"dr\"",
        ),
        (
            "198.51.100.1:80; shceduler=rr",
            "column 18: unknown option \"shceduler\": expected one of scheduler, method, pool, persistence, weight, check, check-port, check-interval, check-timeout, check-rise, check-fall, check-body",
        ),
        (
            "198.51.100.1:80; scheduler=rr; scheduler=wrr",
            "column 32: option scheduler= is given twice",
        ),
        (
            "198.51.100.1:80; scheduler=",
            "column 28: expected a scheduler name, e.g. scheduler=wrr",
        ),
        (
            "198.51.100.1:80; scheduler=xx",
            "column 28: unknown scheduler \"xx\", expected one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
        ),
        (
            "198.51.100.1:80; scheduler=rr mh-fallback",
            "column 31: scheduler flags only apply to sh and mh, not to rr",
        ),
        (
            "198.51.100.1:80; scheduler=mh sh-port",
            "column 31: unknown scheduler flag \"sh-port\": expected mh-fallback or mh-port",
        ),
        (
            "198.51.100.1:80; scheduler=mh mh-port port",
            "column 39: scheduler flag port is given twice",
        ),
        (
            "198.51.100.1:80; method=magic",
            "column 25: unknown forwarding method \"magic\", expected nat, dr, tunnel or fullnat",
        ),
        (
            "198.51.100.1:80; method=dr:ipip",
            "column 28: only method=tunnel takes an encapsulation, not dr",
        ),
        (
            "198.51.100.1:80; method=tunnel:vxlan",
            "column 32: expected a tunnel encapsulation ipip, gre or gue:PORT, found \"vxlan\"",
        ),
        (
            "198.51.100.1:80; method=tunnel:gue",
            "column 32: expected gue:PORT (the UDP port of the encapsulation)",
        ),
        (
            "198.51.100.1:80; method=tunnel:gue:0",
            "column 36: expected a port number 1-65535, found \"0\"",
        ),
        (
            "198.51.100.1:80; method=nat; pool=198.51.100.9",
            "column 30: pool= only applies to method=fullnat, not method=nat",
        ),
        (
            "198.51.100.1:80; pool=198.51.100.0/33",
            "column 23: expected an address or network (198.51.100.250/31), found \"198.51.100.0/33\"",
        ),
        (
            "198.51.100.1:80; pool=198.51.100.1,",
            "column 36: expected an address or network (198.51.100.250/31)",
        ),
        (
            "198.51.100.1:80; persistence=0",
            "column 30: expected a persistence timeout in seconds 1-4294967295, found \"0\"",
        ),
        (
            "198.51.100.1:80; persistence=300/33",
            "column 34: expected a prefix length 0-32, found \"33\"",
        ),
        (
            "198.51.100.1:80; weight=-1",
            "column 25: expected a weight 0-65535, found \"-1\"",
        ),
        (
            "198.51.100.1:80; check=ping",
            "column 24: expected a check tcp, http:/PATH[:STATUS], https:/PATH[:STATUS] or exec:PROGRAM, found \"ping\"",
        ),
        (
            "198.51.100.1:80; check=tcp:80",
            "column 28: check=tcp takes no argument (use check-port= for another port)",
        ),
        (
            "198.51.100.1:80; check=http",
            "column 24: expected http:/PATH[:STATUS], e.g. http:/healthz:200",
        ),
        (
            "198.51.100.1:80; check=http:healthz",
            "column 29: expected an HTTP path starting with '/' and without spaces, found \"healthz\"",
        ),
        (
            "198.51.100.1:80; check=http:/x:999",
            "column 32: expected an HTTP status 100-599, found \"999\"",
        ),
        (
            "198.51.100.1:80; check=exec:",
            "column 24: expected exec:PROGRAM [ARGUMENTS...]",
        ),
        (
            "198.51.100.1:80; check=exec:/bin/true; check-port=1",
            "column 40: check-port= does not apply to check=exec",
        ),
        (
            "198.51.100.1:80; check-rise=2",
            "column 18: check-rise= needs a check= option",
        ),
        (
            "198.51.100.1:80; check=tcp; check-fall=0",
            "column 40: expected a count 1-1000, found \"0\"",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(value, expected)| (value, error(k, value), format!("{k}: {expected}")))
        .filter(|(_, got, want)| got != want)
        .map(|(value, got, want)| format!("{value:?}\n   got {got}\n  want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn service_reference_errors() {
    let k = "203.0.113.226";
    let cases: &[(&str, &str)] = &[
        (
            "gslb/nginx",
            "column 11: expected ':s' (all ports), ':PORTNAME' or ':PORTNUMBER' after the Service name",
        ),
        (
            "gslb/nginx:",
            "column 12: expected 's' (all ports), a Service port name (lower-case letters, digits and '-', at most 15) or a port number 1-65535, found \"\"",
        ),
        (
            "gslb/nginx:0",
            "column 12: expected a port number 1-65535, found \"0\"",
        ),
        (
            "Gslb/nginx:s",
            "column 1: expected a namespace (lower-case letters, digits and '-', at most 63), found \"Gslb\"",
        ),
        (
            "gslb/1nginx:s",
            "column 6: expected a Service name (lower-case letters, digits and '-', starting with a letter, at most 63), found \"1nginx\"",
        ),
        (
            "gslb/nginx:s, 198.51.100.1:80",
            "column 14: a Service reference stands alone: it cannot be mixed with real servers",
        ),
        (
            "gslb/nginx:s scheduler=rr",
            "column 14: expected ';' before options, found \"scheduler=rr\"",
        ),
        (
            "gslb/nginx:http--x",
            "column 12: expected 's' (all ports), a Service port name (lower-case letters, digits and '-', at most 15) or a port number 1-65535, found \"http--x\"",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(value, expected)| (value, error(k, value), format!("{k}: {expected}")))
        .filter(|(_, got, want)| got != want)
        .map(|(value, got, want)| format!("{value:?}\n   got {got}\n  want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn key_and_value_must_agree() {
    assert_eq!(
        error("203.0.113.1", "198.51.100.1:80"),
        "203.0.113.1: real servers need a port in the key: write VIP-PORT (e.g. 203.0.113.10-80); \
         a key without a port takes a Service reference (NAMESPACE/SERVICE:s)"
    );
    assert!(error("203.0.113.1-80", "web/frontend:s").contains("takes its ports from the Service"));
    assert_eq!(
        error("2001_db8__1-80", "[2001:db8::2]:80; persistence=60/129"),
        "2001_db8__1-80: column 34: expected a prefix length 0-128, found \"129\""
    );
}

#[test]
fn all_problems_of_one_key_are_reported() {
    let (entry, problems) = parse_entry("203.0.113.1-8o", "198.51.100.1:x; method=zz");
    assert!(entry.is_none());
    let positions: Vec<Option<Position>> = problems.iter().map(|p| p.position).collect();
    assert_eq!(
        positions,
        vec![
            Some(Position::Key { column: 13 }),
            Some(Position::Column { column: 14 }),
            Some(Position::Column { column: 24 }),
        ]
    );
}

/// `n` distinct real servers `10.a.b.c:80`, joined by ", ".
fn many_real_servers(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}:80", i >> 16, (i >> 8) & 255, i & 255))
        .collect()
}

/// 50,000 real servers in one key (about 750 KB): the duplicate found at the end names the
/// first listing. The check is a map lookup per item; the former scan of every earlier item
/// made this value 1.25e9 comparisons (seconds of CPU per change, per director). Not timed
/// (house rule); `text.rs` counts the column walk, the other per-problem cost.
#[test]
fn duplicates_among_fifty_thousand_real_servers() {
    let mut servers = many_real_servers(50_000);
    servers.push(servers[0].clone());
    let (entry, problems) = parse_entry("203.0.113.1-80", &servers.join(", "));
    assert!(entry.is_none());
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let column = servers[..50_000].join(", ").len() + 3;
    assert_eq!(
        messages,
        vec![format!(
            "203.0.113.1-80: column {column}: real server 10.0.0.0:80 is already listed as item 1"
        )]
    );

    // Every item a duplicate of the first: one problem each; item 20,000 starts at byte
    // 19,999 * 13.
    let value = "10.0.0.1:80, ".repeat(20_000);
    let (_, problems) = parse_entry("203.0.113.1-80", value.trim_end_matches(", "));
    assert_eq!(problems.len(), 19_999);
    assert_eq!(
        problems[19_998].to_string(),
        "203.0.113.1-80: column 259988: real server 10.0.0.1:80 is already listed as item 1"
    );
}

#[test]
fn render_writes_the_canonical_spelling() {
    let parsed = parse_configmap(ORIGINAL);
    let rendered: Vec<(String, String)> = parsed.entries.iter().map(render_entry).collect();
    assert_eq!(
        rendered[1],
        (
            "203.0.113.225-80".into(),
            "198.51.100.130:80, 198.51.100.20:80".into()
        )
    );
    assert_eq!(
        rendered[2],
        (
            "203.0.113.226".into(),
            "gslb/nginx-ingress-controller-new-lb:s".into()
        )
    );
    let e = entry(
        "2001_db8__10-53-udp",
        "[2001:db8::5] weight=2;method=tunnel:gue:6080;  scheduler=mh mh-port; check=https:/h; \
         check-port=8443; persistence=30/64; weight=4",
    );
    assert_eq!(
        render_entry(&e),
        (
            "2001_db8__10-53-udp".into(),
            "[2001:db8::5]:53 weight=2; scheduler=mh mh-port; method=tunnel:gue:6080; \
             persistence=30/64; weight=4; check=https:/h:200; check-port=8443"
                .into()
        )
    );
}

/// Repeats before and after the list grows past the scanned length are reported alike, naming
/// the first item, with items that failed to parse not counted. Mutation: building the map
/// from `servers` with `insert` (last occurrence wins) instead of keeping the first makes the
/// third repeat of item 2 name item 5; not counting from 1 shifts every number.
#[test]
fn repeated_real_servers_name_the_first_item_in_short_and_long_lists() {
    let mut servers = many_real_servers(40);
    servers[4] = servers[1].clone();
    servers[10] = "bad".to_owned();
    servers.push(servers[1].clone());
    servers.push(servers[38].clone());
    let (entry, problems) = parse_entry("203.0.113.1-80", &servers.join(", "));
    assert!(entry.is_none());
    let messages: Vec<String> = problems
        .iter()
        .map(|p| {
            p.to_string()
                .split_once(": real server ")
                .map_or(String::new(), |(_, m)| m.to_owned())
        })
        .filter(|m| !m.is_empty())
        .collect();
    assert_eq!(
        messages,
        vec![
            format!("{} is already listed as item 2", servers[1]),
            format!("{} is already listed as item 2", servers[1]),
            format!("{} is already listed as item 38", servers[38]),
        ]
    );
}

// Fails if read_configmap_data drops a key, a bad key, or changes a value (the daemon would
// persist something other than what the operator wrote), or reads an unreadable document.
#[test]
fn read_configmap_data_gives_every_key_with_its_raw_value() {
    let (data, problems) = read_configmap_data(ORIGINAL);
    let data = data.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(data.len(), 4);
    assert_eq!(
        data["203.0.113.225-80"],
        "198.51.100.130:80, 198.51.100.20:80"
    );
    let parsed = parse_configmap(ORIGINAL);
    for e in &parsed.entries {
        assert_eq!(parse_entry(&e.key, &data[&e.key]).0.as_ref(), Some(e));
    }
    let (bad, _) = read_configmap_data("10.0.0.1-80: 10.1.0.1:8o\nempty:\n");
    let bad = bad.unwrap();
    assert_eq!(bad["10.0.0.1-80"], "10.1.0.1:8o");
    assert_eq!(bad["empty"], "");
    let (none, problems) = read_configmap_data("a: [unclosed\n");
    assert!(none.is_none());
    assert!(
        problems
            .iter()
            .any(|p| p.key == DOCUMENT_KEY && p.is_error())
    );
}
