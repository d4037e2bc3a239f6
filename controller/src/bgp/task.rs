//! The announcer task: desired state + serving VIPs -> policy -> backend, on every change, at
//! the end of a hold-down and on `lbctl withdraw`; status and metrics every few seconds; withdraw on stop.
//!
//! The backend starts only after the daemon's first sync: a speaker that came up earlier would
//! send End-of-RIB with nothing announced, and routers helping a graceful restart would then
//! flush the routes they kept for us while IPVS was still forwarding.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lb_bgp_announcer::{AnnouncePolicy, Announcements, HeldBack, PeerStatus, PolicyConfig, State};
use lb_config::DesiredState;
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, info, warn};

use super::backend::Backend;
use super::control::{BgpControl, BgpPeerStatus};
use super::serving::vip_serving;
use super::settings::AnnouncerConfig;
use super::withdrawals::Withdrawals;
use crate::metrics::ControllerMetrics;

/// How often session states reach `/status` and the metrics.
const STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// What the task reads.
pub(crate) struct TaskInputs {
    /// Desired state after every build (weights include health verdicts).
    pub(crate) desired: watch::Receiver<Arc<DesiredState>>,
    /// VIPs the kernel serves after the last sync.
    pub(crate) serving: watch::Receiver<BTreeSet<IpAddr>>,
    /// `lbctl withdraw` switch (everything, or some VIPs).
    pub(crate) withdrawals: watch::Receiver<Withdrawals>,
    /// Fires once: stop (see `StopMode`).
    pub(crate) stop: oneshot::Receiver<()>,
    /// Completes when the daemon finished its first sync (the kernel shows what it serves).
    pub(crate) first_sync: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// `[bgp.policy]` after each SIGHUP (already checked).
    pub(crate) policy: watch::Receiver<PolicyConfig>,
}

/// Waits for the first sync, starts the backend, then runs until `stop` fires (or its sender
/// is dropped); returns the backend still running so the caller decides how to stop it
/// (`None`: stopped before it started, or it could not start).
pub(crate) async fn run(
    announcer: AnnouncerConfig,
    mut policy: AnnouncePolicy,
    mut inputs: TaskInputs,
    control: Arc<BgpControl>,
    metrics: ControllerMetrics,
) -> Option<Backend> {
    tokio::select! {
        _ = &mut inputs.stop => return None,
        () = &mut inputs.first_sync => {}
    }
    let mut backend = match Backend::start(announcer).await {
        Ok(backend) => backend,
        Err(e) => {
            error!(error = %e, "cannot start the BGP speaker: announcing nothing");
            control.update_status(|s| s.last_error = Some(e.to_string()));
            let _ = inputs.stop.await;
            return None;
        }
    };
    let mut recorder = PeerMetrics::new(metrics);
    let mut tick = tokio::time::interval(STATUS_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut handed_over: Option<(Announcements, bool)> = None;
    let (mut desired_open, mut serving_open, mut withdrawals_open) = (true, true, true);
    let mut policy_open = true;
    inputs.policy.mark_unchanged();
    loop {
        let withdrawals = inputs.withdrawals.borrow().clone();
        let mut per_vip = vip_serving(&inputs.desired.borrow(), &inputs.serving.borrow());
        for vip in &withdrawals.vips {
            if let Some(h) = per_vip.get_mut(vip) {
                h.withdrawn = true;
            }
        }
        let routes = policy.evaluate(&per_vip, std::time::Instant::now());
        let withdrawn_all = withdrawals.all;
        if handed_over.as_ref() != Some(&(routes.clone(), withdrawn_all)) {
            log_change(&routes, withdrawn_all);
            match backend.publish(&routes, withdrawn_all).await {
                Ok(()) => {
                    recorder.record_handover(&backend, &routes, withdrawn_all);
                    control.update_status(|s| {
                        s.withdrawn_all = withdrawn_all;
                        s.announced = routes.keys().map(ToString::to_string).collect();
                        s.last_error = None;
                    });
                    handed_over = Some((routes, withdrawn_all));
                }
                // BIRD mode: retried on the next tick.
                Err(e) => {
                    warn!(error = %e, "cannot hand the VIP routes over");
                    control.update_status(|s| s.last_error = Some(e.to_string()));
                }
            }
        }
        let hold_down_end = policy.next_change().map(Instant::from_std);
        tokio::select! {
            _ = &mut inputs.stop => break,
            changed = inputs.desired.changed(), if desired_open => desired_open = changed.is_ok(),
            changed = inputs.serving.changed(), if serving_open => serving_open = changed.is_ok(),
            changed = inputs.withdrawals.changed(), if withdrawals_open => withdrawals_open = changed.is_ok(),
            changed = inputs.policy.changed(), if policy_open => {
                policy_open = changed.is_ok();
                if policy_open {
                    let config = inputs.policy.borrow_and_update().clone();
                    match policy.reconfigure(config) {
                        Ok(()) => info!("SIGHUP: new [bgp.policy] applied to the live sessions"),
                        Err(e) => warn!(error = %e, "SIGHUP: [bgp.policy] refused, keeping the old one"),
                    }
                }
            }
            () = sleep_until(hold_down_end) => {}
            _ = tick.tick() => {
                let peers = backend.peers();
                recorder.record_peers(&peers);
                control.update_status(|s| s.peers = peers.iter().map(BgpPeerStatus::from).collect());
            }
        }
    }
    Some(backend)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn log_change(routes: &Announcements, withdrawn_all: bool) {
    let prefixes: Vec<String> = routes.keys().map(ToString::to_string).collect();
    if withdrawn_all {
        info!(
            wanted = prefixes.join(" "),
            "lbctl withdraw in effect: every route withdrawn"
        );
    } else {
        info!(prefixes = prefixes.join(" "), "VIP routes to announce");
    }
}

/// Maps session snapshots onto the Prometheus metrics (counters advance by the difference).
struct PeerMetrics {
    metrics: ControllerMetrics,
    updates_seen: HashMap<IpAddr, u64>,
    /// Each peer's held-back prefixes as last logged (a warning per change, not per tick).
    held_back_seen: HashMap<IpAddr, Vec<HeldBack>>,
}

impl PeerMetrics {
    fn new(metrics: ControllerMetrics) -> Self {
        PeerMetrics {
            metrics,
            updates_seen: HashMap::new(),
            held_back_seen: HashMap::new(),
        }
    }

    fn record_peers(&mut self, peers: &[PeerStatus]) {
        for peer in peers {
            let label = peer.address.to_string();
            let up = i64::from(peer.state == State::Established);
            self.metrics
                .bgp_session_established
                .with_label_values(&[&label])
                .set(up);
            let prefixes = i64::try_from(peer.announced_prefixes).unwrap_or(i64::MAX);
            self.metrics
                .bgp_announced_prefixes
                .with_label_values(&[&label])
                .set(prefixes);
            let seen = self.updates_seen.entry(peer.address).or_default();
            self.metrics
                .bgp_updates_sent_total
                .with_label_values(&[&label])
                .inc_by(peer.updates_sent.saturating_sub(*seen));
            *seen = (*seen).max(peer.updates_sent);
            let logged = self.held_back_seen.entry(peer.address).or_default();
            if *logged != peer.held_back {
                for held in &peer.held_back {
                    warn!(
                        peer = %peer.address,
                        prefix = %held.prefix,
                        reason = %held.reason,
                        "a VIP is not announced to this BGP peer"
                    );
                }
                logged.clone_from(&peer.held_back);
            }
        }
    }

    fn record_handover(&mut self, backend: &Backend, routes: &Announcements, withdrawn_all: bool) {
        self.metrics.bgp_withdrawn_all.set(i64::from(withdrawn_all));
        if let Backend::Bird { .. } = backend {
            let count = if withdrawn_all { 0 } else { routes.len() };
            self.metrics
                .bgp_announced_prefixes
                .with_label_values(&["bird"])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}
