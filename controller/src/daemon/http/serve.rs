//! The accept loop shared by the TCP listener and the control socket: a connection cap (over
//! it, a new connection is closed at once and counted), exponential backoff on accept errors
//! (EMFILE must not become a busy loop), and per connection hyper with a timer, so the
//! header-read timeout applies, plus an idle timeout.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lb_config::HttpSettings;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::routes::{Api, HttpState, handle};
use crate::activity::{Activity, Tracked};
use crate::log_limit::LogLimiter;

/// First delay after a failed accept; doubled on each further failure.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest delay between accept attempts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this period for refused connections and for accept errors.
const WARN_PERIOD: Duration = Duration::from_secs(10);

/// Per-listener limits, from `[http]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServeLimits {
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// Time to send a complete request head (and the keep-alive wait for the next one).
    pub(crate) header_read_timeout: Duration,
    /// Time without a byte moved before the connection is closed.
    pub(crate) idle_timeout: Duration,
}

impl ServeLimits {
    /// The limits of the TCP listener.
    pub(crate) fn from_settings(http: &HttpSettings) -> Self {
        ServeLimits {
            max_connections: http.max_connections.max(1),
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(http.idle_timeout_secs.max(1)),
        }
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// A process on the control socket, with its credentials when the kernel gave them.
    Local {
        /// Its user id.
        uid: Option<u32>,
        /// Its process id.
        pid: Option<i32>,
        /// Whether it may use the control socket (root or the socket's owner).
        allowed: bool,
    },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(address) => write!(f, "{address}"),
            Peer::Local { uid, pid, .. } => {
                let show = |v: Option<String>| v.unwrap_or_else(|| "?".to_owned());
                write!(
                    f,
                    "local uid {} pid {}",
                    show(uid.map(|u| u.to_string())),
                    show(pid.map(|p| p.to_string()))
                )
            }
        }
    }
}

/// A source of connections (the TCP listener, the control socket, a fake in tests).
pub(super) trait Listener: Send + 'static {
    /// The connection type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Peer)>> + Send;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, Peer)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        Ok((stream, Peer::Tcp(peer)))
    }
}

/// Exponential backoff between failed accepts; a success resets it.
#[derive(Debug)]
pub(super) struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    pub(super) const fn new() -> Self {
        AcceptBackoff {
            next: ACCEPT_BACKOFF_MIN,
        }
    }

    /// The delay before the next attempt after a failure.
    pub(super) fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(ACCEPT_BACKOFF_MAX);
        delay
    }

    fn succeeded(&mut self) {
        self.next = ACCEPT_BACKOFF_MIN;
    }
}

/// Serves `listener` until `shutdown` turns true (or its sender is dropped).
pub(super) async fn serve<L: Listener>(
    listener: L,
    api: Api,
    state: HttpState,
    limits: ServeLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let metrics = state.metrics.http.clone();
    let label = [api.label()];
    let mut backoff = AcceptBackoff::new();
    let mut refused_log = LogLimiter::new(WARN_PERIOD);
    let mut error_log = LogLimiter::new(WARN_PERIOD);
    loop {
        let accepted = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() { break; }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.succeeded();
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    // Counted before the close, so a client that sees the close also sees
                    // the count. Closing at once keeps the descriptors for health probes and BGP.
                    metrics
                        .connections_refused_total
                        .with_label_values(&label)
                        .inc();
                    drop(stream);
                    if let Some(held_back) = refused_log.allow(Instant::now()) {
                        warn!(listener = api.label(), max_connections = limits.max_connections,
                            peer = %peer, refused_since_last_warning = held_back,
                            "HTTP connection refused: too many open connections");
                    }
                    continue;
                };
                let state = state.clone();
                tokio::spawn(connection(stream, peer, api, state, limits, permit));
            }
            Err(e) => {
                let delay = backoff.failed();
                metrics.accept_errors_total.with_label_values(&label).inc();
                if let Some(held_back) = error_log.allow(Instant::now()) {
                    warn!(listener = api.label(), error = %e, retry_in_ms = delay.as_millis() as u64,
                        errors_since_last_warning = held_back, "HTTP accept failed: backing off");
                }
                tokio::select! {
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() { break; }
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    debug!(listener = api.label(), "HTTP listener stopped");
}

/// One connection, holding its permit until it ends.
async fn connection<S>(
    stream: S,
    peer: Peer,
    api: Api,
    state: HttpState,
    limits: ServeLimits,
    _permit: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let open = state
        .metrics
        .http
        .connections_open
        .with_label_values(&[api.label()]);
    open.inc();
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let service_peer = peer.clone();
    let service = service_fn(move |req| handle(state.clone(), api, service_peer.clone(), req));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Half-close: clients such as `nc` shut down their write side right after the
        // request; answer them instead of hanging up.
        .half_close(true);
    tokio::select! {
        served = builder.serve_connection(io, service) => {
            if let Err(e) = served {
                debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
            }
        }
        () = activity.idle_for(limits.idle_timeout) => {
            debug!(peer = %peer, idle_secs = limits.idle_timeout.as_secs(), "HTTP connection idle: closed");
        }
    }
    open.dec();
}
