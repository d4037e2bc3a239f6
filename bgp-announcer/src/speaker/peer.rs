//! One tokio task per peer: owns the TCP connection and the session's timers, feeds the
//! session its inputs and carries out its outputs. No BGP logic lives here.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};

use crate::codec::Notification;
use crate::config::{Announcements, PeerConfig};
use crate::fsm::{Output, Session, State};
use crate::status::PeerStatus;

use super::md5;

/// Longest a TCP connect may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a single write may block (peer not reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Admin requests from the handle.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    /// Withdraw everything, send Cease, close and end the task.
    Shutdown(oneshot::Sender<()>),
    /// Close without NOTIFICATION (graceful restart) and end the task.
    DropForRestart(oneshot::Sender<()>),
}

/// The channels one peer task runs on.
pub(crate) struct PeerChannels {
    pub(crate) routes: watch::Receiver<Arc<Announcements>>,
    pub(crate) commands: mpsc::Receiver<PeerCommand>,
    pub(crate) incoming: mpsc::Receiver<TcpStream>,
    pub(crate) status: Arc<Mutex<PeerStatus>>,
}

type ConnectFuture = std::pin::Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

struct Connection {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
}

/// Runs the peer until a shutdown command (or until the handle is dropped).
pub(crate) async fn run_peer(peer: PeerConfig, mut session: Session, mut ch: PeerChannels) {
    let address = peer.address;
    let mut conn: Option<Connection> = None;
    let mut connecting: Option<ConnectFuture> = None;
    let mut reply: Option<oneshot::Sender<()>> = None;
    let mut read_buf = vec![0u8; 8192];
    let initial = Arc::clone(&ch.routes.borrow_and_update());
    session.set_routes(initial, now());
    session.start(now());
    loop {
        carry_out(&peer, &mut session, &mut conn, &mut connecting).await;
        publish_status(&ch.status, address, &session);
        if let Some(done) = reply.take() {
            let _ = done.send(());
            return;
        }
        let deadline = session.poll_timeout().map(Instant::from_std);
        tokio::select! {
            () = sleep_or_pending(deadline) => session.handle_timeout(now()),
            read = read_or_pending(&mut conn, &mut read_buf) => match read {
                Ok(0) => session.handle_closed("the peer closed the connection".to_owned(), now()),
                Ok(n) => session.handle_bytes(&read_buf[..n], now()),
                Err(err) => session.handle_closed(format!("read failed: {err}"), now()),
            },
            result = connect_or_pending(&mut connecting) => {
                connecting = None;
                match result {
                    Ok(stream) => attach(&mut session, &mut conn, stream),
                    Err(err) => session.handle_connect_failed(explain_connect_error(&peer, &err), now()),
                }
            }
            changed = ch.routes.changed() => match changed {
                Ok(()) => {
                    let routes = Arc::clone(&ch.routes.borrow_and_update());
                    session.set_routes(routes, now());
                }
                // The handle is gone without a shutdown: treat it like a restart.
                Err(_) => {
                    session.drop_for_restart();
                    carry_out(&peer, &mut session, &mut conn, &mut connecting).await;
                    publish_status(&ch.status, address, &session);
                    return;
                }
            },
            Some(command) = ch.commands.recv() => match command {
                PeerCommand::Shutdown(done) => {
                    session.set_routes(Arc::new(Announcements::new()), now());
                    session.stop(Notification::admin_shutdown(), now());
                    reply = Some(done);
                }
                PeerCommand::DropForRestart(done) => {
                    session.drop_for_restart();
                    reply = Some(done);
                }
            },
            Some(stream) = ch.incoming.recv() => {
                tracing::info!(peer = %address, "accepted connection from passive peer");
                conn = None;
                attach(&mut session, &mut conn, stream);
            }
        }
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn attach(session: &mut Session, conn: &mut Option<Connection>, stream: TcpStream) {
    let local = stream.local_addr().map(|a| a.ip().to_canonical());
    let _ = stream.set_nodelay(true);
    match local {
        Ok(local) => {
            let (reader, writer) = stream.into_split();
            *conn = Some(Connection { reader, writer });
            session.handle_connected(local, now());
        }
        Err(err) => session.handle_connect_failed(format!("no local address: {err}"), now()),
    }
}

/// Executes the session's outputs in order.
async fn carry_out(
    peer: &PeerConfig,
    session: &mut Session,
    conn: &mut Option<Connection>,
    connecting: &mut Option<ConnectFuture>,
) {
    while let Some(output) = session.poll_output() {
        match output {
            Output::Connect => *connecting = Some(Box::pin(connect(peer.clone()))),
            Output::Send(bytes) => {
                let Some(c) = conn.as_mut() else { continue };
                let written = timeout(WRITE_TIMEOUT, c.writer.write_all(&bytes)).await;
                let err = match written {
                    Ok(Ok(())) => continue,
                    Ok(Err(err)) => format!("write failed: {err}"),
                    Err(_) => "write timed out: the peer is not reading".to_owned(),
                };
                *conn = None;
                session.handle_closed(err, now());
            }
            Output::Close => {
                if let Some(mut c) = conn.take() {
                    let _ = timeout(Duration::from_secs(1), c.writer.shutdown()).await;
                }
                *connecting = None;
            }
            Output::StateChanged { from, to } => {
                if to == State::Established {
                    tracing::info!(peer = %peer.address, from = from.as_str(), "BGP session established");
                } else {
                    tracing::debug!(peer = %peer.address, from = from.as_str(), to = to.as_str(), "BGP state change");
                }
            }
            Output::Down(reason) => {
                tracing::warn!(peer = %peer.address, reason = %reason, "BGP session down");
            }
            Output::UpdateIgnored(err) => {
                tracing::warn!(peer = %peer.address, error = %err, "ignored malformed UPDATE (RFC 7606)");
            }
        }
    }
}

fn publish_status(status: &Mutex<PeerStatus>, address: IpAddr, session: &Session) {
    let fresh = PeerStatus::of(address, session);
    *status.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
}

async fn connect(peer: PeerConfig) -> io::Result<TcpStream> {
    let remote = SocketAddr::new(peer.address, peer.port);
    let socket = match peer.address {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(local) = peer.local_address {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    if let Some(key) = &peer.md5_password {
        md5::set_md5_key(
            &socket,
            peer.address.is_ipv6(),
            peer.address,
            key.0.as_bytes(),
        )?;
    }
    match timeout(CONNECT_TIMEOUT, socket.connect(remote)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

fn explain_connect_error(peer: &PeerConfig, err: &io::Error) -> String {
    let remote = SocketAddr::new(peer.address, peer.port);
    if peer.md5_password.is_some() && err.kind() == io::ErrorKind::TimedOut {
        format!(
            "connect to {remote} failed: {err} (TCP MD5 is configured for this peer; \
             a key mismatch makes the peer drop our SYNs silently)"
        )
    } else {
        format!("connect to {remote} failed: {err}")
    }
}

async fn sleep_or_pending(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn read_or_pending(conn: &mut Option<Connection>, buf: &mut [u8]) -> io::Result<usize> {
    match conn {
        Some(c) => c.reader.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn connect_or_pending(connecting: &mut Option<ConnectFuture>) -> io::Result<TcpStream> {
    match connecting {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}
