//! The IPVS sysctls on files under a temporary root (standing in for `/proc/sys`): what each
//! mode wants, that lbctl lowers only values it wrote itself, that its record of them
//! survives a restart but not a reboot, and that `check` and `manage = false` write nothing.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use lb_config::FailoverSettings;
use lb_director::sysctl::{
    SysctlAction, SysctlSync, failover_sysctls, read_sysctl, record_path_for, wanted_sysctls,
};
use lb_ipvs_sync::netlink::features::KernelVersion;

const KERNEL: Option<KernelVersion> = Some(KernelVersion { major: 6, minor: 1 });

/// A root with the four IPVS sysctls and a boot id; removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(tag: &str, values: [u32; 4]) -> Root {
        let dir = std::env::temp_dir().join(format!("lb-sysctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("net/ipv4/vs")).unwrap();
        std::fs::create_dir_all(dir.join("kernel/random")).unwrap();
        std::fs::write(dir.join("kernel/random/boot_id"), "boot-1\n").unwrap();
        let root = Root(dir);
        for (name, value) in [
            "conntrack",
            "expire_nodest_conn",
            "expire_quiescent_template",
            "conn_reuse_mode",
        ]
        .into_iter()
        .zip(values)
        {
            root.set(name, value);
        }
        root
    }

    fn set(&self, name: &str, value: u32) {
        std::fs::write(self.0.join("net/ipv4/vs").join(name), format!("{value}\n")).unwrap();
    }

    fn get(&self, name: &str) -> u32 {
        read_sysctl(&self.0, name).unwrap()
    }

    fn sync(&self, manage: bool) -> SysctlSync {
        SysctlSync {
            root: self.0.clone(),
            record: Some(record_path_for(&self.0.join("state.json"))),
            scope: lb_director::sysctl::host_scope(&self.0),
            manage,
        }
    }

    fn reboot(&self) {
        std::fs::write(self.0.join("kernel/random/boot_id"), "boot-2\n").unwrap();
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn changed(changes: &[lb_director::sysctl::SysctlChange]) -> Vec<&str> {
    changes
        .iter()
        .filter(|c| c.changed())
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn fullnat_raises_conntrack_and_writes_only_what_differs() {
    let root = Root::new("raise", [0, 0, 1, 1]);
    let wanted = wanted_sysctls(true, KERNEL);
    let changes = root.sync(true).apply(&wanted).unwrap();
    assert_eq!(
        changed(&changes),
        ["net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn"]
    );
    assert_eq!(root.get("conntrack"), 1);
    let again = root.sync(true).apply(&wanted).unwrap();
    assert!(again.iter().all(|c| c.action == SysctlAction::InPlace));
    // Old kernels with conntrack=1 get conn_reuse_mode=0.
    let old = wanted_sysctls(true, KernelVersion::parse("5.4.0-150-generic"));
    let reuse = old.iter().find(|w| w.name == "conn_reuse_mode").unwrap();
    assert_eq!(reuse.value, 0);
    let plain = wanted_sysctls(false, KernelVersion::parse("5.4.0"));
    let reuse = plain.iter().find(|w| w.name == "conn_reuse_mode").unwrap();
    assert_eq!(reuse.value, 1);
    assert!(read_sysctl(&root.0, "missing").is_err());
}

#[test]
fn a_foreign_conntrack_is_never_lowered() {
    // kube-proxy set conntrack=1 before lbctl started; lbctl has no FullNAT service.
    // Mutation: writing Preferred values like Required ones (the old behaviour) lowers it.
    let root = Root::new("foreign", [1, 1, 1, 1]);
    let changes = root
        .sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 1);
    let conntrack = &changes[0];
    assert_eq!(conntrack.action, SysctlAction::LeaveForeign);
    assert_eq!(
        (conntrack.before, conntrack.after, conntrack.wanted),
        (1, 1, 0)
    );
}

#[test]
fn lbctl_lowers_its_own_value_across_a_restart_but_not_after_a_reboot() {
    let root = Root::new("own", [0, 1, 1, 1]);
    root.sync(true)
        .apply(&wanted_sysctls(true, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 1);
    // The FullNAT service is gone (a new process: only the record remembers): back to 0.
    // Mutation: not recording the write leaves conntrack at 1 here.
    root.sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 0);

    // FullNAT again, then a reboot: the kernel reset the value and someone else set 1.
    root.sync(true)
        .apply(&wanted_sysctls(true, KERNEL))
        .unwrap();
    root.reboot();
    let changes = root
        .sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(changes[0].action, SysctlAction::LeaveForeign);
    assert_eq!(root.get("conntrack"), 1);
}

#[test]
fn someone_who_changes_lbctls_value_owns_it() {
    let root = Root::new("taken", [0, 1, 1, 1]);
    root.sync(true)
        .apply(&wanted_sysctls(true, KERNEL))
        .unwrap();
    // conntrack is lbctl's 1; an operator sets conn_reuse_mode=0 by hand, lbctl never wrote it.
    root.set("conn_reuse_mode", 0);
    root.sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 0, "lbctl's own value is undone");
    assert_eq!(root.get("conn_reuse_mode"), 0, "the operator's value stays");
    // lbctl wrote conntrack=0 last; someone sets 1: theirs from now on.
    root.set("conntrack", 1);
    root.sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 1);
}

#[test]
fn check_and_unmanaged_write_nothing() {
    let root = Root::new("check", [0, 0, 0, 1]);
    let wanted = wanted_sysctls(true, KERNEL);
    let record = record_path_for(&root.0.join("state.json"));
    let planned = root.sync(true).check(&wanted).unwrap();
    assert_eq!(changed(&planned).len(), 3, "{planned:?}");
    let unmanaged = root.sync(false).apply(&wanted).unwrap();
    assert!(unmanaged.iter().all(|c| !c.changed()));
    assert_eq!(
        unmanaged
            .iter()
            .filter(|c| c.action == SysctlAction::NotManaged)
            .count(),
        3
    );
    for name in [
        "conntrack",
        "expire_nodest_conn",
        "expire_quiescent_template",
    ] {
        assert_eq!(root.get(name), 0, "{name} untouched");
    }
    // An unmanaged pass records no ownership, and leaves no temporary file behind.
    let text = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(!text.contains("conntrack"), "{text}");
    let leftovers = std::fs::read_dir(&root.0)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_corrupt_record_owns_nothing() {
    let root = Root::new("corrupt", [1, 1, 1, 1]);
    std::fs::write(record_path_for(&root.0.join("state.json")), "{not json").unwrap();
    root.sync(true)
        .apply(&wanted_sysctls(false, KERNEL))
        .unwrap();
    assert_eq!(root.get("conntrack"), 1);
}

#[test]
fn sloppy_mode_follows_failover_and_off_undoes_only_lbctls_own_value() {
    let root = Root::new("sloppy", [0, 1, 1, 1]);
    root.set("sloppy_tcp", 0);
    root.set("sloppy_sctp", 1);
    let on = FailoverSettings {
        sloppy_tcp: true,
        ..FailoverSettings::default()
    };
    // On: written whatever the value (the operator asked for it).
    root.sync(true).apply(&failover_sysctls(&on)).unwrap();
    assert_eq!(root.get("sloppy_tcp"), 1);
    // Off again: lbctl's own 1 is undone, the 1 someone else set on sloppy_sctp stays.
    // Mutation: making the off value Required lowers the foreign sloppy_sctp; not recording
    // the write leaves sloppy_tcp at 1.
    let off = FailoverSettings::default();
    let changes = root.sync(true).apply(&failover_sysctls(&off)).unwrap();
    assert_eq!(root.get("sloppy_tcp"), 0);
    assert_eq!(root.get("sloppy_sctp"), 1);
    assert_eq!(changes[1].action, SysctlAction::LeaveForeign);
    assert!(changes[1].reason.contains("[failover]"), "{changes:?}");
}

#[test]
fn sync_sysctls_are_written_only_with_connection_sync_and_when_given() {
    // Mutation: writing them without `roles` changes a namespace nobody asked to sync.
    let root = Root::new("syncver", [0, 1, 1, 1]);
    root.set("sloppy_tcp", 0);
    root.set("sloppy_sctp", 0);
    root.set("sync_version", 1);
    root.set("sync_refresh_period", 0);
    let text = "[failover.connection_sync]\nsync_version = 0\nrefresh_period_secs = 60\n";
    let idle = lb_config::Settings::from_toml_str(text).unwrap().failover;
    assert_eq!(
        failover_sysctls(&idle).len(),
        2,
        "sloppy only without roles"
    );
    let on = lb_config::Settings::from_toml_str(&format!(
        "{text}roles = [\"backup\"]\ninterface = \"eth1\"\n"
    ))
    .unwrap()
    .failover;
    root.sync(true).apply(&failover_sysctls(&on)).unwrap();
    assert_eq!(root.get("sync_version"), 0);
    assert_eq!(root.get("sync_refresh_period"), 60);
}
