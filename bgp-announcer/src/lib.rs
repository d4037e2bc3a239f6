//! Announce-only BGP speaker: tells routers which VIPs this director serves, following health.
//! Promise: codec, session state machine and policy are pure; only [`speaker`] owns sockets.
//!
//! In detail: everything except [`speaker`] and [`bird::apply`] is pure (no I/O, no clock):
//! [`codec`] (bytes <-> messages), [`fsm`] (one session, time as a parameter), [`policy`]
//! (serving real servers -> prefixes) and [`bird::render`]. [`speaker`] is the thin tokio driver that owns
//! sockets and timers for several peers; the daemon talks to it through [`SpeakerHandle`].
//!
//! Codec choice: we wrote our own (`codec`, ~1 kLOC) instead of wrapping `rustbgpd-wire` or
//! `zettabgp`. Announce-only needs five message types and a handful of attributes, and the
//! deciding requirement is strict decoding that maps every malformed input to the exact RFC
//! 4271 §6 NOTIFICATION code/subcode (with the diagnostic data the RFC asks for).
//! `rustbgpd-wire` reports most body faults as a generic `MalformedField { detail: String }`,
//! so the subcode would have to be guessed from text; its API also changed through 20 minor
//! versions in a few months. `zettabgp` encodes into caller-sized fixed buffers and reports
//! errors as untyped values, and its minor versions broke the API as well. Our codec is
//! property-tested (encode/decode round trips) and has a fuzz target (`fuzz/`,
//! `bgp_decode`).
//!
//! Not implemented: BFD (rely on hold timers, or router-side BFD toward the static next hop),
//! receiving routes (inbound UPDATEs are validated and dropped), extended messages (RFC
//! 8654), enhanced route refresh (RFC 7313), long-lived graceful restart, RFC 8950 IPv4
//! over IPv6 next hops, GTSM.

pub mod bird;
pub mod codec;
pub mod config;
mod error;
pub mod fsm;
pub mod policy;
pub mod speaker;
mod status;

pub use self::codec::{Community, LargeCommunity};
pub use self::config::{
    Announcements, GracefulRestartConfig, GracefulShutdownConfig, Md5Password, PeerConfig,
    RouteAttributes, SpeakerConfig,
};
pub use self::error::{BirdError, ConfigError, SpeakerError};
pub use self::fsm::{DownReason, Output, Session, SessionConfig, State};
pub use self::policy::{AnnouncePolicy, PolicyConfig, PolicyMode, VipServing};
pub use self::speaker::{ShutdownMode, Speaker, SpeakerHandle};
pub use self::status::{HeldBack, PeerStatus};
