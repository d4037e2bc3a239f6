//! CLI tests of `lbctl import`: files in, ConfigMap and settings out; bad input named by
//! file:line; include loops and missing includes refused; parts that change the table refused
//! unless --allow-partial.

// A test may read and write files and spawn lbctl.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lbctl-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    dir
}

fn lbctl(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lbctl");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const MAIN: &str = "! lab director\nglobal_defs {\n  router_id lab\n}\ninclude conf.d/*.conf\n";

const WEB: &str = "\
virtual_server 10.0.0.100 80 {
    lb_algo wrr
    lb_kind NAT
    real_server 10.0.1.11 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.1.12 80 {
        weight 1
        notify_up /usr/local/bin/tell-someone
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
";

#[test]
fn keepalived_with_includes_writes_a_configmap_that_validates() {
    let dir = scratch("ok");
    std::fs::write(dir.join("keepalived.conf"), MAIN).unwrap();
    std::fs::write(dir.join("conf.d/web.conf"), WEB).unwrap();
    let out = lbctl(
        &dir,
        &[
            "import",
            "--from",
            "keepalived",
            "keepalived.conf",
            "--configmap-out",
            "cm.yaml",
            "--settings-out",
            "ranges.toml",
        ],
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("conf.d/web.conf:12: not carried over: notify_up"),
        "{err}"
    );
    assert!(
        err.contains("keepalived.conf:2: not carried over: global_defs"),
        "{err}"
    );
    let cm = std::fs::read_to_string(dir.join("cm.yaml")).unwrap();
    assert!(
        cm.contains("\"10.0.0.100-80\": \"10.0.1.11:80 weight=3, 10.0.1.12:80 weight=1; scheduler=wrr; method=nat; check=tcp;"),
        "{cm}"
    );
    let ranges = std::fs::read_to_string(dir.join("ranges.toml")).unwrap();
    assert!(
        ranges.contains("managed_vip_ranges = [\"10.0.0.100/32\"]"),
        "{ranges}"
    );
    let valid = lbctl(
        &dir,
        &["validate", "--settings", "ranges.toml", "cm.yaml"],
        None,
    );
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stdout));
}

#[test]
fn bad_keepalived_lines_are_named_by_file_and_line() {
    let dir = scratch("bad");
    std::fs::write(dir.join("keepalived.conf"), MAIN).unwrap();
    std::fs::write(
        dir.join("conf.d/web.conf"),
        WEB.replace("lb_kind NAT", "lb_kind BRIDGE"),
    )
    .unwrap();
    let out = lbctl(
        &dir,
        &["import", "--from", "keepalived", "keepalived.conf"],
        None,
    );
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: conf.d/web.conf:3: lb_kind BRIDGE: expected NAT, DR or TUN"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn include_loops_and_missing_includes_are_refused() {
    let dir = scratch("loops");
    std::fs::write(dir.join("keepalived.conf"), "include conf.d/a.conf\n").unwrap();
    std::fs::write(dir.join("conf.d/a.conf"), "\ninclude ../keepalived.conf\n").unwrap();
    let out = lbctl(
        &dir,
        &["import", "--from", "keepalived", "keepalived.conf"],
        None,
    );
    assert_eq!(out.status.code(), Some(64));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: conf.d/a.conf:2: include loop: keepalived.conf -> conf.d/a.conf -> keepalived.conf"
    );

    std::fs::write(
        dir.join("keepalived.conf"),
        "\n\ninclude conf.d/missing.conf\n",
    )
    .unwrap();
    let out = lbctl(
        &dir,
        &["import", "--from", "keepalived", "keepalived.conf"],
        None,
    );
    assert_eq!(out.status.code(), Some(64));
    let err = text(&out.stderr);
    assert!(
        err.contains("keepalived.conf:3: include conf.d/missing.conf: cannot read"),
        "{err}"
    );
}

#[test]
fn fwmark_services_are_refused_unless_allowed() {
    let dir = scratch("fwmark");
    let dump = "-A -f 7 -s rr\n-a -f 7 -r 10.0.1.11:0 -g -w 1\n\
                -A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1\n";
    let args = ["import", "--from", "ipvsadm", "--configmap-out", "cm.yaml"];
    let out = lbctl(&dir, &args, Some(dump));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("-:1: not imported (the table differs): firewall-mark service 7"),
        "{err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    assert!(
        !dir.join("cm.yaml").exists(),
        "a refused import writes nothing"
    );

    let mut allowed = args.to_vec();
    allowed.push("--allow-partial");
    let out = lbctl(&dir, &allowed, Some(dump));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("-:1: not imported"),
        "still listed"
    );
    let cm = std::fs::read_to_string(dir.join("cm.yaml")).unwrap();
    assert!(
        cm.contains("\"10.0.0.100-80\": \"10.0.1.11:80 weight=1; scheduler=rr; method=nat\""),
        "{cm}"
    );
}

#[test]
fn bad_ipvsadm_lines_are_named_by_line() {
    let dir = scratch("badipvs");
    std::fs::write(
        dir.join("dump"),
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w heavy\n",
    )
    .unwrap();
    let out = lbctl(&dir, &["import", "--from", "ipvsadm", "dump"], None);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: dump:2: option -w: expected a number, found \"heavy\""
    );
}
