//! Each library error prints its cause once under anyhow's `{:#}` (the form lbctl and the
//! daemon's logs use), and still prints it. Mutation: put `#[source]` back on any of these
//! causes (or name the field `source`, which thiserror treats the same) and the count is 2.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use std::io;
use std::time::Duration;

use lb_bgp_announcer::{BirdError, SpeakerError};
use lb_config::{EndpointSnapshot, Settings};
use lb_controller::writer_lock::LockError;
use lb_director::netfilter::NetfilterError;
use lb_ipvs_sync::IpvsError;
use lb_ipvs_sync::reconcile::{DrainBook, SyncError};
use lb_ipvs_sync::vip::VipError;

/// A cause text found nowhere else in the messages.
const CAUSE: &str = "disk on fire";

fn cause() -> io::Error {
    io::Error::other(CAUSE)
}

/// Formats `error` the way the binary does (with a context on top) and checks that `cause`
/// appears exactly once.
fn assert_prints_once(error: impl Into<anyhow::Error>, cause: &str) {
    let text = format!("{:#}", error.into().context("outer step"));
    assert_eq!(
        text.matches(cause).count(),
        1,
        "{cause:?} must appear once in {text:?}"
    );
}

#[test]
fn ipvs_errors_print_their_cause_once() {
    let io_error = || IpvsError::Io {
        context: "dump",
        cause: cause(),
    };
    assert_prints_once(io_error(), CAUSE);
    // Nested: the dump error inside a sync error, inside a context.
    assert_prints_once(SyncError::Dump(io_error()), CAUSE);
    let timeout = IpvsError::Timeout {
        request: "GET_SERVICE",
        object: "TCP 10.0.0.1:80".into(),
        after: Duration::from_secs(1),
    };
    assert_prints_once(SyncError::Dump(timeout), "GET_SERVICE");
}

#[test]
fn vip_and_state_file_errors_print_their_cause_once() {
    assert_prints_once(VipError::Socket(cause()), CAUSE);
    let netlink = VipError::Netlink {
        action: "add address 10.0.0.1/32".into(),
        interface: "lb0".into(),
        cause: rtnetlink::Error::RequestFailed,
    };
    assert_prints_once(netlink, &rtnetlink::Error::RequestFailed.to_string());
    let Err(parse) = DrainBook::from_json("{ not json") else {
        panic!("not a drain book");
    };
    let detail = match &parse {
        lb_ipvs_sync::reconcile::DrainBookError::Parse(e) => e.to_string(),
        other => panic!("unexpected {other:?}"),
    };
    assert_prints_once(parse, &detail);
}

#[test]
fn netfilter_errors_print_their_cause_once() {
    assert_prints_once(
        NetfilterError::Spawn {
            program: "iptables-restore".into(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        NetfilterError::Proc {
            path: "/proc/sys/net/ipv4/vs/conntrack".into(),
            cause: cause(),
        },
        CAUSE,
    );
}

#[test]
fn bgp_errors_print_their_cause_once() {
    assert_prints_once(
        SpeakerError::Listen {
            address: "127.0.0.1:179".parse().unwrap(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        SpeakerError::Md5 {
            peer: "192.0.2.1".parse().unwrap(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        BirdError::Write {
            path: "/etc/bird/lbctl.conf".into(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        BirdError::Spawn {
            program: "birdc".into(),
            cause: cause(),
        },
        CAUSE,
    );
}

#[test]
fn settings_and_endpoint_errors_print_the_parser_message_once() {
    let Err(settings) = Settings::from_toml_str("max_delete_share = \"lots\"\n") else {
        panic!("accepted a string for a number");
    };
    let detail = match &settings {
        lb_config::SettingsError::Toml { cause } => cause.to_string(),
        other => panic!("unexpected {other:?}"),
    };
    assert!(detail.contains("max_delete_share"), "{detail}");
    assert_prints_once(settings, &detail);
    let Err(endpoints) = EndpointSnapshot::from_yaml_str("services: [1, 2") else {
        panic!("accepted broken YAML");
    };
    let detail = match &endpoints {
        lb_config::EndpointsError::Yaml { cause } => cause.to_string(),
        other => panic!("unexpected {other:?}"),
    };
    assert_prints_once(endpoints, &detail);
}

#[test]
fn the_writer_lock_error_prints_its_cause_once() {
    assert_prints_once(
        LockError::Io {
            path: "/run/lbctl/writer.lock".into(),
            cause: cause(),
        },
        CAUSE,
    );
}

/// The controller's own types. Mutation: interpolate a `#[source]` cause in any of these
/// (e.g. `cannot listen on {address}: {cause}`) and the count is 2; drop the cause text from a
/// usage error and it is 0.
#[test]
fn controller_errors_print_their_cause_once() {
    use lb_controller::client::ClientError;
    use lb_controller::daemon::DaemonError;
    use lb_controller::files::{UsageError, load_settings};
    use lb_controller::own_addresses::{ListError, OwnAddressError};

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("settings.toml");
    let io_text = std::fs::read_to_string(&missing).unwrap_err().to_string();
    let Err(unreadable) = load_settings(Some(&missing)) else {
        panic!("read a missing file");
    };
    assert!(matches!(unreadable, UsageError::Read { .. }));
    assert_prints_once(unreadable, &io_text);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_delete_share = \"lots\"\n").unwrap();
    let Err(invalid) = load_settings(Some(&bad)) else {
        panic!("accepted a string for a number");
    };
    assert_prints_once(invalid, "max_delete_share");

    assert_prints_once(
        ClientError::Connect {
            address: "127.0.0.1:1".parse().unwrap(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        ClientError::ControlSocket {
            socket: "/run/lbctl/control.sock".into(),
            hint: "",
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        ClientError::Read {
            target: "/status".into(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(
        ClientError::Send {
            target: "/status".into(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(ClientError::Timeouts(cause()), CAUSE);
    assert_prints_once(OwnAddressError::List(ListError::Socket(cause())), CAUSE);
    assert_prints_once(
        DaemonError::OwnAddresses(OwnAddressError::Runtime(cause())),
        CAUSE,
    );
    assert_prints_once(DaemonError::Runtime(cause()), CAUSE);
    assert_prints_once(
        DaemonError::Listen {
            address: "127.0.0.1:9100".parse().unwrap(),
            cause: cause(),
        },
        CAUSE,
    );
    assert_prints_once(DaemonError::Usage(UsageError::Refused(CAUSE.into())), CAUSE);
    assert_prints_once(DaemonError::ControlSocket(CAUSE.into()), CAUSE);
}

/// The daemon refuses unusable settings as a usage error (lbctl's exit code 64) naming the
/// file. Mutation: map the settings error to a host variant and `is_usage` is false.
#[test]
fn the_daemon_refuses_unusable_settings_as_usage() {
    use lb_controller::daemon::{DaemonOptions, OnDelete, run};

    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.toml");
    std::fs::write(&settings, "listen_address = \"127.0.0.1:0\"\n").unwrap();
    let options = DaemonOptions {
        settings: Some(settings.clone()),
        config_file: None,
        endpoints_file: None,
        kubeconfig: None,
        listen: None,
        control_socket: None,
        state_file: None,
        cleanup_on_exit: false,
        force: false,
        no_vips: false,
        on_configmap_delete: OnDelete::Keep,
        debounce: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let error = run(options).unwrap_err();
    assert!(error.is_usage(), "{error}");
    let text = format!("{:#}", anyhow::Error::new(error));
    assert!(
        text.starts_with("the daemon needs managed_vip_ranges in the settings: "),
        "{text}"
    );
}
