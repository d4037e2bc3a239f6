//! Errors of the netfilter layer. Every error names the program and what it was doing, and keeps
//! the underlying cause (I/O error, exit status and stderr of the tool).

use std::path::PathBuf;

use thiserror::Error;

/// Installing, reading or removing our netfilter rules failed.
#[derive(Debug, Error)]
pub enum NetfilterError {
    /// A tool could not be started (not installed, not executable).
    #[error("cannot run {program}: {cause}")]
    Spawn {
        /// The program, e.g. `iptables-restore`.
        program: String,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("{program} {args} failed ({status}): {stderr}")]
    Tool {
        /// The program.
        program: String,
        /// Its arguments, joined by spaces.
        args: String,
        /// Exit status as text (`exit status: 2`, `signal: 9`).
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A tool did not finish in time; it was killed. Our rules are replaced in one
    /// transaction per table, so the old ones stay in force.
    #[error("{program} {args} did not finish within {after:?}: killed")]
    Timeout {
        /// The program.
        program: String,
        /// Its arguments, joined by spaces.
        args: String,
        /// The deadline it outlasted.
        after: std::time::Duration,
    },
    /// A tool printed something we do not understand.
    #[error("cannot parse the output of {program}: {detail}")]
    Parse {
        /// The program.
        program: String,
        /// What was wrong.
        detail: String,
    },
    /// Auto-detection found neither a working `nft` nor a working `iptables-restore`.
    #[error("no netfilter backend found: {detail}")]
    NoBackend {
        /// What was tried and why it failed.
        detail: String,
    },
    /// A rule cannot be expressed by the chosen backend.
    #[error("cannot render a rule: {detail}")]
    Render {
        /// Why.
        detail: String,
    },
    /// A sysctl or `/proc` file could not be read or written.
    #[error("cannot access {path}: {cause}")]
    Proc {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
}

impl NetfilterError {
    /// Whether a tool hung and was killed (logs and metrics name timeouts apart).
    pub fn is_timeout(&self) -> bool {
        matches!(self, NetfilterError::Timeout { .. })
    }
}
