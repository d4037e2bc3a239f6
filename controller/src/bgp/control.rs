//! What the HTTP endpoint shares with the announcer task: the withdraw switch and the latest
//! BGP status for `/status`. The only I/O is the withdraw file, which keeps a withdrawal across
//! restarts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use lb_bgp_announcer::{HeldBack, PeerStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::withdrawals::Withdrawals;

/// The `bgp` section of `/status` (also parsed back by `lbctl status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// `speaker` (our own BGP sessions) or `bird` (routes handed to a local BIRD).
    pub mode: String,
    /// `lbctl withdraw` is in effect: nothing is announced. The JSON keeps its first name,
    /// `draining`, so scripts that read `/status` go on working.
    #[serde(rename = "draining")]
    pub withdrawn_all: bool,
    /// VIPs withdrawn by `lbctl withdraw --vip` (filled in by `BgpControl::status` from the
    /// withdraw switch). JSON name kept: `drained_vips`.
    #[serde(rename = "drained_vips", default)]
    pub withdrawn_vips: Vec<IpAddr>,
    /// Prefixes the policy wants announced (withheld while everything is withdrawn).
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
    /// VIPs announced by the speaker that this session cannot carry, with the reason.
    #[serde(default)]
    pub held_back: Vec<HeldBack>,
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
            held_back: p.held_back.clone(),
        }
    }
}

/// Shared between the announcer task (writes status, reads the withdraw switch) and HTTP.
#[derive(Debug)]
pub(crate) struct BgpControl {
    withdrawals: watch::Sender<Withdrawals>,
    withdraw_file: PathBuf,
    status: Mutex<BgpStatus>,
}

impl BgpControl {
    /// A control for `mode` with an empty status, withdrawn as `withdraw_file` says (absent:
    /// nothing; unreadable: everything, so a director under maintenance stays out).
    pub(crate) fn new(mode: &str, withdraw_file: PathBuf) -> Self {
        let state = match std::fs::read_to_string(&withdraw_file) {
            Ok(text) => Withdrawals::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Withdrawals::default(),
            Err(e) => {
                tracing::warn!(file = %withdraw_file.display(), error = %e,
                    "cannot read the withdraw file: withdrawing everything");
                Withdrawals {
                    all: true,
                    ..Withdrawals::default()
                }
            }
        };
        BgpControl {
            withdrawals: watch::Sender::new(state),
            withdraw_file,
            status: Mutex::new(BgpStatus {
                mode: mode.to_owned(),
                ..BgpStatus::default()
            }),
        }
    }

    /// Whether every route is withdrawn (also right after startup, from the withdraw file).
    pub(crate) fn is_withdrawn_all(&self) -> bool {
        self.withdrawals.borrow().all
    }

    /// The withdrawals in effect.
    pub(crate) fn withdrawals(&self) -> Withdrawals {
        self.withdrawals.borrow().clone()
    }

    /// `lbctl withdraw` (true) and `lbctl withdraw --undo` (false, which also ends every
    /// per-VIP withdrawal): the task applies it at once; the error says the withdraw file could
    /// not be written or removed (the switch holds until the daemon restarts).
    pub(crate) fn set_withdraw_all(&self, withdrawn: bool) -> std::io::Result<()> {
        self.change(|state| {
            if withdrawn {
                state.all = true;
            } else {
                *state = Withdrawals::default();
            }
        })
    }

    /// `lbctl withdraw --vip VIP` (true) and `lbctl withdraw --undo --vip VIP` (false).
    pub(crate) fn set_vip_withdrawn(&self, vip: IpAddr, withdrawn: bool) -> std::io::Result<()> {
        self.change(|state| {
            if withdrawn {
                state.vips.insert(vip);
            } else {
                state.vips.remove(&vip);
            }
        })
    }

    fn change(&self, edit: impl FnOnce(&mut Withdrawals)) -> std::io::Result<()> {
        self.withdrawals.send_modify(edit);
        let state = self.withdrawals();
        if state.is_empty() {
            return match std::fs::remove_file(&self.withdraw_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        lb_director::atomic_file::write_atomically(
            &self.withdraw_file,
            state.render().as_bytes(),
            0o600,
        )
    }

    /// The switch the announcer task watches.
    pub(crate) fn withdraw_switch(&self) -> watch::Receiver<Withdrawals> {
        self.withdrawals.subscribe()
    }

    /// The latest status (as of the task's last update).
    pub(crate) fn status(&self) -> BgpStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        status.withdrawn_vips = self.withdrawals.borrow().vips.iter().copied().collect();
        status
    }

    /// Replaces parts of the status.
    pub(crate) fn update_status(&self, change: impl FnOnce(&mut BgpStatus)) {
        change(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }
}
