//! `lbctl run`: the daemon's flags; the daemon itself is `lb_controller::daemon::run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use lb_controller::daemon::{DaemonOptions, OnDelete};

/// What to do when the watched ConfigMap is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnDeleteArg {
    /// Keep the last good entries and warn (an accidental delete must not take VIPs down).
    Keep,
    /// Treat it as empty (the delete guard still holds back a mass removal without --force).
    Clear,
}

/// Options of `lbctl run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Daemon settings (TOML; managed_vip_ranges is required).
    #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
    pub(crate) settings: Option<PathBuf>,
    /// Run without a cluster: the VIP ConfigMap from this file, reloaded on change.
    #[arg(long, value_name = "FILE")]
    pub(crate) config_file: Option<PathBuf>,
    /// Offline endpoints for --config-file (YAML; docs/endpoints.md), reloaded on change.
    #[arg(long, value_name = "FILE", requires = "config_file")]
    pub(crate) endpoints_file: Option<PathBuf>,
    /// Kubeconfig of the cluster (default: KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(
        long,
        value_name = "FILE",
        env = "KUBECONFIG",
        conflicts_with = "config_file"
    )]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// HTTP listen address (default: the settings' listen_address).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
    /// Unix control socket for `lbctl withdraw` (default: the settings' http.control_socket).
    #[arg(long, value_name = "PATH")]
    pub(crate) control_socket: Option<PathBuf>,
    /// State file: drains, last good ConfigMap keys (default: the settings' state_file).
    #[arg(long, value_name = "FILE")]
    pub(crate) state_file: Option<PathBuf>,
    /// Delete the managed services and VIPs on SIGTERM (default: keep forwarding).
    #[arg(long)]
    pub(crate) cleanup_on_exit: bool,
    /// Skip the delete guard on every sync.
    #[arg(long)]
    pub(crate) force: bool,
    /// Do not manage VIP addresses on the VIP interface.
    #[arg(long)]
    pub(crate) no_vips: bool,
    /// What a deleted ConfigMap means.
    #[arg(long, value_enum, default_value_t = OnDeleteArg::Keep)]
    pub(crate) on_configmap_delete: OnDeleteArg,
    /// Quiet time (ms) after the last change before a sync. A change after this long without
    /// changes or syncs is synced at once; the changes that follow it within this time wait.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    pub(crate) debounce_ms: u64,
    /// Longest delay (ms) from a change to its sync under a steady stream of changes.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) max_delay_ms: u64,
}

/// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
pub(crate) fn run(args: RunArgs) -> Result<i32> {
    Ok(lb_controller::daemon::run(args.into_options())?)
}

impl RunArgs {
    fn into_options(self) -> DaemonOptions {
        DaemonOptions {
            settings: self.settings,
            config_file: self.config_file,
            endpoints_file: self.endpoints_file,
            kubeconfig: self.kubeconfig,
            listen: self.listen,
            control_socket: self.control_socket,
            state_file: self.state_file,
            cleanup_on_exit: self.cleanup_on_exit,
            force: self.force,
            no_vips: self.no_vips,
            on_configmap_delete: match self.on_configmap_delete {
                OnDeleteArg::Keep => OnDelete::Keep,
                OnDeleteArg::Clear => OnDelete::Clear,
            },
            debounce: Duration::from_millis(self.debounce_ms),
            max_delay: Duration::from_millis(self.max_delay_ms),
        }
    }
}
