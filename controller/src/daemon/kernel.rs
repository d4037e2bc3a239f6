//! The daemon's handle on the IPVS kernel: one client, used from blocking threads, reconnected
//! after socket errors.
//!
//! Generic over [`IpvsKernel`], so the daemon runs unchanged on the netlink client and on the
//! in-memory fake. The client is synchronous: every use runs in `spawn_blocking` under a mutex,
//! so a sync and a `/status` dump never interleave on the socket. The VIP step (rtnetlink, its
//! own socket) follows outside the mutex, in async context.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use lb_director::sync::{PassInput, PassOutcome, ReadMode, sync_director};
use lb_ipvs_sync::reconcile::SyncError;
use lb_ipvs_sync::{IpvsError, IpvsKernel};
use thiserror::Error;
use tracing::warn;

use lb_director::sync::{VipOutcome, sync_vips_after};

/// Opens a kernel client (the netlink socket, or a fake).
pub type Connect<K> = Arc<dyn Fn() -> Result<K, IpvsError> + Send + Sync>;

/// A kernel operation of the daemon failed.
#[derive(Debug, Error)]
pub(crate) enum KernelError {
    /// Opening the client failed (module not loaded, no permission).
    #[error("cannot open IPVS: {0}")]
    Connect(IpvsError),
    /// The sync pass could not start (its dump failed): nothing was written.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The blocking task died.
    #[error("kernel task failed: {0}")]
    Task(tokio::task::JoinError),
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

/// What one sync of the daemon did: the director's pass, then the VIP step.
pub(crate) struct SyncOutcome {
    /// The pass (its step errors include the VIP step's).
    pub(crate) pass: PassOutcome,
    /// The VIP step; `None` when VIPs are not managed or the table after the pass is unknown.
    pub(crate) vips: Option<VipOutcome>,
}

impl SyncOutcome {
    /// The wanted VIPs known to be on the interface (`None`: VIPs not managed, or the table
    /// after the pass is unknown): the BGP announce gate's input.
    pub(crate) fn vips_confirmed(&self) -> Option<&BTreeSet<IpAddr>> {
        self.vips.as_ref().map(|v| &v.confirmed)
    }

    /// The VIPs on the interface after the pass, when known to be right.
    pub(crate) fn vips_on_interface(&self) -> Option<BTreeSet<IpAddr>> {
        self.vips.as_ref().and_then(|v| v.on_interface.clone())
    }
}

/// The shared kernel client.
pub struct KernelSlot<K> {
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
    pub fn new(connect: Connect<K>) -> Self {
        KernelSlot {
            kernel: Arc::new(Mutex::new(None)),
            connect,
        }
    }

    /// A slot that starts with `kernel` (tests: a fake whose table they inspect).
    #[cfg(any(test, feature = "test-util"))]
    pub fn with_kernel(kernel: K, connect: Connect<K>) -> Self {
        KernelSlot {
            kernel: Arc::new(Mutex::new(Some(kernel))),
            connect,
        }
    }

    /// Runs `f` on the kernel (tests inspect the fake's table with it).
    #[cfg(any(test, feature = "test-util"))]
    pub fn inspect<R>(&self, f: impl FnOnce(&mut K) -> R) -> Option<R> {
        let mut guard = self.kernel.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().map(f)
    }

    /// Runs one pass of the director on a blocking thread, then the VIP step on
    /// `vip_interface` (when VIPs are managed) back in async context.
    pub(crate) async fn sync(
        &self,
        input: PassInput,
        read: ReadMode,
        vip_interface: Option<String>,
    ) -> Result<SyncOutcome, KernelError> {
        let slot = self.clone();
        let (result, input, read) = tokio::task::spawn_blocking(move || {
            let result = slot.with_kernel_blocking(|kernel| {
                let result = sync_director(kernel, &input, &read);
                let broken = matches!(&result, Err(SyncError::Dump(e)) if is_socket_error(e));
                (result.map_err(KernelError::from), broken)
            });
            (result, input, read)
        })
        .await
        .map_err(KernelError::Task)?;
        let mut pass = result?;
        let vips = match vip_interface {
            Some(interface) => {
                sync_vips_after(&mut pass, &input, &interface, read.last_vips()).await
            }
            None => None,
        };
        Ok(SyncOutcome { pass, vips })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause prints once under `{:#}` (the form logs and `lbctl` use). Fails if the variant
    /// both interpolates its cause and returns it as `source()`.
    #[test]
    fn a_connect_error_prints_its_cause_once() {
        let cause = IpvsError::FamilyNotFound.to_string();
        let text = format!(
            "{:#}",
            anyhow::Error::new(KernelError::Connect(IpvsError::FamilyNotFound))
        );
        assert_eq!(text.matches(&cause).count(), 1, "{text}");
    }
}
