//! Model values (`crate::model`) <-> IPVS attributes (pure: no I/O, no clock).
//!
//! Encoding refuses what the wire cannot express (`IpvsError::Unsupported`); decoding turns
//! anything malformed into `IpvsError::Decode`, never a panic.

mod addr;
mod dest;
mod service;
mod stats;

pub use addr::{family_from_raw, family_to_raw};
pub use dest::{
    dest_attributes, dest_identity_attributes, destination_from_attributes, normalize_destination,
};
pub(crate) use service::service_family;
pub use service::{service_attributes, service_from_attributes, service_identity_attributes};
pub use stats::{legacy_stats_attributes, stats_from_attributes, stats64_attributes};

use crate::IpvsError;

/// A decode error with its context; why a helper: every decoder names what it was reading.
pub(crate) fn decode_error(context: &'static str, detail: impl Into<String>) -> IpvsError {
    IpvsError::Decode {
        context,
        detail: detail.into(),
    }
}
