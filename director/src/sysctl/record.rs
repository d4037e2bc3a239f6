//! The file that remembers which IPVS sysctl values lbctl wrote ([`OwnedSysctls`]), next to
//! the state file, replaced atomically.

// I/O room (see clippy.toml): reads and writes the ownership record file.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use super::OwnedSysctls;
use crate::atomic_file::write_atomically;
use crate::netfilter::NetfilterError;

/// Reads the record; a missing file is an empty record, and so is an unreadable or corrupt one
/// (logged): owning nothing is the safe side, lbctl then lowers no value.
pub(crate) fn read_record(path: &Path) -> OwnedSysctls {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(path = %path.display(), %error, "ignoring a corrupt sysctl record");
            OwnedSysctls::default()
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => OwnedSysctls::default(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the sysctl record");
            OwnedSysctls::default()
        }
    }
}

/// Replaces the record atomically and durably ([`write_atomically`]).
pub(crate) fn write_record(path: &Path, record: &OwnedSysctls) -> Result<(), NetfilterError> {
    let text = serde_json::to_vec_pretty(record).map_err(|e| NetfilterError::Parse {
        program: path.display().to_string(),
        detail: e.to_string(),
    })?;
    write_atomically(path, &text, 0o600).map_err(|cause| NetfilterError::Proc {
        path: path.to_path_buf(),
        cause,
    })
}
