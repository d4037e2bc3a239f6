//! The state file (drain deadlines and the last good version of each ConfigMap key, see
//! [`super::persisted`]): read at start, written atomically after a pass that changed it.

// I/O room (see clippy.toml): this module reads the state file.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use lb_ipvs_sync::reconcile::DrainBookError;
use thiserror::Error;

use super::persisted::PersistedState;
use crate::atomic_file::write_atomically;

/// The state file could not be read or written.
#[derive(Debug, Error)]
pub enum StateFileError {
    /// The file exists but is not a state file.
    #[error("invalid state file {}", path.display())]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: DrainBookError,
    },
    /// The file exists but cannot be read.
    #[error("cannot read state file {}", path.display())]
    Read {
        /// The state file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The state cannot be rendered.
    #[error("cannot serialize the state")]
    Serialize(#[source] DrainBookError),
    /// The file cannot be replaced.
    #[error("cannot write the state file {}", path.display())]
    Write {
        /// The state file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Reads the state; a missing file is an empty state (first run, or state lost: drains then
/// get fresh deadlines, never shorter ones, and no key has a kept version yet).
pub fn read(path: &Path) -> Result<PersistedState, StateFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => PersistedState::from_json(&text).map_err(|source| StateFileError::Invalid {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PersistedState::default()),
        Err(source) => Err(StateFileError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the state atomically and durably (see [`crate::atomic_file`]), so a crash never
/// leaves half a file.
pub fn write(path: &Path, state: &PersistedState) -> Result<(), StateFileError> {
    let text = state.to_json().map_err(StateFileError::Serialize)?;
    write_atomically(path, text.as_bytes(), 0o600).map_err(|source| StateFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}
