//! inotify on the directories of a watched file, and which events mean "read it now".
//!
//! The file sources (`files.rs`) poll as well; this only makes them quicker. So nothing here
//! fails: without inotify (no instances left, a file system that has none), or after the
//! stream breaks, [`FileEvents::next`] never returns and polling carries on alone.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use futures::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};
use tracing::{debug, warn};

/// What an event says about the watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// A version that its writer has finished: a rename into place, a writer closing the
    /// file, a new symlink. Safe to read at once.
    Complete,
    /// Something changed that may still be in progress (a write, a deletion, a lost event):
    /// look with the settle time of the polling path.
    Changing,
}

/// The inotify watches of one file's directories.
pub(super) struct FileEvents {
    path: PathBuf,
    stream: Option<EventStream<Vec<u8>>>,
    /// The watched directories by watch descriptor, canonical (resolved once, at start).
    dirs: Vec<(WatchDescriptor, PathBuf)>,
}

/// The events that can announce a new version of a file in a directory.
fn dir_mask() -> WatchMask {
    WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
}

impl FileEvents {
    /// Watches the directory of `path` and, when `path` is a symlink into another directory,
    /// that of its target as it is now. Logs and returns an idle watcher when inotify is not
    /// available.
    pub(super) fn watch(path: &Path) -> Self {
        let mut events = FileEvents {
            path: path.to_owned(),
            stream: None,
            dirs: Vec::new(),
        };
        let mut dirs = vec![canonical(&parent(path))];
        if let Ok(target) = std::fs::canonicalize(path) {
            let target_dir = parent(&target);
            if target_dir != dirs[0] {
                dirs.push(target_dir);
            }
        }
        let stream = Inotify::init().and_then(|inotify| inotify.into_event_stream(vec![0; 4096]));
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                warn!(file = %path.display(), %error, "no inotify: noticing changes by polling only");
                return events;
            }
        };
        for dir in dirs {
            match stream.watches().add(&dir, dir_mask()) {
                Ok(wd) => events.dirs.push((wd, dir)),
                Err(error) => warn!(
                    file = %path.display(),
                    dir = %dir.display(),
                    %error,
                    "cannot watch the directory: noticing its changes by polling only"
                ),
            }
        }
        if !events.dirs.is_empty() {
            events.stream = Some(stream);
        }
        events
    }

    /// Whether any directory is watched (tests).
    #[cfg(test)]
    pub(super) fn is_watching(&self) -> bool {
        self.stream.is_some()
    }

    /// The next event that concerns the file; never returns when nothing is watched.
    pub(super) async fn next(&mut self) -> Wake {
        loop {
            let Some(stream) = &mut self.stream else {
                return std::future::pending().await;
            };
            match stream.next().await {
                Some(Ok(event)) => {
                    let dir = self
                        .dirs
                        .iter()
                        .find(|(wd, _)| *wd == event.wd)
                        .map(|(_, dir)| dir.as_path());
                    if let Some(wake) = classify(&self.path, dir, event.mask, event.name.as_deref())
                    {
                        debug!(file = %self.path.display(), ?wake, mask = ?event.mask, "file event");
                        return wake;
                    }
                }
                end => {
                    if let Some(Err(error)) = end {
                        warn!(file = %self.path.display(), %error, "inotify failed: noticing changes by polling only");
                    }
                    self.stream = None;
                    return Wake::Changing;
                }
            }
        }
    }
}

/// What an event in `dir` (canonical; None: not a directory of ours, or the queue overflowed)
/// named `name` means for `path`; `None` when it is about another file.
fn classify(
    path: &Path,
    dir: Option<&Path>,
    mask: EventMask,
    name: Option<&OsStr>,
) -> Option<Wake> {
    if mask.contains(EventMask::Q_OVERFLOW) || mask.contains(EventMask::IGNORED) {
        // Events were lost, or a directory went away: only a look at the file tells.
        return Some(Wake::Changing);
    }
    let (dir, name) = (dir?, name?);
    if !names_of_interest(path, dir).iter().any(|n| n == name) {
        return None;
    }
    let complete = mask.contains(EventMask::MOVED_TO)
        || mask.contains(EventMask::CLOSE_WRITE)
        || (mask.contains(EventMask::CREATE) && is_symlink(&dir.join(name)));
    Some(if complete {
        Wake::Complete
    } else {
        Wake::Changing
    })
}

/// The names in `dir` (canonical) whose change can change what `path` reads: the file's own
/// name, the first step of its symlink's relative target (the kubelet's `..data`), and the
/// name of the file it resolves to, when that is in `dir`.
fn names_of_interest(path: &Path, dir: &Path) -> Vec<OsString> {
    let mut names = Vec::new();
    if canonical(&parent(path)) == dir {
        if let Some(name) = path.file_name() {
            names.push(name.to_owned());
        }
        if let Ok(target) = std::fs::read_link(path)
            && target.is_relative()
            && let Some(Component::Normal(first)) = target.components().next()
        {
            names.push(first.to_owned());
        }
    }
    if let Ok(target) = std::fs::canonicalize(path)
        && parent(&target) == dir
        && let Some(name) = target.file_name()
    {
        names.push(name.to_owned());
    }
    names
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `dir` with every symlink resolved, or as it is when it cannot be (it is compared, never
/// opened, so a missing directory just matches nothing).
fn canonical(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// A new empty directory of this process for a test's files, canonical as the watched
/// directories are.
#[cfg(test)]
pub(super) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lbctl-fe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    canonical(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_or_a_close_is_complete_a_write_is_not() {
        let dir = scratch("classify");
        let path = dir.join("cm.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let name = Some(OsStr::new("cm.yaml"));
        let d = Some(dir.as_path());
        assert_eq!(
            classify(&path, d, EventMask::MOVED_TO, name),
            Some(Wake::Complete)
        );
        assert_eq!(
            classify(&path, d, EventMask::CLOSE_WRITE, name),
            Some(Wake::Complete)
        );
        assert_eq!(
            classify(&path, d, EventMask::MODIFY, name),
            Some(Wake::Changing)
        );
        assert_eq!(
            classify(&path, d, EventMask::DELETE, name),
            Some(Wake::Changing)
        );
        // A regular file just created is still empty: not complete.
        assert_eq!(
            classify(&path, d, EventMask::CREATE, name),
            Some(Wake::Changing)
        );
        // Another file of the directory is none of our business.
        let other = Some(OsStr::new("other.yaml"));
        assert_eq!(classify(&path, d, EventMask::MOVED_TO, other), None);
        assert_eq!(
            classify(&path, d, EventMask::Q_OVERFLOW, None),
            Some(Wake::Changing)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_kubelet_data_swap_is_complete() {
        // config.yaml -> ..data/config.yaml, ..data -> ..v1: the kubelet renames a new ..data.
        let dir = scratch("kubelet");
        std::fs::create_dir_all(dir.join("..v1")).unwrap();
        std::fs::write(dir.join("..v1/config.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.yaml", dir.join("config.yaml")).unwrap();
        let path = dir.join("config.yaml");
        let d = Some(dir.as_path());
        assert_eq!(
            classify(&path, d, EventMask::MOVED_TO, Some(OsStr::new("..data"))),
            Some(Wake::Complete)
        );
        // The new version's directory being filled in is not about our file.
        assert_eq!(
            classify(&path, d, EventMask::CREATE, Some(OsStr::new("..v2"))),
            None
        );
        // A symlink created in place of the file points at a complete file.
        assert_eq!(
            classify(&path, d, EventMask::CREATE, Some(OsStr::new("config.yaml"))),
            Some(Wake::Complete)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_rename_into_place_wakes_the_watcher() {
        let dir = scratch("rename");
        let path = dir.join("cm.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        let mut events = FileEvents::watch(&path);
        assert!(events.is_watching());
        // Control: a file of another name does not wake it.
        std::fs::write(dir.join("other.tmp"), "x").unwrap();
        std::fs::rename(dir.join("other.tmp"), dir.join("other.yaml")).unwrap();
        let quiet =
            tokio::time::timeout(std::time::Duration::from_millis(200), events.next()).await;
        assert!(quiet.is_err(), "woken by another file: {quiet:?}");

        std::fs::write(dir.join("cm.tmp"), "a: 2\n").unwrap();
        std::fs::rename(dir.join("cm.tmp"), &path).unwrap();
        let wake = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
            .await
            .unwrap();
        assert_eq!(wake, Wake::Complete);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
