//! `[bgp]` parsing (errors name the key) and the policy input from desired state + kernel.

use std::collections::BTreeSet;
use std::net::IpAddr;

use lb_bgp_announcer::{PolicyMode, VipServing};
use lb_config::{
    DesiredState, EndpointSnapshot, HealthResults, RealServerKey, Settings, build_desired_state,
    parse_configmap,
};

use super::serving::vip_serving;
use super::settings::{AnnouncerConfig, BgpConfig, StopMode};

fn bgp(text: &str) -> Result<Option<BgpConfig>, String> {
    let settings = Settings::from_toml_str(text).map_err(|e| e.to_string())?;
    BgpConfig::from_settings(&settings.bgp).map_err(|e| e.to_string())
}

const SPEAKER: &str = r#"
[bgp]
enabled = true
local_as = 64512
router_id = "10.0.9.1"
hold_time_secs = 9
communities = ["64512:100"]
graceful_shutdown = { tag_community = false, wait_ms = 500 }
[[bgp.peers]]
address = "10.0.9.2"
remote_as = 64513
local_address = "10.0.9.1"
connect_retry_min_ms = 200
[bgp.policy]
announce_at = 2
withdraw_below = 1
hold_down_ms = 1500
"#;

#[test]
fn every_speaker_and_policy_key_reaches_the_announcer_types() {
    let config = bgp(SPEAKER).unwrap().unwrap();
    let AnnouncerConfig::Speaker(speaker) = &config.announcer else {
        panic!("expected the speaker: {config:?}");
    };
    assert_eq!(speaker.local_as, 64512);
    assert_eq!(speaker.hold_time_secs, 9);
    assert_eq!(speaker.communities.len(), 1);
    assert!(!speaker.graceful_shutdown.tag_community);
    assert_eq!(speaker.peers[0].remote_as, 64513);
    assert_eq!(speaker.peers[0].connect_retry_min_ms, 200);
    assert_eq!(speaker.peers[0].port, 179, "announcer defaults apply");
    assert_eq!(config.policy.announce_at, 2);
    assert_eq!(config.policy.hold_down_ms, 1500);
    assert_eq!(config.policy.mode, PolicyMode::PerVip);
    assert_eq!(config.on_stop, StopMode::Withdraw);
    assert!(config.restart_marker.starts_with("/run"));
    assert!(
        config.withdraw_file.starts_with("/var/lib/lbctl"),
        "survives reboots"
    );
}

/// `withdraw_file` is the key; `drain_file`, its name before "withdraw" meant BGP route
/// removal, still works; both at once are refused. Mutation: drop the `drain_file` lookup and
/// the old name becomes an unknown key.
#[test]
fn withdraw_file_and_its_former_name_drain_file() {
    let with =
        |line: &str| SPEAKER.replace("hold_time_secs = 9", &format!("hold_time_secs = 9\n{line}"));
    let new = bgp(&with("withdraw_file = \"/tmp/w\"")).unwrap().unwrap();
    assert_eq!(new.withdraw_file, std::path::Path::new("/tmp/w"));
    let old = bgp(&with("drain_file = \"/tmp/d\"")).unwrap().unwrap();
    assert_eq!(old.withdraw_file, std::path::Path::new("/tmp/d"));
    let both = bgp(&with("withdraw_file = \"/tmp/w\"\ndrain_file = \"/tmp/d\""));
    let err = both.unwrap_err();
    assert!(
        err.contains("withdraw_file") && err.contains("drain_file"),
        "{err}"
    );
}

#[test]
fn disabled_is_none_but_still_checked() {
    assert!(bgp("").unwrap().is_none());
    let disabled = SPEAKER.replace("enabled = true", "enabled = false");
    assert!(bgp(&disabled).unwrap().is_none());
    let typo = disabled.replace("hold_time_secs", "hold_time_sec");
    assert!(bgp(&typo).unwrap_err().contains("hold_time_sec"));
}

#[test]
fn typos_and_bad_values_name_the_key() {
    let cases = [
        ("local_as = 64512", "local_ass = 64512", "local_ass"),
        (
            "remote_as = 64513",
            "remote_as = 64513\nmd5_pasword = \"x\"",
            "md5_pasword",
        ),
        (
            "announce_at = 2",
            "announce_at = 2\nannounce_below = 1",
            "announce_below",
        ),
        ("withdraw_below = 1", "withdraw_below = 3", "withdraw_below"),
        ("hold_time_secs = 9", "hold_time_secs = 2", "hold_time_secs"),
        (
            "enabled = true",
            "enabled = true\non_stop = \"later\"",
            "on_stop",
        ),
    ];
    for (from, to, key) in cases {
        let text = SPEAKER.replace(from, to);
        assert_ne!(text, SPEAKER, "{from} not found");
        let err = bgp(&text).unwrap_err();
        assert!(err.contains(key), "{key}: {err}");
    }
    let restarting = SPEAKER.replace(
        "hold_time_secs = 9",
        "graceful_restart = { restarting = true }",
    );
    assert!(bgp(&restarting).unwrap_err().contains("restarting"));
}

#[test]
fn aggregate_policy_and_graceful_restart_stop_mode() {
    let text = SPEAKER.replace(
        "hold_down_ms = 1500",
        "mode = \"aggregate\"\nranges = [\"10.0.0.96/28\"]\nrequire_healthy = true",
    );
    let text = text.replace(
        "enabled = true",
        "enabled = true\non_stop = \"graceful_restart\"",
    );
    let config = bgp(&text).unwrap().unwrap();
    assert!(matches!(
        config.policy.mode,
        PolicyMode::Aggregate {
            require_healthy: true,
            ..
        }
    ));
    assert_eq!(config.on_stop, StopMode::GracefulRestart);
}

#[test]
fn bird_mode_needs_its_table_and_no_speaker_keys() {
    let bird =
        "[bgp]\nenabled = true\nmode = \"bird\"\n[bgp.bird]\npath = \"/etc/bird/vips.conf\"\n";
    let config = bgp(bird).unwrap().unwrap();
    assert!(matches!(config.announcer, AnnouncerConfig::Bird(ref o) if o.birdc == "birdc"));
    assert!(
        bgp("[bgp]\nenabled = true\nmode = \"bird\"")
            .unwrap_err()
            .contains("[bgp.bird]")
    );
    let mixed = bird.replace("mode = \"bird\"", "mode = \"bird\"\nlocal_as = 1");
    assert!(bgp(&mixed).unwrap_err().contains("local_as"));
    let speaker_with_bird = format!("{SPEAKER}[bgp.bird]\npath = \"/x\"\n");
    assert!(bgp(&speaker_with_bird).unwrap_err().contains("bird"));
}

#[test]
fn md5_password_file_is_read_without_its_trailing_newline() {
    let dir = std::env::temp_dir().join(format!("lbctl-bgp-md5-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("key");
    std::fs::write(&file, "s3cret\n").unwrap();
    let text = SPEAKER.replace(
        "remote_as = 64513",
        &format!(
            "remote_as = 64513\nmd5_password_file = \"{}\"",
            file.display()
        ),
    );
    let config = bgp(&text).unwrap().unwrap();
    let AnnouncerConfig::Speaker(speaker) = config.announcer else {
        panic!("expected the speaker");
    };
    assert_eq!(speaker.peers[0].md5_password.as_ref().unwrap().0, "s3cret");
    let missing = text.replace("/key", "/nope");
    assert!(bgp(&missing).unwrap_err().contains("md5_password_file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_example_settings_pass_and_would_start_a_speaker() {
    let files = [
        (
            "examples/settings.toml",
            include_str!("../../../examples/settings.toml"),
        ),
        (
            "deploy/settings.example.toml",
            include_str!("../../../deploy/settings.example.toml"),
        ),
    ];
    for (name, text) in files {
        assert!(
            bgp(text).unwrap().is_none(),
            "{name}: BGP is off by default"
        );
        let on = text.replacen("enabled = false", "enabled = true", 1);
        let config = bgp(&on).unwrap_or_else(|e| panic!("{name}: {e}")).unwrap();
        assert!(
            matches!(config.announcer, AnnouncerConfig::Speaker(_)),
            "{name}"
        );
    }
}

// --- policy input ---------------------------------------------------------------------------

/// The desired state of a ConfigMap text, with `failing` real servers' checks failing.
pub(super) fn desired(configmap: &str, failing: &[&str]) -> DesiredState {
    let settings = Settings::from_toml_str("managed_vip_ranges = [\"10.0.0.0/24\"]").unwrap();
    let parsed = parse_configmap(configmap);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let failing: Vec<RealServerKey> = failing
        .iter()
        .map(|rs| {
            let addr: std::net::SocketAddr = rs.parse().unwrap();
            RealServerKey {
                addr: addr.ip(),
                port: addr.port(),
            }
        })
        .collect();
    // Each failing real server fails the check of every service it is in.
    let unchecked = build_desired_state(
        &parsed.entries,
        &settings,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    );
    let health: HealthResults = unchecked
        .state
        .services
        .values()
        .flat_map(|s| {
            s.real_servers
                .keys()
                .filter(|rs| failing.contains(rs))
                .map(|rs| ((s.key, *rs), false))
        })
        .collect();
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &EndpointSnapshot::default(),
        &health,
    );
    outcome.state
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const TWO_VIPS: &str = "10.0.0.100-80: 10.1.0.1:80, 10.1.0.2:80; check=tcp\n\
                        10.0.0.100-443: 10.1.0.1:443; check=tcp\n\
                        10.0.0.101-80: 10.1.0.3:80; check=tcp\n";

#[test]
fn healthy_counts_weighted_real_servers_of_the_best_service() {
    let state = desired(TWO_VIPS, &["10.1.0.2:80"]);
    let serving: BTreeSet<IpAddr> = [ip("10.0.0.100"), ip("10.0.0.101")].into();
    let per_vip = vip_serving(&state, &serving);
    // Port 80 has one serving left, port 443 one: the VIP counts 1.
    assert_eq!(
        per_vip[&ip("10.0.0.100")],
        VipServing {
            serving: 1,
            withdrawn: false
        }
    );
    assert_eq!(per_vip[&ip("10.0.0.101")].serving, 1);
    let all_up = vip_serving(&desired(TWO_VIPS, &[]), &serving);
    assert_eq!(all_up[&ip("10.0.0.100")].serving, 2);
}

#[test]
fn failing_health_and_unserved_vips_count_zero_and_stay_in_the_map() {
    let state = desired(TWO_VIPS, &["10.1.0.3:80"]);
    let only_first: BTreeSet<IpAddr> = [ip("10.0.0.100")].into();
    let per_vip = vip_serving(&state, &only_first);
    assert_eq!(per_vip[&ip("10.0.0.101")].serving, 0, "health check failed");
    let nothing_served = vip_serving(&state, &BTreeSet::new());
    assert!(
        nothing_served.values().all(|h| h.serving == 0),
        "{nothing_served:?}"
    );
    assert_eq!(
        nothing_served.len(),
        2,
        "desired VIPs stay, so the policy withdraws them"
    );
}

#[test]
fn vips_the_kernel_serves_but_nobody_wants_are_left_out() {
    let state = desired("10.0.0.100-80: 10.1.0.1:80\n", &[]);
    let serving: BTreeSet<IpAddr> = [ip("10.0.0.100"), ip("10.0.0.105")].into();
    let per_vip = vip_serving(&state, &serving);
    assert_eq!(
        per_vip.keys().copied().collect::<Vec<_>>(),
        [ip("10.0.0.100")]
    );
}

/// A `[bgp]` settings error prints the announcer's problems once under anyhow's `{:#}`, as
/// `lbctl validate` and the daemon's reload log show it. Mutation: mark the cause `#[source]`.
#[test]
fn a_bgp_settings_error_prints_its_cause_once() {
    let settings =
        Settings::from_toml_str(&SPEAKER.replace("local_as = 64512", "local_as = 0")).unwrap();
    let Err(error) = BgpConfig::from_settings(&settings.bgp) else {
        panic!("local_as = 0 accepted");
    };
    let plain = error.to_string();
    let text = format!("{:#}", anyhow::Error::new(error));
    assert_eq!(text, plain, "no cause is printed a second time");
    assert!(text.contains("local_as"), "{text}");
}
