//! Decode errors shaped like the RFC 4271 §6 error table, so every malformed input maps to
//! exactly one NOTIFICATION code/subcode (with the diagnostic data the RFC asks for).
//!
//! Pure: no I/O.

use thiserror::Error;

use super::notification::{
    MESSAGE_HEADER_ERROR, Notification, OPEN_MESSAGE_ERROR, ROUTE_REFRESH_MESSAGE_ERROR,
    UPDATE_MESSAGE_ERROR,
};

/// Any message we could not accept. `Notification::from(&err)` is what we send back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Header problems (code 1).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// OPEN problems (code 2).
    #[error(transparent)]
    Open(#[from] OpenError),
    /// UPDATE problems (code 3).
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// A ROUTE-REFRESH whose length is not 23 octets (RFC 7313 §5: code 7/1).
    #[error("ROUTE-REFRESH with invalid length {length}")]
    RouteRefreshLength {
        /// The length from the header.
        length: u16,
    },
}

/// RFC 4271 §6.1 Message Header Error subcodes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The marker is not 16 x 0xff (subcode 1).
    #[error("connection not synchronized: bad marker")]
    ConnectionNotSynchronized,
    /// Length outside 19..=4096 or wrong for the message type (subcode 2; data = the length).
    #[error("bad message length {length}")]
    BadMessageLength {
        /// The length field as received.
        length: u16,
    },
    /// Unknown message type (subcode 3; data = the type).
    #[error("bad message type {kind}")]
    BadMessageType {
        /// The type octet as received.
        kind: u8,
    },
}

/// RFC 4271 §6.2 OPEN Message Error subcodes (plus RFC 5492 capability errors).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    /// Version is not 4 (subcode 1; data = the highest version we support, 2 octets).
    #[error("unsupported BGP version {version}")]
    UnsupportedVersion {
        /// The version the peer sent.
        version: u8,
    },
    /// The peer's AS is not the configured one (subcode 2).
    #[error("bad peer AS {received} (expected {expected})")]
    BadPeerAs {
        /// The AS the peer announced (from the 4-octet AS capability if present).
        received: u32,
        /// The AS configured for this peer.
        expected: u32,
    },
    /// BGP identifier is 0, or equals ours on an iBGP session (subcode 3).
    #[error("bad BGP identifier {identifier}")]
    BadBgpIdentifier {
        /// The identifier the peer sent.
        identifier: std::net::Ipv4Addr,
    },
    /// An optional parameter other than Capabilities (subcode 4).
    #[error("unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// Hold time 1 or 2 seconds (subcode 6).
    #[error("unacceptable hold time {hold_time}")]
    UnacceptableHoldTime {
        /// The hold time the peer proposed.
        hold_time: u16,
    },
    /// The peer lacks a capability we require (subcode 7; data = the capability we need).
    #[error("peer does not support a required capability")]
    UnsupportedCapability {
        /// The capability TLV(s) the peer did not offer.
        data: Vec<u8>,
    },
    /// Lengths inside the OPEN are inconsistent (subcode 0, unspecific).
    #[error("malformed OPEN: {reason}")]
    Malformed {
        /// What was inconsistent.
        reason: &'static str,
    },
}

/// RFC 4271 §6.3 UPDATE Message Error subcodes. Attribute errors carry the offending
/// attribute (flags, type, length, value) as the RFC asks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpdateError {
    /// Lengths inconsistent, or MP_REACH_NLRI/MP_UNREACH_NLRI appears twice (subcode 1).
    #[error("malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// What was inconsistent.
        reason: &'static str,
    },
    /// The last attribute runs past the Total Path Attribute Length, or fewer octets remain
    /// than an attribute header needs (RFC 7606 §4: the NLRI are still found through the
    /// total length, so this is treat-as-withdraw; subcode 1 when a NOTIFICATION is due).
    #[error("path attribute list overrun: {reason}")]
    AttributeListOverrun {
        /// Type code of the overrunning attribute, when its header got that far.
        type_code: Option<u8>,
        /// What overran.
        reason: &'static str,
    },
    /// A well-known attribute type we do not know (subcode 2).
    #[error("unrecognized well-known attribute type {type_code}")]
    UnrecognizedWellKnownAttribute {
        /// Attribute type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// ORIGIN, AS_PATH or NEXT_HOP missing while NLRI are present (subcode 3; data = type).
    #[error("missing well-known attribute type {type_code}")]
    MissingWellKnownAttribute {
        /// The missing type code.
        type_code: u8,
    },
    /// Flags contradict the attribute type (subcode 4).
    #[error("attribute flags error for type {type_code}")]
    AttributeFlags {
        /// Attribute type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// Length wrong for the attribute type (subcode 5).
    #[error("attribute length error for type {type_code}")]
    AttributeLength {
        /// Attribute type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// ORIGIN value not 0..=2 (subcode 6).
    #[error("invalid ORIGIN")]
    InvalidOrigin {
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// NEXT_HOP is not a usable unicast address (subcode 8).
    #[error("invalid NEXT_HOP")]
    InvalidNextHop {
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// A recognized optional attribute is malformed (subcode 9).
    #[error("optional attribute error for type {type_code}: {reason}")]
    OptionalAttribute {
        /// Attribute type code.
        type_code: u8,
        /// What was wrong.
        reason: &'static str,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// The NLRI field is syntactically wrong (subcode 10).
    #[error("invalid network field")]
    InvalidNetworkField,
    /// AS_PATH is syntactically wrong (subcode 11).
    #[error("malformed AS_PATH")]
    MalformedAsPath,
}

impl From<&DecodeError> for Notification {
    fn from(err: &DecodeError) -> Self {
        match err {
            DecodeError::Header(e) => Notification::from(e),
            DecodeError::Open(e) => Notification::from(e),
            DecodeError::Update(e) => Notification::from(e),
            DecodeError::RouteRefreshLength { length } => Notification::with_data(
                ROUTE_REFRESH_MESSAGE_ERROR,
                1,
                length.to_be_bytes().to_vec(),
            ),
        }
    }
}

impl From<&HeaderError> for Notification {
    fn from(err: &HeaderError) -> Self {
        match err {
            HeaderError::ConnectionNotSynchronized => Notification::new(MESSAGE_HEADER_ERROR, 1),
            HeaderError::BadMessageLength { length } => {
                Notification::with_data(MESSAGE_HEADER_ERROR, 2, length.to_be_bytes().to_vec())
            }
            HeaderError::BadMessageType { kind } => {
                Notification::with_data(MESSAGE_HEADER_ERROR, 3, vec![*kind])
            }
        }
    }
}

impl From<&OpenError> for Notification {
    fn from(err: &OpenError) -> Self {
        let (subcode, data) = match err {
            OpenError::UnsupportedVersion { .. } => (1, 4u16.to_be_bytes().to_vec()),
            OpenError::BadPeerAs { .. } => (2, Vec::new()),
            OpenError::BadBgpIdentifier { .. } => (3, Vec::new()),
            OpenError::UnsupportedOptionalParameter { .. } => (4, Vec::new()),
            OpenError::UnacceptableHoldTime { .. } => (6, Vec::new()),
            OpenError::UnsupportedCapability { data } => (7, data.clone()),
            OpenError::Malformed { .. } => (0, Vec::new()),
        };
        Notification::with_data(OPEN_MESSAGE_ERROR, subcode, data)
    }
}

impl From<&UpdateError> for Notification {
    fn from(err: &UpdateError) -> Self {
        let (subcode, data) = match err {
            UpdateError::MalformedAttributeList { .. }
            | UpdateError::AttributeListOverrun { .. } => (1, Vec::new()),
            UpdateError::UnrecognizedWellKnownAttribute { attribute, .. } => (2, attribute.clone()),
            UpdateError::MissingWellKnownAttribute { type_code } => (3, vec![*type_code]),
            UpdateError::AttributeFlags { attribute, .. } => (4, attribute.clone()),
            UpdateError::AttributeLength { attribute, .. } => (5, attribute.clone()),
            UpdateError::InvalidOrigin { attribute } => (6, attribute.clone()),
            UpdateError::InvalidNextHop { attribute } => (8, attribute.clone()),
            UpdateError::OptionalAttribute { attribute, .. } => (9, attribute.clone()),
            UpdateError::InvalidNetworkField => (10, Vec::new()),
            UpdateError::MalformedAsPath => (11, Vec::new()),
        };
        Notification::with_data(UPDATE_MESSAGE_ERROR, subcode, data)
    }
}
