//! The core loop: wait for input changes (coalesced) or the resync tick, then run one pass.
//!
//! Generic over the IPVS kernel and over its inputs (watch channels from any source). Contract:
//! no kernel write before both the ConfigMap and the endpoint sources delivered a complete
//! list; every resync period brings a full pass (a fresh dump), which repairs drift; a closed input
//! channel keeps its last value (it never looks like an empty input).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lb_config::DesiredState;
use lb_ipvs_sync::IpvsKernel;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info};

use super::debounce::Coalescer;
use super::input::DaemonInputs;
use super::kernel::KernelSlot;
use super::pass::PassState;
use super::problems::ProblemSink;
use super::status::StatusSnapshot;
use crate::metrics::ControllerMetrics;

/// Knobs of the core loop that do not come from the settings file.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// Quiet time after the last change before a sync; a change after this long without
    /// changes or syncs is synced at once.
    pub debounce: Duration,
    /// Longest delay between the first change of a burst and its sync.
    pub max_delay: Duration,
    /// Skip the delete guard (`--force`).
    pub force: bool,
    /// Manage the VIP addresses on the settings' interface.
    pub manage_vips: bool,
    /// Override of the settings' state file.
    pub state_file: Option<PathBuf>,
    /// Keep the last good entries when the ConfigMap is deleted (else: no entries).
    pub keep_on_configmap_delete: bool,
    /// Install the netfilter rules and IPVS sysctls with every sync (off for the fake kernel).
    pub netfilter: bool,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            debounce: Duration::from_millis(150),
            max_delay: Duration::from_secs(1),
            force: false,
            manage_vips: true,
            state_file: None,
            keep_on_configmap_delete: true,
            netfilter: false,
        }
    }
}

/// What the daemon publishes for the HTTP endpoint, the health checker and BGP.
#[derive(Clone)]
pub struct DaemonOutputs {
    /// The desired state after every successful build (health checker, metrics labels).
    pub desired: watch::Receiver<Arc<DesiredState>>,
    /// Controller status after every pass (`/status`, `/readyz`).
    pub status: watch::Receiver<Arc<StatusSnapshot>>,
    /// VIPs with at least one real server of weight > 0 in the kernel (BGP announcements).
    pub serving_vips: watch::Receiver<BTreeSet<IpAddr>>,
}

/// The core loop with its inputs, kernel and outputs.
pub struct Controller<K> {
    inputs: DaemonInputs,
    pass: PassState<K>,
    options: CoreOptions,
}

impl<K: IpvsKernel + Send + 'static> Controller<K> {
    /// Wires a controller; returns it with the receiving ends of its outputs.
    pub fn new(
        inputs: DaemonInputs,
        kernel: KernelSlot<K>,
        metrics: ControllerMetrics,
        sink: Arc<dyn ProblemSink>,
        options: CoreOptions,
    ) -> (Self, DaemonOutputs) {
        let (pass, outputs) = PassState::new(kernel, metrics, sink, options.clone());
        (
            Controller {
                inputs,
                pass,
                options,
            },
            outputs,
        )
    }

    /// Runs until `shutdown` becomes true (or its sender is dropped).
    pub async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        let mut coalescer = Coalescer::new(
            self.options.debounce,
            self.options.max_delay,
            Instant::now(),
        );
        let mut resync = resync_timer(&self.inputs);
        let mut open = [true; 5];
        // Whatever the sources already hold counts as a change.
        coalescer.note(Instant::now());
        loop {
            if *shutdown.borrow() {
                break;
            }
            let deadline = coalescer.deadline();
            let inputs = &mut self.inputs;
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() { break; }
                }
                r = inputs.config.changed(), if open[0] => note(&mut coalescer, &mut open[0], r),
                r = inputs.endpoints.changed(), if open[1] => note(&mut coalescer, &mut open[1], r),
                r = inputs.health.changed(), if open[2] => note(&mut coalescer, &mut open[2], r),
                r = inputs.connected.changed(), if open[3] => note(&mut coalescer, &mut open[3], r),
                r = inputs.settings.changed(), if open[4] => {
                    note(&mut coalescer, &mut open[4], r);
                    resync = resync_timer(inputs);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    coalescer.clear(Instant::now());
                    self.pass.run(&self.inputs, false).await;
                }
                _ = resync.tick() => {
                    if coalescer.is_pending() {
                        // A steady stream of changes must not starve the full pass.
                        self.pass.request_full();
                    } else {
                        debug!("periodic resync");
                        self.pass.run(&self.inputs, true).await;
                    }
                }
            }
        }
        info!("core loop stopped");
    }

    /// Removes every managed service and VIP now (`--cleanup-on-exit`).
    pub(crate) async fn cleanup(&mut self) {
        self.pass.cleanup(&self.inputs).await;
    }
}

fn note(coalescer: &mut Coalescer, open: &mut bool, result: Result<(), watch::error::RecvError>) {
    match result {
        Ok(()) => coalescer.note(Instant::now()),
        // The source is gone: keep its last value, stop listening to it.
        Err(_) => *open = false,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn resync_timer(inputs: &DaemonInputs) -> tokio::time::Interval {
    let period = Duration::from_secs(inputs.settings.borrow().resync_period_secs.max(1));
    let mut timer = tokio::time::interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}
