//! The daemon's handle on the IPVS kernel: one client, used from blocking threads, reconnected
//! after socket errors.
//!
//! Generic over [`IpvsKernel`], so the daemon runs unchanged on the netlink client and on the
//! in-memory fake. The client is synchronous: every use runs in `spawn_blocking` under a mutex,
//! so a sync and a `/status` dump never interleave on the socket.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use lb_config::Settings;
use lb_director::netfilter::DirectorRules;
use lb_ipvs_sync::reconcile::{DrainBook, Focus, PlanOptions, Scope, SyncError};
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable};
use thiserror::Error;
use tracing::warn;

use super::view::Target;
use crate::kernel_sync::{
    Incremental, KernelSyncOutcome, KernelSyncRequest, StepError, sync_kernel,
};

/// Opens a kernel client (the netlink socket, or a fake).
pub(crate) type Connect<K> = Arc<dyn Fn() -> Result<K, IpvsError> + Send + Sync>;

/// A kernel operation of the daemon failed.
#[derive(Debug, Error)]
pub(crate) enum KernelError {
    /// Opening the client failed (module not loaded, no permission).
    #[error("cannot open IPVS: {0}")]
    Connect(#[source] IpvsError),
    /// The sync pass could not start (its dump failed): nothing was written.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The blocking task died.
    #[error("kernel task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl KernelError {
    /// Whether the kernel did not answer in time.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            KernelError::Connect(e) | KernelError::Sync(SyncError::Dump(e)) => e.is_timeout(),
            KernelError::Task(_) => false,
        }
    }
}

/// Everything one sync needs, owned (it crosses into a blocking thread).
pub(crate) struct SyncJob {
    /// The IPVS table to reach.
    pub(crate) target: Target,
    /// VIPs of the desired state.
    pub(crate) desired_vips: BTreeSet<IpAddr>,
    /// Managed ranges.
    pub(crate) scope: Scope,
    /// Plan options.
    pub(crate) options: PlanOptions,
    /// Drain deadlines so far.
    pub(crate) drain: DrainBook,
    /// Seconds since the Unix epoch.
    pub(crate) now: u64,
    /// Where to persist the drain book.
    pub(crate) state_file: Option<PathBuf>,
    /// The VIP interface to manage.
    pub(crate) vip_interface: Option<String>,
    /// Netfilter rules and IPVS sysctls to install before the IPVS pass (None in tests that run
    /// on the fake kernel, when netfilter is not managed, or when a focused pass finds the
    /// rules unchanged).
    pub(crate) netfilter: Option<NetfilterJob>,
    /// For a focused pass: the services to read and what the last clean pass left.
    pub(crate) incremental: Option<IncrementalJob>,
}

/// A focused pass's inputs, owned.
pub(crate) struct IncrementalJob {
    /// The services to read, plan and write.
    pub(crate) focus: Focus,
    /// The table after the last clean pass.
    pub(crate) table: Arc<IpvsTable>,
    /// The VIPs on the interface after the last clean pass.
    pub(crate) vips: Option<BTreeSet<IpAddr>>,
}

/// What the netfilter step needs: the settings (backend) and the rules to install.
pub(crate) struct NetfilterJob {
    /// Settings of this pass.
    pub(crate) settings: Settings,
    /// The NOTRACK/SNAT rules of the desired state.
    pub(crate) planned: DirectorRules,
}

/// The shared kernel client.
pub(crate) struct KernelSlot<K> {
    kernel: Arc<Mutex<Option<K>>>,
    connect: Connect<K>,
}

impl<K> Clone for KernelSlot<K> {
    fn clone(&self) -> Self {
        KernelSlot {
            kernel: Arc::clone(&self.kernel),
            connect: Arc::clone(&self.connect),
        }
    }
}

impl<K: IpvsKernel + Send + 'static> KernelSlot<K> {
    /// A slot that connects on first use.
    pub(crate) fn new(connect: Connect<K>) -> Self {
        KernelSlot {
            kernel: Arc::new(Mutex::new(None)),
            connect,
        }
    }

    /// A slot that starts with `kernel` (tests: a fake whose table they inspect).
    #[cfg(test)]
    pub(crate) fn with_kernel(kernel: K, connect: Connect<K>) -> Self {
        KernelSlot {
            kernel: Arc::new(Mutex::new(Some(kernel))),
            connect,
        }
    }

    /// Runs `f` on the kernel (tests inspect the fake's table with it).
    #[cfg(test)]
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&mut K) -> R) -> Option<R> {
        let mut guard = self.kernel.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Runs one sync on a blocking thread.
    pub(crate) async fn sync(&self, job: SyncJob) -> Result<KernelSyncOutcome, KernelError> {
        let slot = self.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            slot.with_kernel_blocking(|kernel| {
                // Netfilter first, as `lbctl apply` does: a FullNAT service's SNAT must exist
                // before its first connection. A failure is reported, but does not hold back
                // the IPVS pass: rules are replaced atomically, so the old ones stay in force,
                // and endpoint changes must still reach the kernel.
                let netfilter = job.netfilter.as_ref().map(|nf| {
                    crate::netfilter_sync::sync_netfilter(
                        &nf.settings,
                        &nf.planned,
                        job.state_file.as_deref(),
                    )
                });
                let request = KernelSyncRequest {
                    target: &job.target,
                    desired_vips: &job.desired_vips,
                    scope: &job.scope,
                    options: &job.options,
                    drain: &job.drain,
                    now: job.now,
                    state_file: job.state_file.as_deref(),
                    vip_interface: job.vip_interface.as_deref(),
                    incremental: job.incremental.as_ref().map(|i| Incremental {
                        focus: &i.focus,
                        table: &i.table,
                        vips: i.vips.as_ref(),
                    }),
                };
                let mut result = handle.block_on(sync_kernel(kernel, &request));
                if let (Ok(outcome), Some(Err(error))) = (&mut result, netfilter) {
                    outcome.step_errors.push(StepError {
                        step: "netfilter",
                        error,
                    });
                }
                let broken = matches!(&result, Err(SyncError::Dump(e)) if is_socket_error(e));
                (result.map_err(KernelError::from), broken)
            })
        })
        .await
        .map_err(KernelError::Task)?
    }

    /// Locks, connects if needed, runs `f`; drops the client when `f` says the socket broke.
    fn with_kernel_blocking<R>(
        &self,
        f: impl FnOnce(&mut K) -> (Result<R, KernelError>, bool),
    ) -> Result<R, KernelError> {
        let mut guard = self.kernel.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = Some((self.connect)().map_err(KernelError::Connect)?);
        }
        let Some(kernel) = guard.as_mut() else {
            return Err(KernelError::Connect(IpvsError::FamilyNotFound));
        };
        let (result, broken) = f(kernel);
        if broken {
            warn!("IPVS socket error: reconnecting on the next use");
            *guard = None;
        }
        result
    }
}

/// Errors after which the socket is not trusted any more (after a timeout the client reopens
/// its socket itself; reconnecting also resolves the family again).
fn is_socket_error(e: &IpvsError) -> bool {
    matches!(
        e,
        IpvsError::Io { .. } | IpvsError::Decode { .. } | IpvsError::Timeout { .. }
    )
}
