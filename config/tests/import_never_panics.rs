//! Property: the import parsers never panic, whatever the text; and whenever an import
//! succeeds, the ConfigMap and settings it writes parse without a problem and plan to exactly
//! the imported services and real servers (weights, thresholds, method, scheduler).

use lb_config::import::{
    ImportOutput, MemoryFiles, parse_ipvsadm_save, parse_keepalived, render_configmap_yaml,
    render_settings_fragment,
};
use lb_config::{EndpointSnapshot, HealthResults, Settings, build_desired_state, parse_configmap};
use proptest::prelude::*;

const SCHEDULERS: [&str; 6] = ["rr", "wrr", "wlc", "sh", "mh", "lc"];

/// One real server: address, port, method (m, g, i), weight, thresholds. A lower threshold
/// only with an upper one: the kernel refuses a lower threshold above the upper (ERANGE, an
/// unset upper counting as 0), so no real table has one, and the ConfigMap refuses it too.
fn real_server() -> impl Strategy<Value = (usize, u16, usize, u32, u32, u32)> {
    (
        0..3usize,
        prop_oneof![Just(80u16), Just(8080)],
        0..3usize,
        0..70_000u32,
        0..3u32,
        0..3u32,
    )
        .prop_map(|(addr, port, method, weight, upper, lower)| {
            let lower = if upper > 0 { lower } else { 0 };
            (addr, port, method, weight, upper, lower)
        })
}

/// A structured ipvsadm -Sn dump (often valid: the property checks real imports), with now
/// and then a line of noise.
fn ipvsadm_dump() -> impl Strategy<Value = String> {
    let service = (
        0..2usize,
        prop_oneof![Just("-t"), Just("-u"), Just("--sctp-service")],
        prop_oneof![Just(80u16), Just(443)],
        0..SCHEDULERS.len(),
        0..4usize,
        proptest::collection::vec(real_server(), 0..4),
    );
    (
        proptest::collection::vec(service, 0..4),
        proptest::option::weighted(0.1, "\\PC{0,30}"),
    )
        .prop_map(|(services, noise)| {
            let mut out = String::new();
            for (vip, proto, port, sched, extra, servers) in services {
                let vip = ["10.0.0.1", "10.0.0.2"][vip];
                let sched = SCHEDULERS[sched];
                let extra = match extra {
                    0 => String::new(),
                    1 => " -p 300".to_owned(),
                    2 => " -p 60 -M 255.255.255.0".to_owned(),
                    _ => format!(" -b {sched}-port"),
                };
                out.push_str(&format!("-A {proto} {vip}:{port} -s {sched}{extra}\n"));
                for (addr, rport, method, weight, upper, lower) in servers {
                    let addr = ["10.0.1.1", "10.0.1.2", "10.0.1.3"][addr];
                    let method = ["-m", "-g", "-i"][method];
                    let x = if upper > 0 {
                        format!(" -x {}", upper * 100)
                    } else {
                        String::new()
                    };
                    let y = if lower > 0 {
                        format!(" -y {}", lower * 50)
                    } else {
                        String::new()
                    };
                    out.push_str(&format!(
                        "-a {proto} {vip}:{port} -r {addr}:{rport} {method} -w {weight}{x}{y}\n"
                    ));
                }
            }
            if let Some(noise) = noise {
                out.push_str(&noise);
            }
            out
        })
}

/// A structured keepalived configuration, with now and then a keyword of noise.
fn keepalived_conf() -> impl Strategy<Value = String> {
    let check = prop_oneof![
        Just(""),
        Just("TCP_CHECK {\nconnect_timeout 2\nretry 2\n}\n"),
        Just("TCP_CHECK {\nconnect_port 81\n}\n"),
        Just("HTTP_GET {\nurl {\npath /healthz\nstatus_code 204\n}\n}\n"),
        Just("SSL_GET {\nurl {\npath /\n}\n}\n"),
        Just("MISC_CHECK {\nmisc_path /bin/true\n}\n"),
    ];
    let server = (real_server(), check, any::<bool>());
    let service = (
        0..2usize,
        prop_oneof![Just("TCP"), Just("UDP")],
        prop_oneof![Just(80u16), Just(443)],
        0..SCHEDULERS.len(),
        0..5usize,
        proptest::collection::vec(server, 0..4),
    );
    (
        proptest::collection::vec(service, 0..4),
        proptest::option::weighted(0.1, "[a-z_{}! ]{0,20}"),
    )
        .prop_map(|(services, noise)| {
            let mut out = String::from("global_defs {\n router_id x\n}\n");
            for (vip, proto, port, sched, extra, servers) in services {
                let vip = ["10.0.0.1", "10.0.0.2"][vip];
                let sched = SCHEDULERS[sched];
                let extra = match extra {
                    0 => "",
                    1 => "persistence_timeout\n",
                    2 => "persistence_timeout 60\npersistence_granularity 255.255.0.0\n",
                    3 => "lb_kind DR\n",
                    _ => "lb_kind TUN\ntun_type gue\ntun_port 6080\n",
                };
                out.push_str(&format!(
                    "virtual_server {vip} {port} {{\nlb_algo {sched}\nprotocol {proto}\n{extra}delay_loop 3\n"
                ));
                for ((addr, rport, _, weight, upper, lower), check, inhibit) in servers {
                    let addr = ["10.0.1.1", "10.0.1.2", "10.0.1.3"][addr];
                    out.push_str(&format!("real_server {addr} {rport} {{\nweight {weight}\n"));
                    if upper > 0 {
                        out.push_str(&format!("uthreshold {}\n", upper * 100));
                    }
                    if lower > 0 {
                        out.push_str(&format!("lthreshold {}\n", lower * 50));
                    }
                    if inhibit {
                        out.push_str("inhibit_on_failure\n");
                    }
                    out.push_str(check);
                    out.push_str("}\n");
                }
                out.push_str("}\n");
            }
            if let Some(noise) = noise {
                out.push_str(&noise);
            }
            out
        })
}

fn check_output(out: &ImportOutput) -> Result<(), TestCaseError> {
    let yaml = render_configmap_yaml(&out.entries, "ns", "cm", "prop");
    let parsed = parse_configmap(&yaml);
    // An empty import is a ConfigMap without data: a warning, not an error.
    let errors: Vec<_> = parsed.problems.iter().filter(|p| p.is_error()).collect();
    prop_assert!(errors.is_empty(), "{errors:?}\n{yaml}");
    let fragment = render_settings_fragment(&out.vips(), "prop");
    let settings =
        Settings::from_toml_str(&fragment).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    );
    prop_assert!(
        outcome.problems.is_empty(),
        "{:?}\n{yaml}",
        outcome.problems
    );
    prop_assert_eq!(outcome.state.services.len(), out.table.services.len());
    for (key, imported) in &out.table.services {
        let planned = &outcome.state.services[key];
        prop_assert_eq!(planned.scheduler, imported.scheduler);
        prop_assert_eq!(planned.forward, imported.forward);
        prop_assert_eq!(planned.persistence, imported.persistence);
        prop_assert_eq!(planned.real_servers.len(), imported.real_servers.len());
        for (rs_key, rs) in &imported.real_servers {
            let p = &planned.real_servers[rs_key];
            prop_assert_eq!(
                (p.weight, p.upper_threshold, p.lower_threshold),
                (rs.weight, rs.upper_threshold, rs.lower_threshold)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn ipvsadm_imports_never_panic_and_plan_to_their_table(text in ipvsadm_dump()) {
        if let Ok((table, notes)) = parse_ipvsadm_save("dump", &text) {
            check_output(&ImportOutput::new(table, notes))?;
        }
    }

    #[test]
    fn keepalived_imports_never_panic_and_plan_to_their_table(text in keepalived_conf()) {
        let files = MemoryFiles::new().with("k.conf", &text);
        if let Ok((table, notes)) = parse_keepalived("k.conf", &files) {
            check_output(&ImportOutput::new(table, notes))?;
        }
    }

    #[test]
    fn any_text_never_panics(text in "\\PC{0,300}") {
        let _ = parse_ipvsadm_save("dump", &text);
        let files = MemoryFiles::new().with("k.conf", &text);
        let _ = parse_keepalived("k.conf", &files);
    }
}
