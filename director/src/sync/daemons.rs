//! The sync-daemon step of a full pass: the IPVS connection sync daemons brought in line with
//! `[failover.connection_sync]` (see `lb_ipvs_sync::sync_daemon` for the plan).
//!
//! Only full passes run it (every resync period): a focused pass stays O(its focus), and a
//! daemon someone stopped is repaired within one resync period. A failed start or stop is a
//! step error; the IPVS pass stands, and the next full pass tries again.

use lb_ipvs_sync::sync_daemon::{DaemonOp, SyncDaemon, plan_daemons};
use lb_ipvs_sync::{IpvsError, IpvsKernel};
use serde::Serialize;

/// What the step found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaemonReport {
    /// The daemons the settings ask for.
    pub wanted: Vec<SyncDaemon>,
    /// The daemons the kernel runs after the step (as it reports them).
    pub running: Vec<SyncDaemon>,
    /// The starts and stops performed.
    pub applied: Vec<DaemonOp>,
}

impl DaemonReport {
    /// Whether every wanted daemon runs as wanted.
    pub fn in_line(&self) -> bool {
        self.wanted.iter().all(|want| want.runs_in(&self.running))
    }
}

/// Reads the running daemons, starts and stops what differs, and reads them again when
/// anything changed. The report is returned with the error of a failed read or write.
pub fn sync_daemons<K: IpvsKernel>(
    kernel: &mut K,
    wanted: &[SyncDaemon],
) -> (DaemonReport, Option<IpvsError>) {
    let mut report = DaemonReport {
        wanted: wanted.to_vec(),
        ..DaemonReport::default()
    };
    let running = match kernel.sync_daemons() {
        Ok(running) => running,
        Err(e) => return (report, Some(e)),
    };
    let ops = plan_daemons(wanted, &running);
    report.running = running;
    if ops.is_empty() {
        return (report, None);
    }
    let mut failure = None;
    for op in ops {
        match kernel.apply_daemon(&op) {
            Ok(()) => {
                tracing::info!(op = %op, "IPVS sync daemon changed");
                report.applied.push(op);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    match kernel.sync_daemons() {
        Ok(running) => report.running = running,
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
    (report, failure)
}

#[cfg(test)]
mod tests {
    use lb_config::{ConnectionSyncSettings, SyncRole};
    use lb_ipvs_sync::IpvsTable;
    use lb_ipvs_sync::fake::FakeKernel;

    use super::*;

    fn wanted(roles: &[SyncRole]) -> Vec<SyncDaemon> {
        SyncDaemon::wanted(&ConnectionSyncSettings {
            roles: roles.to_vec(),
            interface: "eth1".to_owned(),
            ..ConnectionSyncSettings::default()
        })
    }

    #[test]
    fn missing_daemons_start_and_running_ones_are_adopted() {
        // Mutation: an unconditional stop+start (or a plan that ignores the running daemons)
        // shows up as applied ops on the second pass.
        let mut kernel = FakeKernel::new(IpvsTable::default());
        let want = wanted(&[SyncRole::Master, SyncRole::Backup]);
        let (first, error) = sync_daemons(&mut kernel, &want);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(first.applied.len(), 2);
        assert!(first.in_line());
        let (second, error) = sync_daemons(&mut kernel, &want);
        assert!(error.is_none());
        assert_eq!(second.applied, []);
        assert_eq!(second.running.len(), 2);
    }

    #[test]
    fn a_different_daemon_is_replaced_and_a_foreign_role_kept() {
        let mut kernel = FakeKernel::new(IpvsTable::default());
        let mut old = wanted(&[SyncRole::Backup]).remove(0);
        old.sync_id = 9;
        kernel.run_daemon(old);
        let mut foreign = wanted(&[SyncRole::Master]).remove(0);
        foreign.interface = "eth9".to_owned();
        kernel.run_daemon(foreign.clone());
        let want = wanted(&[SyncRole::Backup]);
        let (report, error) = sync_daemons(&mut kernel, &want);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            report.applied,
            [
                DaemonOp::Stop {
                    role: SyncRole::Backup
                },
                DaemonOp::Start {
                    daemon: want[0].clone()
                }
            ]
        );
        assert!(kernel.daemons().contains(&foreign));
        assert!(kernel.daemons().contains(&want[0]));
    }
}
