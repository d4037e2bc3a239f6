//! The file that remembers which IPVS sysctl values lbctl wrote ([`OwnedSysctls`]), next to
//! the state file, replaced atomically.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::OwnedSysctls;
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

/// Replaces the record: a temporary file with a unique name, fsync, rename, directory fsync.
pub(crate) fn write_record(path: &Path, record: &OwnedSysctls) -> Result<(), NetfilterError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NetfilterError::Proc { path, source }
    };
    let text = serde_json::to_vec_pretty(record).map_err(|e| NetfilterError::Parse {
        program: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let tmp = temp_name(path, SEQUENCE.fetch_add(1, Ordering::Relaxed));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&text).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// `DIR/.NAME.PID.SEQ.tmp`: two writers (daemon and `lbctl apply`) never share a temp file.
fn temp_name(path: &Path, sequence: u64) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{sequence}.tmp", std::process::id()))
}
