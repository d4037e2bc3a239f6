//! The import, end to end in memory: parsers, notes with file:line, and the proof that the
//! generated ConfigMap and settings plan to exactly the imported table.

use super::*;
use crate::desired::{DesiredState, HealthCheckKind};
use crate::model::{ForwardMethod, Protocol, Scheduler, ServiceKey, TunnelType};
use crate::{EndpointSnapshot, HealthResults, Settings, build_desired_state, parse_configmap};

const DUMP: &str = "\
-A -t 10.0.0.100:80 -s wrr
-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 3
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1 -x 500 -y 400
-A -u 10.0.0.100:53 -s rr
-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m -w 1
-A -t 10.0.0.101:443 -s mh -b mh-fallback,mh-port -p 600 -M 255.255.255.0
-a -t 10.0.0.101:443 -r 10.0.1.11:443 -g -w 2
-a -t 10.0.0.101:443 -r 10.0.1.12:443 -g -w 0
-A --sctp-service 10.0.0.102:5000 -s sh -p 300
-a --sctp-service 10.0.0.102:5000 -r 10.0.1.11:5000 -i -w 1 --tun-type gue --tun-port 6080
-A -t [2001:db8::10]:80 -s wlc -p 120 -M 64
-a -t [2001:db8::10]:80 -r [2001:db8:1::11]:80 -m -w 5
";

fn import_dump(text: &str) -> ImportOutput {
    let (table, notes) = parse_ipvsadm_save("dump", text).unwrap();
    ImportOutput::new(table, notes)
}

/// The desired state the daemon builds from ConfigMap text and the generated settings
/// fragment (with defaults that differ from every imported value: the entries must not
/// depend on them).
fn plan(out: &ImportOutput, yaml: &str) -> DesiredState {
    let parsed = parse_configmap(yaml);
    assert!(parsed.problems.is_empty(), "{:?}\n{yaml}", parsed.problems);
    let fragment = render_settings_fragment(&out.vips(), "test");
    let settings_text = format!(
        "{fragment}default_scheduler = \"lblcr\"\ndefault_forward_method = \"fullnat\"\n\
         fullnat_pool = [\"192.0.2.0/30\"]\n"
    );
    let settings = Settings::from_toml_str(&settings_text).unwrap();
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    );
    assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    outcome.state
}

/// Every way the planned state differs from the imported table, entry by entry.
fn differences(out: &ImportOutput, state: &DesiredState) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut differ = |what: String, same: bool| {
        if !same {
            diffs.push(what);
        }
    };
    let wanted: Vec<&ServiceKey> = out.table.services.keys().collect();
    let got: Vec<&ServiceKey> = state.services.keys().collect();
    differ(format!("services {got:?} vs {wanted:?}"), got == wanted);
    differ("VIPs".into(), state.vips == out.vips());
    for (key, imported) in &out.table.services {
        let Some(planned) = state.services.get(key) else {
            continue;
        };
        differ(
            format!("{key} scheduler"),
            planned.scheduler == imported.scheduler,
        );
        differ(
            format!("{key} flags"),
            planned.scheduler_flags == imported.scheduler_flags,
        );
        differ(format!("{key} method"), planned.forward == imported.forward);
        differ(
            format!("{key} tunnel"),
            planned.tunnel.unwrap_or(TunnelType::Ipip)
                == imported.tunnel.unwrap_or(TunnelType::Ipip),
        );
        differ(
            format!("{key} persistence"),
            planned.persistence == imported.persistence,
        );
        let planned_check = planned.health_check.as_ref().map(|c| {
            (
                c.kind.clone(),
                Some(c.interval_secs),
                Some(c.timeout_secs),
                Some(c.rise),
                Some(c.fall),
            )
        });
        let imported_check = imported.check.as_ref().map(|c| {
            (
                c.kind.clone(),
                c.interval_secs,
                c.timeout_secs,
                c.rise,
                c.fall,
            )
        });
        differ(format!("{key} check"), planned_check == imported_check);
        let rs_keys: Vec<_> = planned.real_servers.keys().collect();
        let imported_keys: Vec<_> = imported.real_servers.keys().collect();
        differ(format!("{key} real servers"), rs_keys == imported_keys);
        for (rs_key, rs) in &imported.real_servers {
            let Some(p) = planned.real_servers.get(rs_key) else {
                continue;
            };
            differ(format!("{key} {rs_key} weight"), p.weight == rs.weight);
            differ(
                format!("{key} {rs_key} upper threshold"),
                p.upper_threshold == rs.upper_threshold,
            );
            differ(
                format!("{key} {rs_key} lower threshold"),
                p.lower_threshold == rs.lower_threshold,
            );
        }
    }
    diffs
}

/// The generated ConfigMap and settings plan to exactly the imported table.
fn assert_plans_to_the_table(out: &ImportOutput) {
    let yaml = render_configmap_yaml(&out.entries, "kube-system", "lvs-vips", "test");
    let diffs = differences(out, &plan(out, &yaml));
    assert!(diffs.is_empty(), "{diffs:?}\n{yaml}");
}

#[test]
fn an_ipvsadm_dump_imports_every_field() {
    let out = import_dump(DUMP);
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    assert_eq!(out.table.services.len(), 5);
    let mh = &out.table.services[&ServiceKey {
        vip: "10.0.0.101".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 443,
    }];
    assert_eq!(mh.scheduler, Scheduler::Mh);
    assert!(mh.scheduler_flags.fallback && mh.scheduler_flags.port);
    assert_eq!(mh.forward, ForwardMethod::Dr);
    let p = mh.persistence.unwrap();
    assert_eq!((p.timeout_secs, p.prefix_len), (600, Some(24)));
    let sctp = out
        .table
        .services
        .values()
        .find(|s| s.key.protocol == Protocol::Sctp)
        .unwrap();
    assert_eq!(sctp.tunnel, Some(TunnelType::Gue { port: 6080 }));
    assert_eq!(sctp.persistence.unwrap().prefix_len, None);
    let v6 = out
        .table
        .services
        .values()
        .find(|s| s.key.vip.is_ipv6())
        .unwrap();
    assert_eq!(v6.persistence.unwrap().prefix_len, Some(64));
    assert_plans_to_the_table(&out);
}

#[test]
fn ipvsadm_fwmark_and_unmappable_flags_are_notes_with_their_line() {
    let text = "-A -f 7 -s rr\n-a -f 7 -r 10.0.1.11:0 -g -w 1\n\
                -A -t 10.0.0.1:80 -s rr -b flag-3 -o\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1\n";
    let out = import_dump(text);
    assert!(out.is_partial());
    let lines: Vec<String> = out.notes.iter().map(ToString::to_string).collect();
    assert!(
        lines[0].starts_with("dump:1: not imported (the table differs): firewall-mark service 7"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("dump:2:")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("dump:3:") && l.contains("flag-3")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("dump:3:") && l.contains("one-packet")),
        "{lines:?}"
    );
    assert_eq!(out.table.services.len(), 1);
}

#[test]
fn ipvsadm_errors_name_the_line() {
    for (text, want) in [
        (
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:81 -r 10.0.1.1:80 -m\n",
            "dump:2: real server for 10.0.0.1:81/tcp, which no -A line above defines",
        ),
        (
            "-A -t web.example:http -s rr\n",
            "dump:1: expected ADDR:PORT",
        ),
        (
            "-A -t 10.0.0.1:80 -s fancy\n",
            "dump:1: unknown scheduler \"fancy\"",
        ),
        (
            "\n\n-A -t 10.0.0.1:80 --bogus\n",
            "dump:3: unknown ipvsadm option \"--bogus\"",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n",
            "dump:2: virtual service 10.0.0.1:80/tcp is already defined at dump:1",
        ),
        (
            "TCP  10.0.0.1:80 rr\n",
            "dump:1: expected -A (a service) or -a",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 65536\n",
            "dump:2: real server 10.0.1.1:80: weight 65536 is above 65535",
        ),
    ] {
        let err = parse_ipvsadm_save("dump", text).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}\nwanted {want}");
    }
}

const KEEPALIVED: &str = r#"! Configuration File for keepalived
global_defs {
   router_id LVS_LAB
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
}

include conf.d/*.conf
"#;

const WEB: &str = r#"# the web VIP
virtual_server 10.0.0.100 80 {
    delay_loop 3
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    protocol TCP

    real_server 10.0.1.11 8080 {
        weight 3
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 2
            retry 2
        }
    }
    real_server 10.0.1.12 8080 {
        weight 1
        uthreshold 500
        lthreshold 400
        notify_down "/usr/local/bin/page-someone web"
        TCP_CHECK {
            connect_timeout 2
            retry 2
        }
    }
}
"#;

const DNS: &str = r#"virtual_server_group dns {
    10.0.0.101-102 53
}
virtual_server group dns {
    lvs_sched rr   ! round robin
    lvs_method DR
    protocol UDP
    real_server 10.0.1.11 53 {
        weight 1
        MISC_CHECK {
            misc_path "/usr/local/bin/check-dns 10.0.1.11"
        }
    }
}
virtual_server 10.0.0.103 443 {
    lb_algo sh
    sh-port
    lb_kind DR
    sorry_server 10.0.9.9 443
    real_server 10.0.1.11 443 {
        weight 2
        SSL_GET {
            url {
                path /healthz
                status_code 200
                digest 9b3a0c85a887a256d6939da88aabd8cd
            }
            connect_port 8443
        }
    }
}
virtual_server fwmark 5 {
    lb_algo rr
    real_server 10.0.1.11 80 {
    }
}
"#;

fn keepalived_files() -> MemoryFiles {
    MemoryFiles::new()
        .with("/etc/keepalived/keepalived.conf", KEEPALIVED)
        .with("/etc/keepalived/conf.d/10-web.conf", WEB)
        .with("/etc/keepalived/conf.d/20-dns.conf", DNS)
        .with("/etc/keepalived/conf.d/README", "this is not config {")
}

#[test]
fn a_keepalived_configuration_with_includes_imports() {
    let (table, notes) =
        parse_keepalived("/etc/keepalived/keepalived.conf", &keepalived_files()).unwrap();
    let out = ImportOutput::new(table, notes);
    let keys: Vec<String> = out.table.services.keys().map(ToString::to_string).collect();
    assert_eq!(
        keys,
        [
            "10.0.0.100:80/tcp",
            "10.0.0.101:53/udp",
            "10.0.0.102:53/udp",
            "10.0.0.103:443/tcp"
        ]
    );
    let web = out.table.services.values().next().unwrap();
    assert_eq!(web.scheduler, Scheduler::Wrr);
    assert_eq!(web.persistence.unwrap().timeout_secs, 300);
    assert_eq!(web.persistence.unwrap().prefix_len, Some(24));
    let rs2 = web.real_servers.values().nth(1).unwrap();
    assert_eq!(
        (rs2.weight, rs2.upper_threshold, rs2.lower_threshold),
        (1, 500, 400)
    );
    let check = web.check.as_ref().unwrap();
    assert_eq!(check.kind, HealthCheckKind::Tcp { port: None });
    assert_eq!(
        (
            check.interval_secs,
            check.timeout_secs,
            check.rise,
            check.fall
        ),
        (Some(3), Some(2), Some(1), Some(3))
    );
    let https = &out.table.services.values().nth(3).unwrap();
    assert!(https.scheduler_flags.port);
    assert_eq!(
        https.check.as_ref().unwrap().kind,
        HealthCheckKind::Http {
            tls: true,
            path: "/healthz".into(),
            expect_status: 200,
            port: Some(8443),
            expect_body: None
        }
    );
    let lines: Vec<String> = out.notes.iter().map(ToString::to_string).collect();
    let has = |prefix: &str, text: &str| {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains(text)),
            "no note {prefix} .. {text} in {lines:#?}"
        );
    };
    has(
        "/etc/keepalived/conf.d/10-web.conf:22: not carried over",
        "notify_down",
    );
    has(
        "/etc/keepalived/conf.d/20-dns.conf:10: not carried over",
        "MISC_CHECK runs a program",
    );
    has(
        "/etc/keepalived/conf.d/20-dns.conf:19: not imported (the table differs)",
        "sorry_server",
    );
    has(
        "/etc/keepalived/conf.d/20-dns.conf:26: not carried over",
        "digest",
    );
    has(
        "/etc/keepalived/conf.d/20-dns.conf:32: not imported (the table differs)",
        "fwmark 5",
    );
    has(
        "/etc/keepalived/keepalived.conf:2: not carried over",
        "global_defs",
    );
    has(
        "/etc/keepalived/keepalived.conf:6: not carried over",
        "vrrp_instance (VRRP",
    );
    assert!(out.is_partial());
    // The MISC_CHECK never becomes a check that runs a program.
    assert!(out.table.services.values().all(|s| !matches!(
        s.check.as_ref().map(|c| &c.kind),
        Some(HealthCheckKind::Exec { .. })
    )));
    assert_plans_to_the_table(&out);
}

#[test]
fn keepalived_defaults_are_written_out() {
    let files = MemoryFiles::new().with(
        "k.conf",
        "virtual_server 10.0.0.1 80 {\n persistence_timeout\n real_server 10.0.1.1 {\n }\n}\n",
    );
    let (table, notes) = parse_keepalived("k.conf", &files).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let out = ImportOutput::new(table, notes);
    let (key, value) = crate::render_entry(&out.entries[0]);
    assert_eq!(key, "10.0.0.1-80");
    assert_eq!(
        value,
        "10.0.1.1:80 weight=1; scheduler=wlc; method=nat; persistence=360"
    );
    assert_plans_to_the_table(&out);
}

#[test]
fn keepalived_errors_name_file_and_line() {
    let cases = [
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind BRIDGE\n}\n",
            "k.conf:2: lb_kind BRIDGE: expected NAT, DR or TUN",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n weight 1\n}\n",
            "k.conf:1: this block has no closing `}`",
        ),
        ("}\n", "k.conf:1: `}` without an open block"),
        (
            "virtual_server 10.0.0.1 http {\n}\n",
            "k.conf:1: expected a port 1-65535, found \"http\"",
        ),
        (
            "virtual_server group nope {\n}\n",
            "k.conf:1: virtual_server group nope: no virtual_server_group nope",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n weight heavy\n }\n}\n",
            "k.conf:3: weight: expected a number",
        ),
        (
            "include missing.conf\n",
            "k.conf:1: include missing.conf: cannot read",
        ),
        (
            "virtual_server 10.0.0.1 80 {\n persistence_timeout 0\n}\n",
            "k.conf:2: persistence_timeout: expected 1 or more",
        ),
    ];
    for (text, want) in cases {
        let files = MemoryFiles::new().with("k.conf", text);
        let err = parse_keepalived("k.conf", &files).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}\nwanted {want}");
    }
}

#[test]
fn include_loops_are_refused() {
    let files = MemoryFiles::new()
        .with("/k/a.conf", "include b.conf\n")
        .with("/k/b.conf", "include /k/a.conf\n");
    let err = parse_keepalived("/k/a.conf", &files)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "/k/b.conf:1: include loop: /k/a.conf -> /k/b.conf -> /k/a.conf"
    );
}

#[test]
fn an_include_glob_that_matches_nothing_is_a_note() {
    let files = MemoryFiles::new().with("/k/a.conf", "include /k/none/*.conf\n");
    let (table, notes) = parse_keepalived("/k/a.conf", &files).unwrap();
    assert!(table.services.is_empty());
    assert_eq!(
        notes[0].to_string(),
        "/k/a.conf:1: not carried over: include /k/none/*.conf: no file matches (nothing read)"
    );
}

#[test]
fn a_service_without_real_servers_is_a_note() {
    let out = import_dump("-A -t 10.0.0.1:80 -s rr\n");
    assert!(out.entries.is_empty());
    assert!(out.is_partial());
    assert!(out.notes[0].to_string().contains("has no real servers"));
}

#[test]
fn the_comparison_sees_a_changed_weight_and_a_changed_scheduler() {
    // The control of assert_plans_to_the_table: a ConfigMap one edit away from the import.
    let out = import_dump(DUMP);
    let yaml = render_configmap_yaml(&out.entries, "kube-system", "lvs-vips", "test");
    let edited = yaml.replacen("weight=3", "weight=4", 1);
    assert_ne!(edited, yaml);
    assert_eq!(
        differences(&out, &plan(&out, &edited)),
        ["10.0.0.100:80/tcp 10.0.1.11:8080 weight"]
    );
    let edited = yaml.replacen("scheduler=wrr", "scheduler=rr", 1);
    assert_eq!(
        differences(&out, &plan(&out, &edited)),
        ["10.0.0.100:80/tcp scheduler"]
    );
}

#[test]
fn a_dump_without_thresholds_says_that_ipvsadm_does_not_save_them() {
    // ipvsadm 1.31's -Sn prints no -x/-y even for real servers that have thresholds (lab 74).
    let out = import_dump("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1\n");
    assert!(!out.is_partial());
    assert_eq!(out.notes.len(), 1);
    assert!(
        out.notes[0].to_string().starts_with(
            "dump:2: not carried over: ipvsadm -Sn does not save connection thresholds"
        ),
        "{}",
        out.notes[0]
    );
    // A dump that has them (another saver) gets no such note.
    assert!(import_dump(DUMP).notes.is_empty());
}

#[test]
fn deeply_nested_blocks_are_an_error_not_a_stack_overflow() {
    let text = "virtual_server 10.0.0.1 80 {\n".repeat(100_000);
    let files = MemoryFiles::new().with("k.conf", &text);
    let err = parse_keepalived("k.conf", &files).unwrap_err().to_string();
    assert_eq!(err, "k.conf:17: blocks nest deeper than 16 levels");
}

#[test]
fn group_members_share_their_notes() {
    let text = "virtual_server_group g {\n 10.0.0.1-3 80\n}\nvirtual_server group g {\n \
                real_server 10.0.1.1 80 {\n  notify_up /bin/true\n }\n}\n";
    let files = MemoryFiles::new().with("k.conf", text);
    let (table, notes) = parse_keepalived("k.conf", &files).unwrap();
    let out = ImportOutput::new(table, notes);
    assert_eq!(out.table.services.len(), 3);
    let lines: Vec<String> = out.notes.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("k.conf:6: not carried over: notify_up"),
        "{lines:?}"
    );
}
