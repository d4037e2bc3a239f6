//! Errors of the speaker's public API. Each cause is printed once: in the message, kept as a typed
//! field (not a `source()`, which anyhow's `{:#}` would print a second time).

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

/// The configuration cannot work; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid BGP configuration: {}", problems.join("; "))]
pub struct ConfigError {
    /// One line per problem, prefixed with the key path (`peers[10.0.0.1].port: ...`).
    pub problems: Vec<String>,
}

/// Starting or running the speaker failed.
#[derive(Debug, Error)]
pub enum SpeakerError {
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding the listener for passive peers failed.
    #[error("cannot listen on {address}: {cause}")]
    Listen {
        /// The listen address.
        address: SocketAddr,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// Installing a TCP MD5 key failed (kernel without `CONFIG_TCP_MD5SIG`, or bad key).
    #[error("cannot set TCP MD5 key for peer {peer}: {cause}")]
    Md5 {
        /// The peer the key is for.
        peer: IpAddr,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// The speaker task is gone (it panicked or was shut down already).
    #[error("the BGP speaker is not running")]
    NotRunning,
}

/// Writing the BIRD include file or reloading BIRD failed.
#[derive(Debug, Error)]
pub enum BirdError {
    /// Writing or renaming the include file failed.
    #[error("cannot write BIRD include file {path}: {cause}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// `birdc` could not be run.
    #[error("cannot run {program}: {cause}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// `birdc configure` did not finish in time and was killed.
    #[error("`{program} configure` did not finish within {after:?}: killed")]
    Timeout {
        /// The program.
        program: String,
        /// The deadline it outlasted.
        after: std::time::Duration,
    },
    /// `birdc configure` ran but BIRD refused the configuration.
    #[error("`{program} configure` failed: {output}")]
    Reload {
        /// The program.
        program: String,
        /// What birdc printed.
        output: String,
    },
}
