//! The IPVS sysctls each forwarding mode needs: what to set, why, and reading/setting them.
//!
//! [`wanted_sysctls`] and [`ownership`] are pure; [`sync`] and [`read_sysctl`] are the I/O
//! (files under a root that is `/proc/sys` in production and a temporary directory in tests).
//! The values are per network namespace (`/proc/sys/net/ipv4/vs/` exists once `ip_vs` is
//! loaded) and shared with any other IPVS user there (kube-proxy in IPVS mode), so lbctl
//! overrides a value it did not set only where its own services need it (see [`ownership`]).
//!
//! - `conntrack`: 1 when some service is SNATed (FullNAT emulation: SNAT needs IPVS to keep
//!   conntrack entries for its connections), else 0 (IPVS untracks its packets: no conntrack
//!   table pressure, and NAT services may be NOTRACKed) - but 0 only over lbctl's own 1.
//! - `expire_nodest_conn` = 1: when a real server is deleted (after draining), its remaining
//!   connections are expired at their next packet instead of black-holing the client.
//! - `expire_quiescent_template` = 1: a real server at weight 0 (draining, unhealthy) loses its
//!   persistence templates, so persistent clients move to a live server.
//! - `conn_reuse_mode` = 1 (reschedule a new connection that reuses the port of an old one), but
//!   0 with `conntrack=1` on kernels before 5.9, where mode 1 dropped the first SYN and cost
//!   clients a 1-second retransmit.
//! - `sloppy_tcp`, `sloppy_sctp` = 1 when `[failover]` asks for them: a director that takes
//!   over a flow from another accepts its mid-connection packets; 0 otherwise, but only over
//!   lbctl's own 1 (see [`failover_sysctls`]).
//! - `sync_version`, `sync_refresh_period` as `[failover.connection_sync]` gives them, and
//!   `sync_threshold` (two numbers, see [`sync_threshold`]).

pub mod ownership;
mod record;
pub mod sync;
mod threshold;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::ownership::{Need, OwnedSysctls, SysctlAction};
pub use self::sync::{SysctlChange, SysctlSync, host_scope, record_path_for};
pub use self::threshold::{ThresholdChange, sync_threshold};
use lb_config::FailoverSettings;
use lb_ipvs_sync::netlink::features::{CONN_REUSE_WITH_CONNTRACK, KernelVersion};

use crate::netfilter::NetfilterError;

/// The directory of the IPVS sysctls below the root.
const IPVS_DIR: &str = "net/ipv4/vs";

/// One IPVS sysctl we want, with the reason an operator sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WantedSysctl {
    /// The name below `net.ipv4.vs.`, e.g. `conntrack`.
    pub name: &'static str,
    /// The value to set.
    pub value: u32,
    /// Whether lbctl's services need it or merely prefer it (see [`ownership`]).
    pub need: Need,
    /// Why.
    pub reason: &'static str,
}

/// The sysctls for a director; `needs_conntrack` comes from
/// [`needs_vs_conntrack`](crate::netfilter::needs_vs_conntrack). An unknown kernel version is
/// assumed to be recent.
pub fn wanted_sysctls(needs_conntrack: bool, kernel: Option<KernelVersion>) -> Vec<WantedSysctl> {
    let old_kernel = kernel.is_some_and(|k| k < CONN_REUSE_WITH_CONNTRACK);
    let (reuse, reuse_need, reuse_reason) = if needs_conntrack && old_kernel {
        (
            0,
            Need::Required,
            "conntrack=1 on a kernel before 5.9: mode 1 would drop reused-port SYNs (1 s delay)",
        )
    } else {
        (
            1,
            Need::Preferred,
            "reschedule new connections that reuse the port of an old one",
        )
    };
    vec![
        WantedSysctl {
            name: "conntrack",
            value: u32::from(needs_conntrack),
            need: if needs_conntrack {
                Need::Required
            } else {
                Need::Preferred
            },
            reason: if needs_conntrack {
                "a FullNAT service is SNATed: IPVS must keep conntrack entries"
            } else {
                "no SNAT: IPVS untracks its packets (less conntrack pressure)"
            },
        },
        WantedSysctl {
            name: "expire_nodest_conn",
            value: 1,
            need: Need::Required,
            reason: "expire connections of deleted real servers instead of black-holing them",
        },
        WantedSysctl {
            name: "expire_quiescent_template",
            value: 1,
            need: Need::Required,
            reason: "persistent clients leave real servers at weight 0",
        },
        WantedSysctl {
            name: "conn_reuse_mode",
            value: reuse,
            need: reuse_need,
            reason: reuse_reason,
        },
    ]
}

/// The sysctls `[failover]` asks for. Turned on, sloppy mode is required (the operator asked
/// for it, whatever someone else set); turned off, 0 is a mere preference, so lbctl undoes its
/// own earlier 1 but never someone else's. The sync daemon's `sync_version` and
/// `sync_refresh_period` are written only when connection sync is on and they are given.
pub fn failover_sysctls(failover: &FailoverSettings) -> Vec<WantedSysctl> {
    let sloppy = |name, on: bool, reason_on| WantedSysctl {
        name,
        value: u32::from(on),
        need: if on { Need::Required } else { Need::Preferred },
        reason: if on {
            reason_on
        } else {
            "[failover] leaves sloppy mode off: only connections seen from their start"
        },
    };
    let mut wanted = vec![
        sloppy(
            "sloppy_tcp",
            failover.sloppy_tcp,
            "[failover] sloppy_tcp: take over TCP flows another director started",
        ),
        sloppy(
            "sloppy_sctp",
            failover.sloppy_sctp,
            "[failover] sloppy_sctp: take over SCTP flows another director started",
        ),
    ];
    let sync = &failover.connection_sync;
    if sync.enabled() {
        let given = [
            (
                "sync_version",
                sync.sync_version,
                "[failover.connection_sync] sync_version",
            ),
            (
                "sync_refresh_period",
                sync.refresh_period_secs,
                "[failover.connection_sync] refresh_period_secs",
            ),
        ];
        wanted.extend(given.into_iter().filter_map(|(name, value, reason)| {
            value.map(|value| WantedSysctl {
                name,
                value,
                need: Need::Required,
                reason,
            })
        }));
    }
    wanted
}

pub(crate) fn path_of(root: &Path, name: &str) -> PathBuf {
    root.join(IPVS_DIR).join(name)
}

/// Reads `net.ipv4.vs.NAME` below `root`.
pub fn read_sysctl(root: &Path, name: &str) -> Result<u32, NetfilterError> {
    read_parsed(root, name, "an integer", |text| text.parse().ok())
}

/// Reads `net.ipv4.vs.NAME` below `root` and parses its trimmed text with `parse`; `expected`
/// names the form in the error.
// The one read of this module (see clippy.toml); the decisions around it are pure.
#[allow(clippy::disallowed_methods)]
pub(crate) fn read_parsed<T>(
    root: &Path,
    name: &str,
    expected: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, NetfilterError> {
    let path = path_of(root, name);
    let text = std::fs::read_to_string(&path).map_err(|cause| NetfilterError::Proc {
        path: path.clone(),
        cause,
    })?;
    parse(text.trim()).ok_or_else(|| NetfilterError::Parse {
        program: path.display().to_string(),
        detail: format!("expected {expected}, found {:?}", text.trim()),
    })
}
