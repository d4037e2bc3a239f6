//! BGP-4 message codec, written for this crate (see the crate docs for why not a library).
//!
//! Contract: pure (no I/O, no clock, no panics on any input). `frame_length` checks a header
//! and says how long the message is; `decode` turns one complete frame into a [`Message`] or
//! a [`DecodeError`] that maps to exactly one NOTIFICATION (`Notification::from(&err)`);
//! `encode` is the inverse and refuses to build a message longer than 4096 octets.

mod attributes;
mod community;
mod error;
mod nlri;
mod notification;
mod open;
mod update;

#[cfg(test)]
mod tests;

use thiserror::Error;

pub use self::attributes::{
    AFI_IPV4, AFI_IPV6, AS_TRANS, AsSegment, MpReach, MpUnreach, Origin, PathAttribute,
    SAFI_UNICAST, SegmentKind, type_code,
};
pub use self::community::{Community, CommunityParseError, LargeCommunity};
pub use self::error::{DecodeError, HeaderError, OpenError, UpdateError};
pub use self::notification::{
    CEASE, FSM_ERROR, HOLD_TIMER_EXPIRED, MESSAGE_HEADER_ERROR, Notification, OPEN_MESSAGE_ERROR,
    ROUTE_REFRESH_MESSAGE_ERROR, UPDATE_MESSAGE_ERROR, cease, fsm,
};
pub use self::open::{Capability, GracefulRestart, GracefulRestartFamily, Open};
pub use self::update::{DiscardedAttribute, Update};

pub(crate) use self::nlri::{canonical as canonical_prefix, encoded_len as prefix_encoded_len};
pub(crate) use self::open::encode_capability as encode_capability_into;

/// Octets in the fixed header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Largest message without the extended message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;

const TYPE_OPEN: u8 = 1;
const TYPE_UPDATE: u8 = 2;
const TYPE_NOTIFICATION: u8 = 3;
const TYPE_KEEPALIVE: u8 = 4;
const TYPE_ROUTE_REFRESH: u8 = 5;

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918) for one family.
    RouteRefresh {
        /// Address family.
        afi: u16,
        /// Subsequent address family.
        safi: u8,
    },
}

impl Message {
    /// Short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh { .. } => "ROUTE-REFRESH",
        }
    }
}

/// A message we were asked to encode does not fit in 4096 octets (a bug in the caller).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} message of {length} octets exceeds the 4096-octet limit")]
pub struct EncodeError {
    /// Message type name.
    pub kind: &'static str,
    /// The length it would have had.
    pub length: usize,
}

/// Checks the header at the start of `buf`. `Ok(None)`: fewer than 19 octets buffered;
/// `Ok(Some(n))`: the message is `n` octets long (it may not be fully buffered yet).
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    if header[..16].iter().any(|&b| b != 0xFF) {
        return Err(HeaderError::ConnectionNotSynchronized.into());
    }
    let length = u16::from_be_bytes([header[16], header[17]]);
    let kind = header[18];
    let len = usize::from(length);
    let bad_length = || DecodeError::Header(HeaderError::BadMessageLength { length });
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
        return Err(bad_length());
    }
    let ok = match kind {
        TYPE_OPEN => len >= 29,
        TYPE_UPDATE => len >= 23,
        TYPE_NOTIFICATION => len >= 21,
        TYPE_KEEPALIVE => len == HEADER_LEN,
        TYPE_ROUTE_REFRESH => {
            if len != 23 {
                return Err(DecodeError::RouteRefreshLength { length });
            }
            true
        }
        _ => return Err(HeaderError::BadMessageType { kind }.into()),
    };
    if ok { Ok(Some(len)) } else { Err(bad_length()) }
}

/// Decodes one complete frame (header included). `four_octet_as`: both sides announced the
/// 4-octet AS capability, so AS_PATH carries 4-octet AS numbers.
pub fn decode(frame: &[u8], four_octet_as: bool) -> Result<Message, DecodeError> {
    let len = frame_length(frame)?.unwrap_or(HEADER_LEN);
    if frame.len() != len {
        let length = u16::try_from(frame.len()).unwrap_or(u16::MAX);
        return Err(HeaderError::BadMessageLength { length }.into());
    }
    let body = &frame[HEADER_LEN..];
    match frame[18] {
        TYPE_OPEN => Ok(Message::Open(Open::decode_body(body)?)),
        TYPE_UPDATE => Ok(Message::Update(Update::decode_body(body, four_octet_as)?)),
        TYPE_NOTIFICATION => Notification::decode_body(body)
            .map(Message::Notification)
            .ok_or_else(|| {
                let length = u16::try_from(len).unwrap_or(u16::MAX);
                HeaderError::BadMessageLength { length }.into()
            }),
        TYPE_KEEPALIVE => Ok(Message::Keepalive),
        TYPE_ROUTE_REFRESH => Ok(Message::RouteRefresh {
            afi: u16::from_be_bytes([body[0], body[1]]),
            safi: body[3],
        }),
        kind => Err(HeaderError::BadMessageType { kind }.into()),
    }
}

/// Encodes a message with its header.
pub fn encode(message: &Message, four_octet_as: bool) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0xFF; 16];
    out.extend_from_slice(&[0, 0]);
    match message {
        Message::Open(open) => {
            out.push(TYPE_OPEN);
            open.encode_body(&mut out);
        }
        Message::Update(update) => {
            out.push(TYPE_UPDATE);
            update.encode_body(four_octet_as, &mut out);
        }
        Message::Notification(n) => {
            out.push(TYPE_NOTIFICATION);
            n.encode_body(&mut out);
        }
        Message::Keepalive => {
            out.push(TYPE_KEEPALIVE);
        }
        Message::RouteRefresh { afi, safi } => {
            out.push(TYPE_ROUTE_REFRESH);
            out.extend_from_slice(&afi.to_be_bytes());
            out.extend_from_slice(&[0, *safi]);
        }
    }
    let length = u16::try_from(out.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_MESSAGE_LEN)
        .ok_or(EncodeError {
            kind: message.kind(),
            length: out.len(),
        })?;
    out[16..18].copy_from_slice(&length.to_be_bytes());
    Ok(out)
}

/// Encoded size of an UPDATE body without NLRI, used to pack prefixes under 4096 octets.
pub(crate) fn update_overhead(update: &Update, four_octet_as: bool) -> usize {
    let mut body = Vec::new();
    update.encode_body(four_octet_as, &mut body);
    HEADER_LEN + body.len()
}
