//! The tokio driver: one task per peer (see `peer`), a listener for passive peers, and the
//! [`SpeakerHandle`] the daemon holds. This is the only module that touches sockets, timers
//! or the clock; all BGP decisions are made by [`crate::fsm::Session`].
//!
//! Announcements are published through a `watch` channel, so peers always converge on the
//! latest set (intermediate sets may be skipped, never reordered) and a change never resets
//! a session.

// The tokio driver is the announcer's I/O room (see clippy.toml): sockets, TCP-MD5 and the
// clock; the codec and the session state machine it drives stay pure.
#![allow(clippy::disallowed_methods)]

mod listener;
mod md5;
mod peer;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::codec::Community;
use crate::config::{Announcements, GracefulShutdownConfig, SpeakerConfig};
use crate::error::SpeakerError;
use crate::fsm::{Session, SessionConfig};
use crate::status::PeerStatus;

pub use self::md5::MD5_MAX_KEY_LEN;
use self::peer::{PeerChannels, PeerCommand};

/// How long `shutdown` waits for each peer to finish writing its withdrawals and Cease.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Entry point: `Speaker::start(config).await?` returns the handle.
#[derive(Debug)]
pub struct Speaker;

/// How a shutdown leaves the routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Withdraw every route (after tagging GRACEFUL_SHUTDOWN if configured), then Cease:
    /// routers move traffic to other directors. For SIGTERM and maintenance.
    Withdraw,
    /// Close without NOTIFICATION: peers acting as graceful restart helpers keep our routes
    /// for the restart time while IPVS keeps forwarding. For a restart of the controller.
    GracefulRestart,
}

struct PeerEntry {
    address: IpAddr,
    commands: mpsc::Sender<PeerCommand>,
    status: Arc<Mutex<PeerStatus>>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Wanted {
    routes: Announcements,
    withdrawn_all: bool,
}

/// What the daemon holds: set announcements, withdraw them all, read status, shut down.
pub struct SpeakerHandle {
    published: watch::Sender<Arc<Announcements>>,
    wanted: Mutex<Wanted>,
    peers: Vec<PeerEntry>,
    listener: Option<JoinHandle<()>>,
    shutdown_config: GracefulShutdownConfig,
}

impl std::fmt::Debug for SpeakerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerHandle")
            .field(
                "peers",
                &self.peers.iter().map(|p| p.address).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Speaker {
    /// Validates `config`, binds the listener (if a peer is passive) and starts one task per
    /// peer. Must be called inside a tokio runtime. Nothing is announced until
    /// [`SpeakerHandle::set_announcements`].
    pub async fn start(config: SpeakerConfig) -> Result<SpeakerHandle, SpeakerError> {
        config.validate()?;
        let (published, routes_rx) = watch::channel(Arc::new(Announcements::new()));
        let passive: Vec<_> = config.peers.iter().filter(|p| p.passive).collect();
        let listener = if passive.is_empty() {
            None
        } else {
            let address = config
                .listen
                .unwrap_or(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 179));
            Some(listener::bind(address, &passive)?)
        };
        let mut incoming_routes = BTreeMap::new();
        let mut peers = Vec::new();
        for peer_config in &config.peers {
            let session = Session::new(SessionConfig::new(&config, peer_config));
            let status = Arc::new(Mutex::new(PeerStatus::of(peer_config.address, &session)));
            let (commands_tx, commands_rx) = mpsc::channel(4);
            let (incoming_tx, incoming_rx) = mpsc::channel(4);
            if peer_config.passive {
                incoming_routes.insert(peer_config.address, incoming_tx);
            }
            let channels = PeerChannels {
                routes: routes_rx.clone(),
                commands: commands_rx,
                incoming: incoming_rx,
                status: Arc::clone(&status),
            };
            let task = tokio::spawn(peer::run_peer(peer_config.clone(), session, channels));
            peers.push(PeerEntry {
                address: peer_config.address,
                commands: commands_tx,
                status,
                task,
            });
        }
        let listener = listener.map(|l| tokio::spawn(listener::accept_loop(l, incoming_routes)));
        tracing::info!(
            peers = peers.len(),
            local_as = config.local_as,
            "BGP speaker started"
        );
        Ok(SpeakerHandle {
            published,
            wanted: Mutex::new(Wanted::default()),
            peers,
            listener,
            shutdown_config: config.graceful_shutdown,
        })
    }
}

// === impl SpeakerHandle ===

impl SpeakerHandle {
    /// Replaces the announced set; established sessions get incremental UPDATEs at once.
    /// While everything is withdrawn the set is remembered and announced when that ends.
    pub fn set_announcements(&self, routes: Announcements) {
        let mut wanted = self.lock_wanted();
        wanted.routes = routes;
        self.publish(&wanted);
    }

    /// For maintenance: `true` withdraws every route (sessions stay up), `false` announces
    /// the current set again.
    pub fn withdraw_all(&self, withdrawn: bool) {
        let mut wanted = self.lock_wanted();
        wanted.withdrawn_all = withdrawn;
        self.publish(&wanted);
    }

    /// Whether every route is withdrawn ([`SpeakerHandle::withdraw_all`]).
    pub fn is_withdrawn_all(&self) -> bool {
        self.lock_wanted().withdrawn_all
    }

    /// One entry per configured peer, in configuration order.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .map(|p| {
                p.status
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            })
            .collect()
    }

    /// Withdraws everything and closes all sessions with Cease (see [`ShutdownMode`]).
    pub async fn shutdown(self) {
        self.shutdown_with(ShutdownMode::Withdraw).await;
    }

    /// Shuts down in the given mode and waits (bounded) until every peer task has finished.
    pub async fn shutdown_with(self, mode: ShutdownMode) {
        if mode == ShutdownMode::Withdraw && self.shutdown_config.tag_community {
            let tagged = Arc::clone(&self.published.borrow());
            if !tagged.is_empty() {
                let tagged: Announcements = tagged
                    .iter()
                    .map(|(net, attrs)| {
                        let mut attrs = attrs.clone();
                        attrs.communities.insert(Community::GRACEFUL_SHUTDOWN);
                        (*net, attrs)
                    })
                    .collect();
                self.published.send_replace(Arc::new(tagged));
                tracing::info!(
                    wait_ms = self.shutdown_config.wait_ms,
                    "tagged routes GRACEFUL_SHUTDOWN"
                );
                tokio::time::sleep(Duration::from_millis(self.shutdown_config.wait_ms)).await;
            }
        }
        let mut waits = Vec::new();
        for peer in &self.peers {
            let (tx, rx) = oneshot::channel();
            let command = match mode {
                ShutdownMode::Withdraw => PeerCommand::Shutdown(tx),
                ShutdownMode::GracefulRestart => PeerCommand::DropForRestart(tx),
            };
            if peer.commands.send(command).await.is_ok() {
                waits.push((peer.address, rx));
            }
        }
        for (address, rx) in waits {
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, rx).await.is_err() {
                tracing::warn!(peer = %address, "BGP peer did not finish shutting down in time");
            }
        }
        for peer in &self.peers {
            peer.task.abort();
        }
        if let Some(listener) = &self.listener {
            listener.abort();
        }
        tracing::info!(?mode, "BGP speaker stopped");
    }

    fn lock_wanted(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, wanted: &Wanted) {
        let effective = if wanted.withdrawn_all {
            Announcements::new()
        } else {
            wanted.routes.clone()
        };
        self.published.send_if_modified(|current| {
            if **current == effective {
                false
            } else {
                *current = Arc::new(effective);
                true
            }
        });
    }
}

impl Drop for SpeakerHandle {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}
