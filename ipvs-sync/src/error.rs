//! Errors of the IPVS layer. The errno always survives, so callers can treat EEXIST/ENOENT races
//! idempotently, and the object concerned is always named. A cause is printed once, in the message
//! (it is a typed field, not a `source()`, so anyhow's `{:#}` does not repeat it).

use thiserror::Error;

/// An IPVS operation failed.
#[derive(Debug, Error)]
pub enum IpvsError {
    /// The kernel refused a request; `errno` is positive (e.g. `libc::EEXIST` = 17).
    #[error("kernel refused {operation} on {object}: {message} (errno {errno})")]
    Kernel {
        /// What we asked, e.g. `NEW_SERVICE`.
        operation: &'static str,
        /// The service or destination concerned, e.g. `TCP 10.0.0.1:80`.
        object: String,
        /// Positive errno.
        errno: i32,
        /// Human text for the errno.
        message: String,
    },
    /// The `IPVS` generic-netlink family is not registered (module `ip_vs` not loaded).
    #[error("the IPVS generic netlink family is not available (is the ip_vs module loaded?)")]
    FamilyNotFound,
    /// Socket-level failure.
    #[error("netlink socket error during {context}: {cause}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// The kernel did not answer a request in time. The client reopens its socket before the
    /// next request, so a late reply cannot be taken for the answer to another one.
    #[error("no reply to {request} on {object} within {after:?} (the IPVS kernel side hangs?)")]
    Timeout {
        /// What we asked, e.g. `GET_SERVICE` or `CTRL_CMD_GETFAMILY`.
        request: &'static str,
        /// The service or destination concerned.
        object: String,
        /// How long one receive waited.
        after: std::time::Duration,
    },
    /// The kernel sent something we could not decode.
    #[error("malformed netlink reply to {context}: {detail}")]
    Decode {
        /// What we were reading.
        context: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A write was read back and the kernel kept something else (an attribute it ignores).
    #[error("kernel did not keep {what} on {object}: wrote {wrote}, read back {read}")]
    NotKept {
        /// The attribute.
        what: &'static str,
        /// The object.
        object: String,
        /// What we sent.
        wrote: String,
        /// What the kernel reports.
        read: String,
    },
    /// We refuse to encode the request (e.g. a feature the running kernel lacks).
    #[error("unsupported request on {object}: {detail}")]
    Unsupported {
        /// The object.
        object: String,
        /// Why.
        detail: String,
    },
}

impl IpvsError {
    /// The kernel errno, if the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// Whether the kernel did not answer in time (logs and metrics name timeouts apart).
    pub fn is_timeout(&self) -> bool {
        matches!(self, IpvsError::Timeout { .. })
    }
}
