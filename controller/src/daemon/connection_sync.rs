//! The sync-daemon step of a full pass as `/status` and the metrics show it (pure but for
//! the metric handles it is given).

use lb_director::sync::DaemonReport;
use lb_ipvs_sync::sync_daemon::DaemonOp;

use super::status::ConnectionSyncStatus;
use crate::metrics::ControllerMetrics;
use crate::prepare::now_secs;

/// The status after a full pass's daemon step; `error`: why it failed, if it did. The last
/// changes carry over from `previous` when this pass changed nothing, so an operator sees the
/// last start or repair, not an empty list after the next resync.
pub(crate) fn record(
    report: &DaemonReport,
    error: Option<String>,
    previous: Option<ConnectionSyncStatus>,
    metrics: &ControllerMetrics,
) -> ConnectionSyncStatus {
    for op in &report.applied {
        let label = match op {
            DaemonOp::Start { .. } => "start",
            DaemonOp::Stop { .. } => "stop",
        };
        metrics
            .connection_sync_daemon_changes_total
            .with_label_values(&[label])
            .inc();
    }
    for want in &report.wanted {
        let up = want.runs_in(&report.running);
        metrics
            .connection_sync_daemon_up
            .with_label_values(&[want.role.as_str()])
            .set(i64::from(up));
    }
    let last_changes = if report.applied.is_empty() {
        previous.map(|p| p.last_changes).unwrap_or_default()
    } else {
        report.applied.clone()
    };
    ConnectionSyncStatus {
        wanted: report.wanted.clone(),
        running: report.running.clone(),
        in_line: report.in_line(),
        last_changes,
        error,
        checked_at: now_secs(),
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{ConnectionSyncSettings, SyncRole};
    use lb_ipvs_sync::sync_daemon::SyncDaemon;

    use super::*;

    #[test]
    fn up_follows_the_kernel_and_changes_are_counted_and_kept() {
        // Mutation: setting `up` from the wanted list alone reports 1 for a stopped daemon;
        // replacing last_changes on every pass empties it at the next resync.
        let metrics = ControllerMetrics::new().unwrap();
        let wanted = SyncDaemon::wanted(&ConnectionSyncSettings {
            roles: vec![SyncRole::Master, SyncRole::Backup],
            interface: "eth1".to_owned(),
            ..ConnectionSyncSettings::default()
        });
        let started = DaemonReport {
            wanted: wanted.clone(),
            running: vec![wanted[0].clone()],
            applied: vec![DaemonOp::Start {
                daemon: wanted[0].clone(),
            }],
        };
        let status = record(&started, Some("ENODEV".to_owned()), None, &metrics);
        assert!(!status.in_line);
        let up = |role| {
            metrics
                .connection_sync_daemon_up
                .with_label_values(&[role])
                .get()
        };
        assert_eq!((up("master"), up("backup")), (1, 0));
        let quiet = DaemonReport {
            wanted: wanted.clone(),
            running: wanted.clone(),
            applied: Vec::new(),
        };
        let next = record(&quiet, None, Some(status), &metrics);
        assert!(next.in_line);
        assert_eq!(next.last_changes.len(), 1);
        assert_eq!((up("master"), up("backup")), (1, 1));
        let starts = metrics
            .connection_sync_daemon_changes_total
            .with_label_values(&["start"])
            .get();
        assert_eq!(starts, 1);
    }
}
