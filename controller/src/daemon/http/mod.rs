//! The daemon's HTTP API, split by trust: read endpoints on TCP (`listen_address`:
//! `/healthz`, `/readyz`, `/status`, `/metrics`), operator actions (`POST /withdraw`) only on a
//! Unix control socket with mode 0600, so reaching the metrics port never lets anyone
//! withdraw routes.
//!
//! HTTP/1.1 on hyper, one task per connection, both listeners capped and timed (see
//! [`serve`]): a flood of idle connections or a slow client costs at most `max_connections`
//! descriptors for at most the header-read or idle timeout, and never stalls the sync loop.

mod control_socket;
mod metrics_route;
mod routes;
mod serve;

#[cfg(test)]
mod metrics_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

pub(crate) use self::control_socket::ControlSocket;
use self::routes::Api;
pub(crate) use self::routes::HttpState;
pub(crate) use self::serve::ServeLimits;

/// Connections served at once on the control socket: a few operators and scripts, kept apart
/// from the TCP cap so that a flood there never locks out `lbctl withdraw`.
const CONTROL_MAX_CONNECTIONS: usize = 16;

/// Binds the TCP listener; returns the bound address (port 0 picks one) and the serving future.
pub(crate) async fn bind(
    address: SocketAddr,
    state: HttpState,
    limits: ServeLimits,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, max_connections = limits.max_connections, "HTTP endpoint listening (read-only)");
    Ok((
        bound,
        serve::serve(listener, Api::Read, state, limits, shutdown),
    ))
}

/// Serves the control socket (bound with [`ControlSocket::bind`]) until `shutdown`; the file
/// is removed when the future ends or is dropped.
pub(crate) fn serve_control(
    socket: ControlSocket,
    state: HttpState,
    limits: ServeLimits,
    shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> {
    let limits = ServeLimits {
        max_connections: CONTROL_MAX_CONNECTIONS,
        ..limits
    };
    serve::serve(socket, Api::Control, state, limits, shutdown)
}
