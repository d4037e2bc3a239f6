//! Replacing a file so that a crash or a power cut leaves either the old or the new content,
//! never half of one: a uniquely named temporary file in the same directory (two writers never
//! share it), written and flushed to disk, renamed over the old file, and the directory flushed
//! so the rename itself is durable. Built on `tempfile` for the unique name and its clean-up
//! when a step fails. Shared by every file the director keeps: the state and drain files
//! (lb-controller) and the sysctl ownership record ([`crate::sysctl`]).

// I/O room (see clippy.toml): this module is the file writer.
#![allow(clippy::disallowed_methods)]

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with `bytes`, creating its directory if needed; the file gets `mode`.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_atomically(&path, b"one", 0o600).unwrap();
        write_atomically(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["state.json"]);
    }

    /// Mutation: with the former fixed temporary name (`state.tmp`), writers racing in
    /// threads rename each other's half-written files or fail with ENOENT.
    #[test]
    fn concurrent_writers_never_leave_a_mixed_or_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let body = vec![b'a' + i; 64 * 1024];
                    for _ in 0..20 {
                        write_atomically(&path, &body, 0o600).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let body = std::fs::read(&path).unwrap();
        assert_eq!(body.len(), 64 * 1024);
        assert!(body.iter().all(|b| *b == body[0]), "mixed content");
    }
}
