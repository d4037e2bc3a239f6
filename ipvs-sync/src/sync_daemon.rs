//! The IPVS connection sync daemons: what the settings want, what the kernel runs, and the
//! fewest starts and stops between the two (pure: no I/O).
//!
//! The kernel runs at most one master and one backup per network namespace, and a running
//! daemon cannot be changed: a different configuration means stop, then start. Starting and
//! stopping costs the backup the connections it would have received in between, so a daemon
//! that already runs as wanted is adopted, never restarted. The kernel fills in defaults
//! (group 224.0.0.81, port 8848, TTL 1, a message size from the MTU) and clamps the message
//! size; the comparison uses those effective values, or a restart would repeat every pass.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use lb_config::{ConnectionSyncSettings, SyncRole};
use serde::{Deserialize, Serialize};

/// The kernel's default multicast group (`IP_VS_SYNC_GROUP`).
pub const DEFAULT_SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The kernel's default UDP port (`IP_VS_SYNC_PORT`).
pub const DEFAULT_SYNC_PORT: u16 = 8848;

/// One sync daemon, as wanted or as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// Master (sends) or backup (receives).
    pub role: SyncRole,
    /// The multicast interface.
    pub interface: String,
    /// The sync id (0-255).
    pub sync_id: u32,
    /// Largest message payload; 0 in a wanted daemon: the kernel's choice. `None` in a kernel
    /// report: the kernel does not say (before Linux 4.3).
    pub max_message_bytes: Option<u16>,
    /// Multicast group; `None`: the kernel's default (wanted) or not reported (kernel).
    pub group: Option<IpAddr>,
    /// UDP port; `None`: not reported.
    pub port: Option<u16>,
    /// Multicast TTL; `None`: not reported.
    pub ttl: Option<u8>,
}

impl fmt::Display for SyncDaemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} (sync id {}, group {}:{})",
            self.role,
            self.interface,
            self.sync_id,
            self.effective_group(),
            self.port.unwrap_or(DEFAULT_SYNC_PORT)
        )
    }
}

impl SyncDaemon {
    /// The daemons `[failover.connection_sync]` asks for, one per role.
    pub fn wanted(settings: &ConnectionSyncSettings) -> Vec<SyncDaemon> {
        settings
            .roles
            .iter()
            .map(|&role| SyncDaemon {
                role,
                interface: settings.interface.clone(),
                sync_id: settings.sync_id,
                max_message_bytes: Some(settings.max_message_bytes),
                group: settings.group,
                port: Some(settings.port),
                ttl: Some(settings.ttl),
            })
            .collect()
    }

    /// The group the kernel uses for this daemon.
    pub fn effective_group(&self) -> IpAddr {
        self.group.unwrap_or(IpAddr::V4(DEFAULT_SYNC_GROUP))
    }

    /// Whether the kernel's `running` daemon is what this wanted daemon would become once
    /// started: fields the kernel did not report are taken to agree.
    pub fn is_running_as(&self, running: &SyncDaemon) -> bool {
        self.role == running.role
            && self.interface == running.interface
            && self.sync_id == running.sync_id
            && (running.group.is_none() || Some(self.effective_group()) == running.group)
            && agrees(self.port, running.port)
            && agrees(self.ttl, running.ttl)
            && agrees(
                self.effective_max_message_bytes(),
                running.max_message_bytes,
            )
    }

    /// Whether the kernel's daemons include this one as wanted: the daemon of its role runs
    /// as it would once started (the kernel runs one daemon per role).
    pub fn runs_in(&self, running: &[SyncDaemon]) -> bool {
        running
            .iter()
            .find(|r| r.role == self.role)
            .is_some_and(|current| self.is_running_as(current))
    }
}

/// Whether a wanted and a reported value agree; either side unknown counts as agreeing.
fn agrees<T: PartialEq>(wanted: Option<T>, reported: Option<T>) -> bool {
    match (wanted, reported) {
        (Some(w), Some(r)) => w == r,
        _ => true,
    }
}

impl SyncDaemon {
    /// The message size the kernel will use, when it does not depend on the interface MTU:
    /// a wanted size is clamped to 1024 (backup) or 1 (master) .. 65535 minus the IP and UDP
    /// headers.
    fn effective_max_message_bytes(&self) -> Option<u16> {
        let wanted = self.max_message_bytes.filter(|&bytes| bytes > 0)?;
        let headers: u16 = if self.effective_group().is_ipv6() {
            40 + 8
        } else {
            20 + 8
        };
        let floor = match self.role {
            SyncRole::Backup => 1024,
            SyncRole::Master => 1,
        };
        Some(wanted.clamp(floor, u16::MAX - headers))
    }
}

/// One change to the kernel's sync daemons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DaemonOp {
    /// `ipvsadm --stop-daemon ROLE`.
    Stop {
        /// The role stopped.
        role: SyncRole,
    },
    /// `ipvsadm --start-daemon ROLE ...`.
    Start {
        /// The daemon started.
        daemon: SyncDaemon,
    },
}

impl fmt::Display for DaemonOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonOp::Stop { role } => write!(f, "stop the {role} sync daemon"),
            DaemonOp::Start { daemon } => write!(f, "start the sync daemon {daemon}"),
        }
    }
}

/// The starts and stops that turn `running` into `wanted`, for the roles `wanted` names. A
/// role the settings do not name is left as it is (someone else's daemon, or one an operator
/// started by hand): lbctl never stops what it was not asked to run.
pub fn plan_daemons(wanted: &[SyncDaemon], running: &[SyncDaemon]) -> Vec<DaemonOp> {
    let mut ops = Vec::new();
    for want in wanted.iter().filter(|want| !want.runs_in(running)) {
        if running.iter().any(|r| r.role == want.role) {
            ops.push(DaemonOp::Stop { role: want.role });
        }
        ops.push(DaemonOp::Start {
            daemon: want.clone(),
        });
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(roles: &[SyncRole]) -> ConnectionSyncSettings {
        ConnectionSyncSettings {
            roles: roles.to_vec(),
            interface: "eth1".to_owned(),
            ..ConnectionSyncSettings::default()
        }
    }

    /// What a recent kernel reports after starting `want`, with the MTU-derived size.
    fn as_kernel_reports(want: &SyncDaemon) -> SyncDaemon {
        SyncDaemon {
            group: Some(want.effective_group()),
            max_message_bytes: Some(want.effective_max_message_bytes().unwrap_or(1500 - 28)),
            ..want.clone()
        }
    }

    #[test]
    fn a_daemon_running_as_wanted_is_adopted() {
        // Mutation: comparing the wanted group None with the reported 224.0.0.81 (or the
        // wanted size 0 with the MTU-derived one) restarts the daemon every pass.
        let wanted = SyncDaemon::wanted(&settings(&[SyncRole::Master, SyncRole::Backup]));
        let running: Vec<_> = wanted.iter().map(as_kernel_reports).collect();
        assert_eq!(plan_daemons(&wanted, &running), []);
        // An old kernel reports only role, interface and sync id.
        let old: Vec<_> = wanted
            .iter()
            .map(|w| SyncDaemon {
                max_message_bytes: None,
                group: None,
                port: None,
                ttl: None,
                ..w.clone()
            })
            .collect();
        assert_eq!(plan_daemons(&wanted, &old), []);
    }

    #[test]
    fn a_missing_daemon_is_started_and_a_different_one_replaced() {
        // Mutation: starting over a running daemon gets EEXIST from the kernel; skipping the
        // comparison of sync id or interface leaves a daemon that syncs the wrong group.
        let wanted = SyncDaemon::wanted(&settings(&[SyncRole::Backup]));
        assert_eq!(
            plan_daemons(&wanted, &[]),
            [DaemonOp::Start {
                daemon: wanted[0].clone()
            }]
        );
        for change in [
            |d: &mut SyncDaemon| d.sync_id = 9,
            |d: &mut SyncDaemon| d.interface = "eth2".to_owned(),
            |d: &mut SyncDaemon| d.port = Some(9000),
            |d: &mut SyncDaemon| d.group = Some("239.0.0.1".parse().unwrap()),
            |d: &mut SyncDaemon| d.ttl = Some(4),
        ] {
            let mut other = as_kernel_reports(&wanted[0]);
            change(&mut other);
            assert_eq!(
                plan_daemons(&wanted, &[other.clone()]),
                [
                    DaemonOp::Stop {
                        role: SyncRole::Backup
                    },
                    DaemonOp::Start {
                        daemon: wanted[0].clone()
                    }
                ],
                "{other}"
            );
        }
    }

    #[test]
    fn roles_the_settings_do_not_name_are_left_alone() {
        // Mutation: stopping unlisted roles would kill an operator's own backup daemon.
        let wanted = SyncDaemon::wanted(&settings(&[SyncRole::Master]));
        let mut foreign = as_kernel_reports(&wanted[0]);
        foreign.role = SyncRole::Backup;
        foreign.sync_id = 200;
        let running = vec![as_kernel_reports(&wanted[0]), foreign];
        assert_eq!(plan_daemons(&wanted, &running), []);
        assert_eq!(plan_daemons(&[], &running), []);
    }

    #[test]
    fn a_wanted_message_size_is_compared_as_the_kernel_clamps_it() {
        // Mutation: comparing the raw 100 with the kernel's 1024 restarts a backup every pass.
        let mut sync = settings(&[SyncRole::Backup, SyncRole::Master]);
        sync.max_message_bytes = 100;
        let wanted = SyncDaemon::wanted(&sync);
        let running: Vec<_> = wanted.iter().map(as_kernel_reports).collect();
        assert_eq!(running[0].max_message_bytes, Some(1024));
        assert_eq!(running[1].max_message_bytes, Some(100));
        assert_eq!(plan_daemons(&wanted, &running), []);
        let mut smaller = running.clone();
        smaller[1].max_message_bytes = Some(1472);
        assert_eq!(plan_daemons(&wanted, &smaller).len(), 2);
    }
}
