//! The daemon's assembly (`lbctl run`): wires (sources, core loop, kernel, HTTP, signals) and runs it.
//!
//! SIGTERM/SIGINT: withdraw BGP routes first, stop the loop, keep IPVS (unless
//! `--cleanup-on-exit`). SIGHUP: reload the settings file (an invalid file keeps the old
//! settings; `listen_address`, `[kubernetes]`, `[http]` and `[bgp]` need a restart; `[health_check]`
//! reaches the checks through the rebuilt desired state, `[metrics]` the next scrape).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lb_config::{MetricsSettings, Settings};
use lb_ipvs_sync::netlink::IpvsClient;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::daemon::DaemonError;
use crate::daemon::{
    ControlSocket, Controller, CoreOptions, DaemonOutputs, HttpState, KernelSlot, LogSink,
    ProblemSink, ServeLimits, bind, channels, read_config, read_endpoints, serve_control,
    watch_config_file, watch_endpoints_file,
};
use crate::files::{UsageError, load_settings};
use crate::health::ExecPolicy;
use crate::metrics::{
    ConntrackCollector, IpvsCollector, IpvsCollectorOptions, LazyNetlinkSource, Metrics,
};
use crate::writer_lock::WriterLock;
use lb_director::error_text::chain;

/// What to do when the watched ConfigMap is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Keep the last good entries and warn (an accidental delete must not take VIPs down).
    Keep,
    /// Treat it as empty (the delete guard still holds back a mass removal without --force).
    Clear,
}

/// How the daemon runs: where its inputs come from and what it may change. `lbctl run`'s flags
/// map onto these one to one (see `lbctl run --help`).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The settings file; `None` is the built-in defaults (which the daemon refuses: it needs
    /// managed ranges).
    pub settings: Option<PathBuf>,
    /// Run without a cluster: the VIP ConfigMap from this file, reloaded on change.
    pub config_file: Option<PathBuf>,
    /// Offline endpoints for `config_file`, reloaded on change.
    pub endpoints_file: Option<PathBuf>,
    /// Kubeconfig of the cluster (`None`: KUBECONFIG, ~/.kube/config, or in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// HTTP listen address (`None`: the settings' `listen_address`).
    pub listen: Option<SocketAddr>,
    /// Unix control socket (`None`: the settings' `http.control_socket`).
    pub control_socket: Option<PathBuf>,
    /// State file: drains and last good key versions (`None`: the settings' `state_file`).
    pub state_file: Option<PathBuf>,
    /// Delete the managed services and VIPs on SIGTERM instead of keeping them forwarding.
    pub cleanup_on_exit: bool,
    /// Skip the delete guard on every sync.
    pub force: bool,
    /// Do not manage VIP addresses on the VIP interface.
    pub no_vips: bool,
    /// What a deleted ConfigMap means.
    pub on_configmap_delete: OnDelete,
    /// Quiet time after the last change before a sync.
    pub debounce: Duration,
    /// Longest delay from a change to its sync under a steady stream of changes.
    pub max_delay: Duration,
}

/// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
pub fn run(args: DaemonOptions) -> Result<i32, DaemonError> {
    // First: no thread exists yet to keep an arena of its own.
    super::malloc_arenas::limit();
    let settings = load_settings(args.settings.as_deref())?;
    settings
        .require_managed_ranges()
        .map_err(|e| UsageError::NoManagedRanges {
            needed_by: "the daemon",
            cause: chain(&e),
        })?;
    crate::own_addresses::refuse_ranges_holding_own_addresses(&settings)?;
    crate::bgp::check_settings(&settings.bgp)?;
    let exec = ExecPolicy::from_settings(&settings.exec_checks)
        .map_err(|e| UsageError::ExecChecks(chain(&e)))?;
    if let ExecPolicy::Enabled(sandbox) = &exec {
        warn!(
            user = sandbox.user(),
            "exec health checks are enabled: ConfigMap entries may run the allowed programs"
        );
    }
    if let Some(path) = &args.config_file {
        check_file(path, "ConfigMap", |p| {
            matches!(read_config(p), crate::daemon::ConfigInput::Absent)
        })?;
    }
    if let Some(path) = &args.endpoints_file {
        read_endpoints(path).map_err(|cause| UsageError::EndpointsFile {
            path: path.clone(),
            cause,
        })?;
    }
    // Held until the daemon exits: no `lbctl apply` or second daemon writes meanwhile.
    let state_file = args
        .state_file
        .clone()
        .unwrap_or_else(|| settings.state_file.clone());
    let _lock = WriterLock::acquire(
        &state_file,
        "lbctl run",
        "only one lbctl may manage a director; stop the other one first",
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    runtime.block_on(daemon(args, settings, exec))?;
    Ok(0)
}

fn check_file(
    path: &Path,
    what: &'static str,
    missing: impl Fn(&Path) -> bool,
) -> Result<(), UsageError> {
    if missing(path) {
        return Err(UsageError::Missing {
            what,
            path: path.to_owned(),
        });
    }
    Ok(())
}

async fn daemon(
    args: DaemonOptions,
    settings: Settings,
    exec: ExecPolicy,
) -> Result<(), DaemonError> {
    let metrics_error = |step| move |cause| DaemonError::Metrics { step, cause };
    let metrics =
        Arc::new(Metrics::new().map_err(metrics_error("cannot create the metrics registry"))?);
    let listen = args.listen.unwrap_or(settings.listen_address);
    let (senders, inputs) = channels(settings.clone());
    let (shutdown_tx, shutdown) = watch::channel(false);

    let sink: Arc<dyn ProblemSink> = if let Some(config_file) = args.config_file.clone() {
        info!(file = %config_file.display(), "file mode: no cluster");
        tokio::spawn(watch_config_file(
            config_file,
            senders.config,
            shutdown.clone(),
        ));
        tokio::spawn(watch_endpoints_file(
            args.endpoints_file.clone(),
            senders.endpoints,
            shutdown.clone(),
        ));
        Arc::new(LogSink)
    } else {
        let client = crate::kube::client(
            args.kubeconfig.as_deref(),
            settings.kubernetes.allow_insecure_http,
        )
        .await?;
        let outputs = crate::kube::KubeOutputs {
            config: senders.config,
            endpoints: senders.endpoints,
            connected: senders.connected,
        };
        tokio::spawn(crate::kube::run(
            client.clone(),
            settings.kubernetes.clone(),
            outputs,
            metrics.controller.clone(),
            shutdown.clone(),
        ));
        let instance = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty());
        Arc::new(crate::kube::EventSink::new(
            client,
            &settings.kubernetes,
            instance,
        ))
    };
    let health_tx = senders.health;

    let kernel = KernelSlot::new(Arc::new(IpvsClient::connect));
    let options = CoreOptions {
        debounce: args.debounce,
        max_delay: args.max_delay,
        force: args.force,
        manage_vips: !args.no_vips,
        state_file: args.state_file.clone(),
        keep_on_configmap_delete: args.on_configmap_delete == OnDelete::Keep,
        netfilter: true,
    };
    let (mut controller, outputs) = Controller::new(
        inputs,
        kernel.clone(),
        metrics.controller.clone(),
        sink,
        options,
    );
    spawn_health_checks(&outputs, &settings, &metrics, health_tx, exec);
    metrics
        .attach_ipvs(Box::new(
            IpvsCollector::new(
                LazyNetlinkSource::new(),
                outputs.desired.clone(),
                follow_collector_options(senders.settings.subscribe()),
            )
            .map_err(metrics_error("cannot create the IPVS metrics collector"))?,
        ))
        .map_err(metrics_error("cannot register the IPVS metrics collector"))?;
    metrics
        .register(Box::new(
            ConntrackCollector::new(lb_director::netfilter::conntrack_stats::CONNTRACK_STAT_PATH)
                .map_err(metrics_error(
                "cannot create the conntrack metrics collector",
            ))?,
        ))
        .map_err(metrics_error(
            "cannot register the conntrack metrics collector",
        ))?;
    let control_path = args
        .control_socket
        .clone()
        .unwrap_or_else(|| settings.http.control_socket.clone());
    // Before BGP starts: a second daemon must stop here, not after announcing.
    let control_socket =
        ControlSocket::bind(&control_path).map_err(|e| DaemonError::ControlSocket(chain(&e)))?;
    let bgp = crate::bgp::start(&settings.bgp, &outputs, metrics.controller.clone()).await?;
    let http = HttpState {
        metrics: Arc::clone(&metrics),
        status: outputs.status.clone(),
        bgp: bgp.as_ref().map(crate::bgp::BgpAnnouncer::control),
        control_socket: control_path,
    };
    let limits = ServeLimits::from_settings(&settings.http);
    let (_, serve) = bind(listen, http.clone(), limits, shutdown.clone())
        .await
        .map_err(|cause| DaemonError::Listen {
            address: listen,
            cause,
        })?;
    tokio::spawn(serve);
    tokio::spawn(serve_control(
        control_socket,
        http,
        limits,
        shutdown.clone(),
    ));

    let settings_path = args.settings.clone();
    let settings_tx = senders.settings;
    let signals = tokio::spawn(async move {
        let mut bgp = bgp;
        let result = wait_for_stop(settings_path.as_deref(), &settings_tx, bgp.as_mut()).await;
        if let Err(e) = &result {
            warn!(error = %chain(e), "signal handling failed: stopping");
        }
        // Routers move flows to other directors before this one stops.
        if let Some(bgp) = bgp {
            bgp.stop().await;
        }
        let _ = shutdown_tx.send(true);
        // Keep the settings sender (and thus the channel) alive until the loop is down.
        settings_tx
    });
    controller.run(shutdown).await;
    let _settings_tx = signals.await.map_err(DaemonError::SignalTask)?;
    if args.cleanup_on_exit {
        info!("--cleanup-on-exit: removing the managed services and VIPs");
        controller.cleanup().await;
    } else {
        info!("stopped; IPVS keeps forwarding as programmed");
    }
    Ok(())
}

/// A signal the daemon cannot handle (it then stops: it could not be stopped cleanly later).
#[derive(Debug, thiserror::Error)]
#[error("cannot handle {signal_name}")]
struct SignalError {
    signal_name: &'static str,
    #[source]
    cause: std::io::Error,
}

/// Waits for SIGTERM/SIGINT, reloading the settings on every SIGHUP meanwhile.
async fn wait_for_stop(
    settings_path: Option<&Path>,
    settings_tx: &watch::Sender<Arc<Settings>>,
    mut bgp: Option<&mut crate::bgp::BgpAnnouncer>,
) -> Result<(), SignalError> {
    let handle = |signal_name| move |cause| SignalError { signal_name, cause };
    let mut term = signal(SignalKind::terminate()).map_err(handle("SIGTERM"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(handle("SIGINT"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(handle("SIGHUP"))?;
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); return Ok(()); }
            _ = int.recv() => { info!("SIGINT: stopping"); return Ok(()); }
            _ = hup.recv() => {
                let own = crate::own_addresses::list().await;
                reload_settings(settings_path, &own, settings_tx, bgp.as_deref_mut());
            }
        }
    }
}

/// SIGHUP: checks the whole file first (an invalid one, `[bgp]` included, or managed ranges
/// holding one of `own` addresses, changes nothing), then publishes it and hands
/// `[bgp.policy]` to the announcer.
fn reload_settings(
    path: Option<&Path>,
    own: &Result<Vec<(String, std::net::IpAddr)>, crate::own_addresses::OwnAddressError>,
    tx: &watch::Sender<Arc<Settings>>,
    bgp: Option<&mut crate::bgp::BgpAnnouncer>,
) {
    let Some(path) = path else {
        info!("SIGHUP: no settings file to reload");
        return;
    };
    match load_settings(Some(path)).and_then(|s| {
        s.require_managed_ranges()
            .map_err(|e| UsageError::Refused(chain(&e)))?;
        let own = own.as_ref().map_err(|e| UsageError::Refused(chain(e)))?;
        crate::own_addresses::refuse(&s, own)?;
        let bgp_config = crate::bgp::check_settings(&s.bgp)?;
        Ok((s, bgp_config))
    }) {
        Ok((mut settings, bgp_config)) => {
            let old = tx.borrow().clone();
            let mut restart = Vec::new();
            if old.exec_checks != settings.exec_checks {
                // The checker's sandbox is fixed at start; the ConfigMap must be judged by the
                // same rules as the programs are run by.
                settings.exec_checks = old.exec_checks.clone();
                restart.push("[exec_checks]");
            }
            if old.listen_address != settings.listen_address {
                restart.push("listen_address");
            }
            if old.kubernetes != settings.kubernetes {
                restart.push("[kubernetes]");
            }
            if old.http != settings.http {
                restart.push("[http]");
            }
            if old.bgp != settings.bgp {
                restart.extend(reload_bgp(bgp, bgp_config));
            }
            for what in restart {
                warn!(
                    setting = what,
                    "SIGHUP: this setting changed but needs a restart"
                );
            }
            info!(file = %path.display(), "SIGHUP: settings reloaded");
            tx.send_replace(Arc::new(settings));
        }
        Err(e) => warn!(error = %e, "SIGHUP: invalid settings, keeping the old ones"),
    }
}

/// Applies a changed `[bgp]` as far as a running daemon can; returns what needs a restart.
fn reload_bgp(
    bgp: Option<&mut crate::bgp::BgpAnnouncer>,
    config: Option<crate::bgp::BgpConfig>,
) -> Vec<&'static str> {
    use crate::bgp::BgpReload;
    let Some(bgp) = bgp else {
        return vec!["[bgp] (the announcer is not running)"];
    };
    match bgp.reload(config) {
        BgpReload::Unchanged => Vec::new(),
        BgpReload::PolicyApplied => {
            info!("SIGHUP: new [bgp.policy] handed to the announcer");
            Vec::new()
        }
        BgpReload::NeedsRestart(keys) => keys,
    }
}

/// The IPVS collector's tuning, following the settings' `[metrics]` section across SIGHUPs.
fn follow_collector_options(
    mut settings: watch::Receiver<Arc<Settings>>,
) -> watch::Receiver<IpvsCollectorOptions> {
    let (tx, rx) = watch::channel(collector_options(&settings.borrow_and_update().metrics));
    tokio::spawn(async move {
        while settings.changed().await.is_ok() {
            let options = collector_options(&settings.borrow_and_update().metrics);
            tx.send_if_modified(|current| std::mem::replace(current, options) != options);
        }
    });
    rx
}

/// The IPVS collector's tuning from the settings' `[metrics]` section.
fn collector_options(metrics: &MetricsSettings) -> IpvsCollectorOptions {
    IpvsCollectorOptions {
        max_snapshot_age: Duration::from_millis(metrics.max_snapshot_age_ms),
        endpoint_level: metrics.endpoint_level,
        endpoint_rates: metrics.endpoint_rates,
        offset_retention: Duration::from_secs(metrics.offset_retention_secs),
    }
}

/// Runs the health checks of the desired state's real servers and feeds their verdicts back
/// into the daemon's loop: a failing real server is quiesced (weight 0) on the next pass and
/// restored when it recovers.
fn spawn_health_checks(
    outputs: &DaemonOutputs,
    settings: &Settings,
    metrics: &Metrics,
    health_tx: watch::Sender<Arc<lb_config::HealthResults>>,
    exec: ExecPolicy,
) {
    let (mut verdicts, _checker) = crate::health::spawn_health_checker(
        outputs.desired.clone(),
        settings.health_check,
        metrics.controller.clone(),
        exec,
    );
    tokio::spawn(async move {
        while verdicts.changed().await.is_ok() {
            let results = Arc::new(verdicts.borrow_and_update().clone());
            if health_tx.send(results).is_err() {
                break;
            }
        }
    });
}
