//! What the HTTP endpoint shares with the announcer task: the drain switch and the latest
//! BGP status for `/status`. The only I/O is the drain file, which keeps a drain across
//! restarts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use lb_bgp_announcer::PeerStatus;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::drain::DrainState;

/// The `bgp` section of `/status` (also parsed back by `lbctl status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// `speaker` (our own BGP sessions) or `bird` (routes handed to a local BIRD).
    pub mode: String,
    /// `lbctl drain` is in effect: nothing is announced.
    pub draining: bool,
    /// VIPs withdrawn by `lbctl drain --vip` (filled in by [`BgpControl::status`] from the
    /// drain switch).
    #[serde(default)]
    pub drained_vips: Vec<IpAddr>,
    /// Prefixes the policy wants announced (withheld while draining).
    pub announced: Vec<String>,
    /// One entry per configured peer (speaker mode).
    pub peers: Vec<BgpPeerStatus>,
    /// The last failure to hand routes over (BIRD mode: write or reload errors).
    pub last_error: Option<String>,
}

/// One BGP session, as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPeerStatus {
    /// The router's address.
    pub address: IpAddr,
    /// The router's AS.
    pub remote_as: u32,
    /// Session state (`established`, `active`, ...).
    pub state: String,
    /// Prefixes the router has from us.
    pub announced_prefixes: usize,
    /// UPDATE messages sent since the daemon started.
    pub updates_sent: u64,
    /// Times the session came up.
    pub established_count: u64,
    /// Malformed UPDATEs from the router that were ignored (RFC 7606 treat-as-withdraw).
    #[serde(default)]
    pub updates_ignored: u64,
    /// Repeated attributes dropped from the router's UPDATEs (RFC 7606: first kept).
    #[serde(default)]
    pub attributes_discarded: u64,
    /// Why it last went down, if it did.
    pub last_error: Option<String>,
}

impl From<&PeerStatus> for BgpPeerStatus {
    fn from(p: &PeerStatus) -> Self {
        BgpPeerStatus {
            address: p.address,
            remote_as: p.remote_as,
            state: p.state.as_str().to_owned(),
            announced_prefixes: p.announced_prefixes,
            updates_sent: p.updates_sent,
            established_count: p.established_count,
            updates_ignored: p.updates_ignored,
            attributes_discarded: p.attributes_discarded,
            last_error: p.last_error.clone(),
        }
    }
}

/// Shared between the announcer task (writes status, reads the drain switch) and HTTP.
#[derive(Debug)]
pub(crate) struct BgpControl {
    drain: watch::Sender<DrainState>,
    drain_file: PathBuf,
    status: Mutex<BgpStatus>,
}

impl BgpControl {
    /// A control for `mode` with an empty status, drained as `drain_file` says (absent:
    /// nothing; unreadable: everything, so a director under maintenance stays out).
    pub(crate) fn new(mode: &str, drain_file: PathBuf) -> Self {
        let state = match std::fs::read_to_string(&drain_file) {
            Ok(text) => DrainState::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DrainState::default(),
            Err(e) => {
                tracing::warn!(file = %drain_file.display(), error = %e,
                    "cannot read the drain file: draining everything");
                DrainState {
                    all: true,
                    ..DrainState::default()
                }
            }
        };
        BgpControl {
            drain: watch::Sender::new(state),
            drain_file,
            status: Mutex::new(BgpStatus {
                mode: mode.to_owned(),
                ..BgpStatus::default()
            }),
        }
    }

    /// Whether the whole director is drained (also right after startup, from the drain file).
    pub(crate) fn is_draining(&self) -> bool {
        self.drain.borrow().all
    }

    /// The drains in effect.
    pub(crate) fn drain_state(&self) -> DrainState {
        self.drain.borrow().clone()
    }

    /// `lbctl drain` (true) and `lbctl drain --undo` (false, which also ends every per-VIP
    /// drain): the task applies it at once; the error says the drain file could not be
    /// written or removed (the switch holds until the daemon restarts).
    pub(crate) fn set_drain(&self, draining: bool) -> std::io::Result<()> {
        self.change(|state| {
            if draining {
                state.all = true;
            } else {
                *state = DrainState::default();
            }
        })
    }

    /// `lbctl drain --vip VIP` (true) and `lbctl drain --undo --vip VIP` (false).
    pub(crate) fn set_vip_drain(&self, vip: IpAddr, draining: bool) -> std::io::Result<()> {
        self.change(|state| {
            if draining {
                state.vips.insert(vip);
            } else {
                state.vips.remove(&vip);
            }
        })
    }

    fn change(&self, edit: impl FnOnce(&mut DrainState)) -> std::io::Result<()> {
        self.drain.send_modify(edit);
        let state = self.drain_state();
        if state.is_empty() {
            return match std::fs::remove_file(&self.drain_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        lb_director::atomic_file::write_atomically(
            &self.drain_file,
            state.render().as_bytes(),
            0o600,
        )
    }

    /// The switch the announcer task watches.
    pub(crate) fn drain_switch(&self) -> watch::Receiver<DrainState> {
        self.drain.subscribe()
    }

    /// The latest status (as of the task's last update).
    pub(crate) fn status(&self) -> BgpStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        status.drained_vips = self.drain.borrow().vips.iter().copied().collect();
        status
    }

    /// Replaces parts of the status.
    pub(crate) fn update_status(&self, change: impl FnOnce(&mut BgpStatus)) {
        change(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
