//! The daemon's BGP announcer: announces the VIPs this director serves, following health.
//!
//! ```text
//!  DaemonOutputs.desired (weights after health checks) --+
//!  DaemonOutputs.serving_vips (what IPVS really serves) --+-> serving::vip_serving
//!      -> AnnouncePolicy (thresholds, hysteresis, hold-down) -> Backend (speaker | BIRD)
//!  lbctl withdraw (POST /withdraw) -> BgpControl -> withdraw all / announce again
//!  SIGTERM -> BgpAnnouncer::stop -> withdraw (or leave to graceful restart) -> exit
//! ```
//!
//! Contract: nothing is announced before the first sync has programmed the kernel; a VIP is
//! withdrawn as soon as the kernel or the desired state stops giving it a serving real server;
//! a SIGHUP applies a new `[bgp.policy]` (thresholds, hold-down, attributes) to the live
//! sessions as incremental UPDATEs, while the other `[bgp]` keys (peers, AS, mode) need a
//! restart (a reload never resets a session). `settings` and `serving` are pure; `task` and
//! `backend` do the I/O.

mod backend;
mod control;
mod policy_settings;
mod render;
mod serving;
mod settings;
mod task;
mod withdrawals;

#[cfg(test)]
mod task_tests;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use lb_bgp_announcer::{AnnouncePolicy, PolicyConfig};
use lb_config::BgpSettings;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use self::backend::Backend;
pub(crate) use self::control::BgpControl;
pub use self::control::BgpStatus;
pub use self::render::render_status;
pub use self::settings::BgpConfig;
pub(crate) use self::settings::{AnnouncerConfig, StopMode};
use crate::daemon::DaemonOutputs;
use crate::files::UsageError;
use crate::metrics::ControllerMetrics;
use lb_director::error_text::chain;

/// The running announcer, held by `lbctl run` until SIGTERM.
pub struct BgpAnnouncer {
    control: Arc<BgpControl>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Option<Backend>>,
    on_stop: StopMode,
    restart_marker: Option<std::path::PathBuf>,
    /// The `[bgp]` in effect, to tell a reload what it may apply.
    running: BgpConfig,
    policy: watch::Sender<PolicyConfig>,
}

/// What a SIGHUP did to `[bgp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BgpReload {
    /// Nothing changed.
    Unchanged,
    /// The new policy is live.
    PolicyApplied,
    /// These keys changed and wait for a restart (a new policy, if any, is live anyway).
    NeedsRestart(Vec<&'static str>),
}

/// Checks `[bgp]` (for startup, before anything runs, and for a SIGHUP): an error names the
/// key. Returns the checked configuration (`None`: BGP disabled).
pub fn check_settings(settings: &BgpSettings) -> Result<Option<BgpConfig>, UsageError> {
    BgpConfig::from_settings(settings).map_err(|e| UsageError::Bgp(chain(&e)))
}

/// Why the announcer did not start (the daemon stops before serving).
#[derive(Debug, thiserror::Error)]
pub enum BgpStartError {
    /// `[bgp]` is invalid (checked at start already; kept for a caller that skips the check).
    #[error(transparent)]
    Settings(#[from] UsageError),
    /// `[bgp.policy]` is refused by the announcer.
    #[error("invalid [bgp.policy]")]
    Policy(#[source] lb_bgp_announcer::ConfigError),
}

/// Starts the announcer when `[bgp] enabled = true` (else `None`).
pub(crate) async fn start(
    settings: &BgpSettings,
    outputs: &DaemonOutputs,
    metrics: ControllerMetrics,
) -> Result<Option<BgpAnnouncer>, BgpStartError> {
    let Some(config) = check_settings(settings)? else {
        return Ok(None);
    };
    let running = config.clone();
    let policy = AnnouncePolicy::new(config.policy.clone()).map_err(BgpStartError::Policy)?;
    let (policy_tx, policy_rx) = watch::channel(config.policy.clone());
    let (announcer, restart_marker) = with_restart_state(config.announcer, &config.restart_marker);
    let control = Arc::new(BgpControl::new(
        announcer.mode(),
        config.withdraw_file.clone(),
    ));
    if control.is_withdrawn_all() {
        warn!(file = %config.withdraw_file.display(),
            "lbctl withdraw in effect: nothing is announced until lbctl withdraw --undo");
    }
    let (stop, stop_rx) = oneshot::channel();
    let mut status = outputs.status.clone();
    let first_sync = Box::pin(async move {
        // A closed channel means the loop is gone: start anyway, stop comes next.
        let _ = status.wait_for(|s| s.controller.last_sync.is_some()).await;
    });
    let inputs = task::TaskInputs {
        desired: outputs.desired.clone(),
        serving: outputs.serving_vips.clone(),
        withdrawals: control.withdraw_switch(),
        stop: stop_rx,
        first_sync,
        policy: policy_rx,
    };
    let task = tokio::spawn(task::run(
        announcer,
        policy,
        inputs,
        Arc::clone(&control),
        metrics,
    ));
    Ok(Some(BgpAnnouncer {
        control,
        stop,
        task,
        on_stop: config.on_stop,
        restart_marker,
        running,
        policy: policy_tx,
    }))
}

impl BgpAnnouncer {
    /// For the HTTP endpoint: withdraw switch and status.
    pub(crate) fn control(&self) -> Arc<BgpControl> {
        Arc::clone(&self.control)
    }

    /// SIGHUP: hands a new `[bgp.policy]` to the running task (no session is reset) and names
    /// the keys that need a restart. `new` comes from [`check_settings`] (policy included).
    pub(crate) fn reload(&mut self, new: Option<BgpConfig>) -> BgpReload {
        let Some(new) = new else {
            return BgpReload::NeedsRestart(vec!["[bgp] enabled"]);
        };
        let policy_changed = new.policy != self.running.policy;
        if policy_changed {
            self.policy.send_replace(new.policy.clone());
            self.running.policy = new.policy.clone();
        }
        let restart: Vec<&'static str> = [
            (
                new.announcer != self.running.announcer,
                "[bgp] sessions (peers, AS, mode, speaker keys)",
            ),
            (new.on_stop != self.running.on_stop, "[bgp] on_stop"),
            (
                new.restart_marker != self.running.restart_marker,
                "[bgp] restart_marker",
            ),
            (
                new.withdraw_file != self.running.withdraw_file,
                "[bgp] withdraw_file",
            ),
        ]
        .into_iter()
        .filter_map(|(changed, what)| changed.then_some(what))
        .collect();
        match (policy_changed, restart.is_empty()) {
            (_, false) => BgpReload::NeedsRestart(restart),
            (true, true) => BgpReload::PolicyApplied,
            (false, true) => BgpReload::Unchanged,
        }
    }

    /// SIGTERM: withdraws every route and closes the sessions (or, with `on_stop =
    /// "graceful_restart"`, closes them so routers keep the routes), then returns.
    pub(crate) async fn stop(self) {
        info!(mode = ?self.on_stop, "stopping the BGP announcer");
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Some(backend)) => backend.stop(self.on_stop).await,
            Ok(None) => info!("the BGP speaker never started: nothing to withdraw"),
            Err(e) => warn!(error = %e, "the BGP announcer task failed: routes not withdrawn"),
        }
        if self.on_stop == StopMode::Withdraw
            && let Some(marker) = &self.restart_marker
            && let Err(e) = std::fs::remove_file(marker)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(file = %marker.display(), error = %e, "cannot remove the restart marker");
        }
        info!("BGP announcer stopped");
    }
}

/// Graceful restart: the R-bit ("I have restarted, keep my routes until End-of-RIB") is set
/// when the marker of a previous run that did not withdraw is present; then the marker is
/// (re)written for the next start. It lives in /run by default, so a reboot (which empties
/// IPVS) clears it: the R-bit is only claimed while the kernel kept forwarding.
fn with_restart_state(
    announcer: AnnouncerConfig,
    marker: &Path,
) -> (AnnouncerConfig, Option<std::path::PathBuf>) {
    let AnnouncerConfig::Speaker(mut config) = announcer else {
        return (announcer, None);
    };
    if !config.graceful_restart.enabled {
        return (AnnouncerConfig::Speaker(config), None);
    }
    config.graceful_restart.restarting = marker.exists();
    if config.graceful_restart.restarting {
        info!(marker = %marker.display(), "graceful restart: announcing the R-bit");
    }
    let written = marker
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(marker, b"lbctl run: BGP speaker running\n"));
    if let Err(e) = written {
        warn!(file = %marker.display(), error = %e,
            "cannot write the restart marker: the next start will not set the R-bit");
    }
    (AnnouncerConfig::Speaker(config), Some(marker.to_owned()))
}
