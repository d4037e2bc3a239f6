//! NOTIFICATION messages (RFC 4271 §4.5) and the error codes we send and log.
//!
//! Pure: no I/O. Subcode names follow RFC 4271 §6, RFC 4486 (Cease), RFC 6608 (FSM) and
//! RFC 7313 (ROUTE-REFRESH).

use std::fmt;

/// Error code 1: Message Header Error.
pub const MESSAGE_HEADER_ERROR: u8 = 1;
/// Error code 2: OPEN Message Error.
pub const OPEN_MESSAGE_ERROR: u8 = 2;
/// Error code 3: UPDATE Message Error.
pub const UPDATE_MESSAGE_ERROR: u8 = 3;
/// Error code 4: Hold Timer Expired.
pub const HOLD_TIMER_EXPIRED: u8 = 4;
/// Error code 5: Finite State Machine Error.
pub const FSM_ERROR: u8 = 5;
/// Error code 6: Cease.
pub const CEASE: u8 = 6;
/// Error code 7: ROUTE-REFRESH Message Error (RFC 7313).
pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;

/// Cease subcodes (RFC 4486 §4) we send; named so logs and tests say what happened.
pub mod cease {
    /// The operator shut the session down (our `shutdown()`).
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// The peer was removed from the configuration.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// The operator reset the session.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// A connection we did not want (unknown peer, or we are active-only).
    pub const CONNECTION_REJECTED: u8 = 5;
    /// A configuration change that cannot be applied to a live session (e.g. our AS changed).
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
}

/// FSM error subcodes (RFC 6608 §4): which state received the unexpected message.
pub mod fsm {
    /// Unspecified.
    pub const UNSPECIFIED: u8 = 0;
    /// Unexpected message in OpenSent.
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    /// Unexpected message in OpenConfirm.
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    /// Unexpected message in Established.
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// A NOTIFICATION: the last word of a session, sent or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code (1..=7 are defined).
    pub code: u8,
    /// Error subcode; meaning depends on `code`.
    pub subcode: u8,
    /// Diagnostic data (e.g. the bad length, the offending attribute).
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without diagnostic data.
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// A NOTIFICATION carrying diagnostic data.
    pub fn with_data(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease/Administrative Shutdown: what a clean `shutdown()` sends.
    pub fn admin_shutdown() -> Self {
        Notification::new(CEASE, cease::ADMINISTRATIVE_SHUTDOWN)
    }

    /// Hold Timer Expired (4/0).
    pub fn hold_timer_expired() -> Self {
        Notification::new(HOLD_TIMER_EXPIRED, 0)
    }

    /// Decodes the body of a NOTIFICATION (after the 19-byte header).
    pub(crate) fn decode_body(body: &[u8]) -> Option<Self> {
        let (&code, rest) = body.split_first()?;
        let (&subcode, data) = rest.split_first()?;
        Some(Notification::with_data(code, subcode, data.to_vec()))
    }

    /// Appends the body (code, subcode, data).
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }

    /// The RFC name of the code/subcode pair, for logs and status.
    pub fn description(&self) -> &'static str {
        match (self.code, self.subcode) {
            (1, 1) => "message header error: connection not synchronized",
            (1, 2) => "message header error: bad message length",
            (1, 3) => "message header error: bad message type",
            (1, _) => "message header error",
            (2, 1) => "OPEN error: unsupported version number",
            (2, 2) => "OPEN error: bad peer AS",
            (2, 3) => "OPEN error: bad BGP identifier",
            (2, 4) => "OPEN error: unsupported optional parameter",
            (2, 6) => "OPEN error: unacceptable hold time",
            (2, 7) => "OPEN error: unsupported capability",
            (2, _) => "OPEN error",
            (3, 1) => "UPDATE error: malformed attribute list",
            (3, 2) => "UPDATE error: unrecognized well-known attribute",
            (3, 3) => "UPDATE error: missing well-known attribute",
            (3, 4) => "UPDATE error: attribute flags error",
            (3, 5) => "UPDATE error: attribute length error",
            (3, 6) => "UPDATE error: invalid ORIGIN attribute",
            (3, 8) => "UPDATE error: invalid NEXT_HOP attribute",
            (3, 9) => "UPDATE error: optional attribute error",
            (3, 10) => "UPDATE error: invalid network field",
            (3, 11) => "UPDATE error: malformed AS_PATH",
            (3, _) => "UPDATE error",
            (4, _) => "hold timer expired",
            (5, 1) => "FSM error: unexpected message in OpenSent",
            (5, 2) => "FSM error: unexpected message in OpenConfirm",
            (5, 3) => "FSM error: unexpected message in Established",
            (5, _) => "FSM error",
            (6, 1) => "cease: maximum number of prefixes reached",
            (6, 2) => "cease: administrative shutdown",
            (6, 3) => "cease: peer de-configured",
            (6, 4) => "cease: administrative reset",
            (6, 5) => "cease: connection rejected",
            (6, 6) => "cease: other configuration change",
            (6, 7) => "cease: connection collision resolution",
            (6, 8) => "cease: out of resources",
            (6, 9) => "cease: hard reset",
            (6, _) => "cease",
            (7, 1) => "ROUTE-REFRESH error: invalid message length",
            (7, _) => "ROUTE-REFRESH error",
            _ => "unknown error code",
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}/{})", self.description(), self.code, self.subcode)?;
        if !self.data.is_empty() {
            write!(f, " data=")?;
            for byte in &self.data {
                write!(f, "{byte:02x}")?;
            }
        }
        Ok(())
    }
}
