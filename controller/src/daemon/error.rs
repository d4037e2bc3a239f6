//! Why the daemon did not start or stopped with an error; [`DaemonError::is_usage`] keeps
//! "unusable input" (exit code 64) apart from host failures (exit code 1).

use std::net::SocketAddr;

use crate::bgp::BgpStartError;
use crate::files::UsageError;
use crate::kube::KubeClientError;
use crate::own_addresses::OwnAddressError;
use crate::writer_lock::LockError;

/// A start-up (or fatal run-time) failure of `lbctl run`.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The settings or files cannot be used.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The managed ranges hold this host's addresses, or those cannot be listed.
    #[error(transparent)]
    OwnAddresses(#[from] OwnAddressError),
    /// Another lbctl holds the writer lock.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// No async runtime.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// No Kubernetes client.
    #[error(transparent)]
    Kube(#[from] KubeClientError),
    /// A metrics registry or collector could not be set up; `step` says which.
    #[error("{step}")]
    Metrics {
        /// What was being set up.
        step: &'static str,
        /// prometheus' reason.
        #[source]
        cause: prometheus::Error,
    },
    /// The control socket could not be opened (another daemon, or no permission).
    #[error("cannot open the control socket: {0}")]
    ControlSocket(String),
    /// The BGP announcer did not start.
    #[error(transparent)]
    Bgp(#[from] BgpStartError),
    /// The HTTP listener could not bind.
    #[error("cannot listen on {address}")]
    Listen {
        /// The listen address.
        address: SocketAddr,
        /// The bind failure.
        #[source]
        cause: std::io::Error,
    },
    /// The signal task panicked or was cancelled.
    #[error("signal task failed")]
    SignalTask(#[source] tokio::task::JoinError),
}

impl DaemonError {
    /// Whether the input is at fault (exit code 64) rather than the host (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            DaemonError::Usage(_) => true,
            DaemonError::OwnAddresses(e) => e.is_usage(),
            DaemonError::Kube(e) => e.is_usage(),
            DaemonError::Bgp(BgpStartError::Settings(_)) => true,
            _ => false,
        }
    }
}
