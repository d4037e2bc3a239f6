//! One writer per director: an advisory lock (`flock`) on a file next to the state file, held
//! by `lbctl run` for its whole life and by `lbctl apply` for its sync, so that two lbctl
//! processes never interleave IPVS writes or race on the state file. The kernel releases the
//! lock when its holder dies, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the lock was not taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another lbctl holds it.
    #[error(
        "another lbctl is writing this director's IPVS table ({holder}; lock {path}): \
         {advice}"
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// What the holder wrote into the lock file.
        holder: String,
        /// What to do instead.
        advice: &'static str,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot take the writer lock {path}: {cause}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause (in the message, so not a `source()`).
        cause: std::io::Error,
    },
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// The lock file that belongs to `state_file`.
pub(crate) fn lock_path(state_file: &Path) -> PathBuf {
    let mut name = state_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl WriterLock {
    /// Takes the lock of `state_file` without waiting; `who` (e.g. "lbctl run") is recorded
    /// for the message another writer gets, and `advice` is what that writer is told to do.
    pub fn acquire(
        state_file: &Path,
        who: &str,
        advice: &'static str,
    ) -> Result<WriterLock, LockError> {
        let path = lock_path(state_file);
        let io = |cause| LockError::Io {
            path: path.clone(),
            cause,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    holder: if holder.is_empty() {
                        "holder unknown".to_owned()
                    } else {
                        holder.chars().take(200).collect()
                    },
                    path,
                    advice,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{who}, pid {}", std::process::id()).map_err(io)?;
        Ok(WriterLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// flock locks belong to open file descriptions, so a second open in the same process
    /// conflicts just as another process would.
    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let first = WriterLock::acquire(&state, "lbctl run", "stop it first").unwrap();
        let err = WriterLock::acquire(&state, "lbctl apply", "stop it first").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("lbctl run, pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("state.json.lock"), "{text}");
        drop(first);
        WriterLock::acquire(&state, "lbctl apply", "stop it first").unwrap();
    }
}
