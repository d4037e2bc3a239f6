//! `lbctl webhook`: the validating admission webhook's flags; the server is
//! `lb_controller::webhook`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use lb_controller::configmap_check::ConfigMapChecks;
use lb_controller::webhook::{GuardedConfigMap, TlsFiles, WebhookConfig, WebhookLimits};

/// Options of `lbctl webhook`.
#[derive(Debug, Args)]
pub(crate) struct WebhookArgs {
    /// HTTPS listen address.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub(crate) listen: SocketAddr,
    /// Server certificate chain (PEM), re-read when it changes on disk.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_cert: PathBuf,
    /// Server private key (PEM), re-read when it changes on disk.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_key: PathBuf,
    /// Settings, to check VIPs against the managed ranges and policies (as `lbctl validate
    /// --settings`); also the default ConfigMap name and namespace ([kubernetes]).
    #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
    pub(crate) settings: Option<PathBuf>,
    /// Namespace of the guarded ConfigMap (default: the settings' kubernetes.namespace).
    #[arg(long, value_name = "NAME")]
    pub(crate) namespace: Option<String>,
    /// Name of the guarded ConfigMap (default: the settings' kubernetes.configmap).
    #[arg(long, value_name = "NAME")]
    pub(crate) configmap: Option<String>,
    /// Largest request body in bytes; larger ones get 413 (the API server caps objects near
    /// 1.5 MiB, and an UPDATE review carries two).
    #[arg(long, value_name = "BYTES", default_value_t = 3 * 1024 * 1024)]
    pub(crate) max_body_bytes: usize,
    /// Seconds for the TLS handshake, the request head and the body, each.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) request_timeout: u64,
    /// Connections served at once (each may buffer up to --max-body-bytes).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub(crate) max_connections: usize,
    /// Seconds between looks at the certificate files (on a handshake).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub(crate) cert_check_interval: u64,
}

/// Runs the webhook until SIGTERM or SIGINT.
pub(crate) fn run(args: &WebhookArgs) -> Result<i32> {
    let checks = ConfigMapChecks::load(args.settings.as_deref(), None)?;
    let kubernetes = &checks.settings().kubernetes;
    let guarded = GuardedConfigMap {
        namespace: args
            .namespace
            .clone()
            .unwrap_or_else(|| kubernetes.namespace.clone()),
        name: args
            .configmap
            .clone()
            .unwrap_or_else(|| kubernetes.configmap.clone()),
    };
    let config = WebhookConfig {
        listen: args.listen,
        tls: TlsFiles {
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
        },
        guarded,
        limits: WebhookLimits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: Duration::from_secs(args.request_timeout.max(1)),
            max_connections: args.max_connections.max(1),
            cert_check_interval: Duration::from_secs(args.cert_check_interval),
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let bound = lb_controller::webhook::bind(config, checks).await?;
        bound.serve(stop_signal()).await;
        Ok(0)
    })
}

/// Completes on SIGTERM or SIGINT (or at once when they cannot be watched).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch SIGTERM/SIGINT: stopping");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
