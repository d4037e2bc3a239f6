//! Settings tests: defaults, every key, and errors that name the field.

use super::*;

#[test]
fn empty_text_gives_the_documented_defaults() {
    let s = Settings::from_toml_str("").unwrap();
    assert_eq!(s, Settings::default());
    assert!(s.managed_vip_ranges.is_empty());
    assert_eq!(s.default_scheduler, Scheduler::Rr);
    assert_eq!(s.default_forward_method, ForwardMethod::Nat);
    assert_eq!(s.drain_timeout_secs, 300);
    assert_eq!(s.udp_drain_timeout_secs, 60);
    assert_eq!(s.resync_period_secs, 30);
    assert!((s.max_delete_share - 0.5).abs() < f64::EPSILON);
    assert_eq!(s.netfilter_backend, NetfilterBackend::Auto);
    assert_eq!(s.listen_address.to_string(), "127.0.0.1:9469");
    assert_eq!(s.vip_interface, "lbvip0");
    assert_eq!(s.state_file, PathBuf::from("/var/lib/lbctl/state.json"));
    assert_eq!(s.kubernetes.namespace, "kube-system");
    assert_eq!(s.kubernetes.configmap, "lvs-vips");
    assert!(!s.bgp.enabled);
    assert_eq!(
        s.health_check,
        HealthCheckDefaults {
            interval_secs: 5,
            timeout_secs: 2,
            rise: 2,
            fall: 3
        }
    );
    assert_eq!(
        s.metrics,
        MetricsSettings {
            max_snapshot_age_ms: 1000,
            endpoint_level: true,
            endpoint_rates: false,
            offset_retention_secs: 3600
        }
    );
    assert!(s.require_managed_ranges().is_err());
}

#[test]
fn every_key_parses() {
    let s = Settings::from_toml_str(
        r#"
managed_vip_ranges = ["203.0.113.224/28", "2001:db8:100::/64"]
default_scheduler = "wlc"
default_forward_method = "fullnat"
fullnat_pool = ["198.51.100.250/31"]
drain_timeout_secs = 120
udp_drain_timeout_secs = 10
resync_period_secs = 15
max_delete_share = 0.25
netfilter_backend = "iptables-legacy"
listen_address = "[::1]:9470"
vip_interface = "vips"
state_file = "/run/lbctl/state.json"

[kubernetes]
namespace = "lb"
configmap = "vips"

[bgp]
enabled = true
local_as = 64512
router_id = "192.0.2.1"
peers = [{ address = "192.0.2.254", remote_as = 64513 }]

[bgp.policy]
announce_at = 2

[health_check]
interval_secs = 3
timeout_secs = 1
rise = 1
fall = 2

[metrics]
max_snapshot_age_ms = 0
endpoint_level = false
endpoint_rates = true
offset_retention_secs = 600
"#,
    )
    .unwrap();
    assert_eq!(s.managed_vip_ranges.len(), 2);
    assert!(s.manages("203.0.113.230".parse().unwrap()));
    assert!(!s.manages("203.0.113.240".parse().unwrap()));
    assert!(s.manages("2001:db8:100::1".parse().unwrap()));
    assert_eq!(s.default_scheduler, Scheduler::Wlc);
    assert_eq!(s.default_forward_method, ForwardMethod::Fullnat);
    assert_eq!(s.netfilter_backend, NetfilterBackend::IptablesLegacy);
    assert_eq!(s.listen_address.port(), 9470);
    assert!(s.bgp.enabled);
    assert_eq!(
        s.bgp.rest.get("local_as").and_then(toml::Value::as_integer),
        Some(64512)
    );
    let peers = s.bgp.rest.get("peers").and_then(toml::Value::as_array);
    assert_eq!(peers.map(Vec::len), Some(1));
    assert!(s.bgp.rest.get("policy").is_some_and(toml::Value::is_table));
    assert!(
        !s.bgp.rest.contains_key("enabled"),
        "enabled is its own field"
    );
    assert_eq!(s.health_check.fall, 2);
    assert_eq!(s.metrics.max_snapshot_age_ms, 0);
    assert!(!s.metrics.endpoint_level);
    assert!(s.metrics.endpoint_rates);
    assert_eq!(s.metrics.offset_retention_secs, 600);
    assert!(s.require_managed_ranges().is_ok());
    let none = Settings::from_toml_str("netfilter_backend = \"none\"").unwrap();
    assert_eq!(none.netfilter_backend, NetfilterBackend::Disabled);
}

#[test]
fn errors_name_the_field() {
    let err = |text: &str| Settings::from_toml_str(text).unwrap_err().to_string();
    assert!(
        err("managed_vip_range = []").contains("managed_vip_range"),
        "{}",
        err("managed_vip_range = []")
    );
    assert!(err("[health_check]\nintervall_secs = 1").contains("intervall_secs"));
    assert!(err("default_scheduler = \"fastest\"").contains("fastest"));
    assert!(err("managed_vip_ranges = [\"203.0.113.0/33\"]").contains("managed_vip_ranges"));
    assert_eq!(
        err("max_delete_share = 1.5"),
        "invalid settings: max_delete_share: expected a fraction from 0 to 1"
    );
    assert_eq!(
        err("[health_check]\nrise = 0"),
        "invalid settings: health_check.rise: expected at least 1"
    );
    assert!(err("vip_interface = \"a/b\"").contains("vip_interface"));
    assert!(err("resync_period_secs = 0").contains("resync_period_secs"));
    assert!(err("[bgp]\nenabled = \"yes\"").contains("enabled"));
}

#[test]
fn unknown_key_error_names_the_key_and_line() {
    let message = Settings::from_toml_str("\nmanaged_vip_range = []")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("invalid settings: TOML parse error at line 2"),
        "{message}"
    );
    assert!(
        message.contains("unknown field `managed_vip_range`"),
        "{message}"
    );
}

#[test]
fn bgp_keeps_its_other_keys_as_raw_toml_for_the_controller() {
    // lb-config does not know the announcer's keys: lb-controller checks them (typos included).
    let s = Settings::from_toml_str("[bgp]\nlocal_ass = 1\n[[bgp.peers]]\naddress = \"192.0.2.1\"")
        .unwrap();
    assert!(!s.bgp.enabled);
    assert!(s.bgp.rest.contains_key("local_ass"));
    assert_eq!(s.bgp.rest.len(), 2);
    // Round trip: serializing keeps the raw keys next to `enabled`.
    let text = toml::to_string(&s).unwrap();
    assert_eq!(Settings::from_toml_str(&text).unwrap(), s);
}

#[test]
fn exec_checks_need_plain_directories_and_an_unprivileged_user() {
    let ok = "[exec_checks]\nenabled = true\nallowed_directories = [\"/usr/lib/lbctl/checks\"]\n";
    let s = Settings::from_toml_str(ok).unwrap();
    assert!(s.exec_checks.enabled);
    assert_eq!(s.exec_checks.user, "nobody");
    assert!(
        !Settings::default().exec_checks.enabled,
        "must be off by default"
    );
    for (bad, expect) in [
        ("[exec_checks]\nenabled = true\n", "at least one"),
        (
            "[exec_checks]\nallowed_directories = [\"checks\"]\n",
            "not an absolute path",
        ),
        (
            "[exec_checks]\nallowed_directories = [\"/usr/lib/../../bin\"]\n",
            "not an absolute path",
        ),
        ("[exec_checks]\nuser = \"root\"\n", "unprivileged"),
        ("[exec_checks]\nprogram = \"/bin/sh\"\n", "unknown field"),
    ] {
        let err = Settings::from_toml_str(bad).unwrap_err().to_string();
        assert!(err.contains(expect), "{bad:?}: {err}");
    }
}
