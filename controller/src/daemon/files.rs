//! The file sources of `lbctl run --config-file FILE [--endpoints-file FILE]`: the same daemon
//! without a cluster.
//!
//! Two ways to notice a change, both always on:
//! - **inotify** on the file's directory (and on its target's, when the file is a symlink, as
//!   in a kubelet ConfigMap volume). A change that is complete by its nature is read at once:
//!   a rename into the directory (`mv`, the kubelet's `..data` swap), a writer closing the
//!   file, a new symlink. Any other event (a write still in progress, a deletion) takes the
//!   polling path below, started at once instead of at the next poll.
//! - **Polling**, five times a second (modification time and size: one `stat`), for what
//!   inotify does not see (network file systems, a symlink chain leaving the watched
//!   directories, an event queue overflow, or no inotify at all). A change seen this way is
//!   read once the file has stayed the same for 200 ms, so that a writer still at work is not
//!   read half-way (a truncated ConfigMap would look like removed keys and start drains).
//!
//! Writers should still replace the file atomically (write a temporary file, then rename it),
//! as the kubelet does for ConfigMap volumes. A ConfigMap file that vanishes counts as a
//! deleted ConfigMap; one that is not YAML keeps the last good entries; an endpoints file that
//! does not parse keeps the last good snapshot (and says so in the log). Written by hand over
//! the `inotify` crate: what counts as a complete change is ours to decide.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lb_config::EndpointSnapshot;
use tokio::sync::watch;
use tracing::{info, warn};

use super::file_events::{FileEvents, Wake};
use super::input::{ConfigInput, EndpointsInput};

/// How often the files are checked, and how long a changed file must stay the same before it
/// is read.
#[derive(Debug, Clone, Copy)]
struct PollTiming {
    poll: Duration,
    settle: Duration,
}

/// A change reaches the daemon within 400 ms (poll plus settle), inside the one-second budget
/// from a change to the kernel.
const TIMING: PollTiming = PollTiming {
    poll: Duration::from_millis(200),
    settle: Duration::from_millis(200),
};

/// What identifies a version of a file without reading it.
type Signature = Option<(SystemTime, u64)>;

fn signature(path: &Path) -> Signature {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads the ConfigMap file once (missing = absent, unreadable = keep).
pub(crate) fn read_config(path: &Path) -> ConfigInput {
    read_config_after(path, None)
}

/// [`read_config`], parsing only the keys whose value changed since `previous`.
fn read_config_after(path: &Path, previous: Option<&ConfigInput>) -> ConfigInput {
    match std::fs::read_to_string(path) {
        Ok(text) => ConfigInput::from_text_after(&text, previous),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigInput::Absent,
        Err(e) => ConfigInput::Unreadable {
            problems: vec![lb_config::Problem::error(
                lb_config::DOCUMENT_KEY,
                None,
                format!("cannot read {}: {e}", path.display()),
            )],
        },
    }
}

/// Reads the endpoints file once; the error is the cause as text (the caller names the file).
pub(crate) fn read_endpoints(path: &Path) -> Result<EndpointSnapshot, String> {
    let text = std::fs::read_to_string(path).map_err(|e| lb_director::error_text::chain(&e))?;
    EndpointSnapshot::from_yaml_str(&text).map_err(|e| lb_director::error_text::chain(&e))
}

/// Calls `on_change` once at start and then whenever the file's signature changes, until
/// `shutdown`: at once after a [`Wake::Complete`] event, else once the signature has stayed
/// the same for `timing.settle` (checked every `timing.poll`, and at once after any other
/// event of the file).
async fn poll_file(
    path: &Path,
    timing: PollTiming,
    mut shutdown: watch::Receiver<bool>,
    mut on_change: impl FnMut(),
) {
    let mut events = FileEvents::watch(path);
    let mut seen: Option<Signature> = None;
    let mut wait = Duration::ZERO;
    let mut wake = Wake::Changing;
    loop {
        if wake != Wake::Complete {
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(wait) => {}
                w = events.next() => wake = w,
            }
        }
        wait = timing.poll;
        let now = signature(path);
        if seen == Some(now) {
            wake = Wake::Changing;
            continue;
        }
        if wake != Wake::Complete {
            // Maybe still being written: read it once it stays the same for `settle`, or once
            // its writer says it is done.
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(timing.settle) => {}
                w = events.next() => {
                    wake = w;
                    wait = Duration::ZERO;
                    continue;
                }
            }
            if signature(path) != now {
                wait = Duration::ZERO;
                continue;
            }
        }
        wake = Wake::Changing;
        seen = Some(now);
        on_change();
    }
}

/// Polls the ConfigMap file and publishes every change until `shutdown`.
pub(crate) async fn watch_config_file(
    path: PathBuf,
    tx: watch::Sender<Option<Arc<ConfigInput>>>,
    shutdown: watch::Receiver<bool>,
) {
    poll_file(&path, TIMING, shutdown, || {
        let previous = tx.borrow().clone();
        let input = read_config_after(&path, previous.as_deref());
        let changed = tx.send_if_modified(|old| {
            let changed = old.as_deref() != Some(&input);
            if changed {
                *old = Some(Arc::new(input.clone()));
            }
            changed
        });
        if changed {
            info!(file = %path.display(), "ConfigMap file (re)loaded");
        }
    })
    .await;
}

/// Polls the endpoints file (or publishes an empty snapshot once when there is none).
pub(crate) async fn watch_endpoints_file(
    path: Option<PathBuf>,
    tx: watch::Sender<Option<Arc<EndpointsInput>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(path) = path else {
        tx.send_replace(Some(Arc::new(EndpointsInput::default())));
        // Keep the sender alive: a closed channel is fine too, but this reads plainer in logs.
        let _ = shutdown.changed().await;
        return;
    };
    poll_file(&path, TIMING, shutdown, || match read_endpoints(&path) {
        Ok(snapshot) => {
            let input = EndpointsInput {
                snapshot: Arc::new(snapshot),
                changed_at: Some(SystemTime::now()),
            };
            tx.send_if_modified(|old| {
                let changed = old.as_ref().map(|o| &o.snapshot) != Some(&input.snapshot);
                if changed {
                    info!(file = %path.display(), "endpoints file (re)loaded");
                    *old = Some(Arc::new(input.clone()));
                }
                changed
            });
        }
        Err(e) => warn!(
            file = %path.display(),
            error = %e,
            "cannot use the endpoints file: keeping the last good endpoints"
        ),
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::file_events::scratch;
    use super::*;

    /// Runs `poll_file` on `path`, sending the file's text at each call of its `on_change`.
    fn watch_contents(
        path: &Path,
        timing: PollTiming,
    ) -> (
        watch::Sender<bool>,
        tokio::sync::mpsc::UnboundedReceiver<String>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop_tx, stop) = watch::channel(false);
        let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let poll_path = path.to_owned();
        let task = tokio::spawn(async move {
            poll_file(&poll_path, timing, stop, || {
                let _ = seen_tx.send(std::fs::read_to_string(&poll_path).unwrap());
            })
            .await;
        });
        (stop_tx, seen_rx, task)
    }

    #[tokio::test]
    async fn a_file_still_being_written_is_not_read_half_way() {
        let dir = scratch("files-half-way");
        let path = dir.join("cm.yaml");
        let full = "a: 1\nb: 2\nc: 3\n";
        std::fs::write(&path, full).unwrap();
        let timing = PollTiming {
            poll: Duration::from_millis(20),
            settle: Duration::from_millis(300),
        };
        let (stop_tx, mut seen_rx, task) = watch_contents(&path, timing);
        assert_eq!(seen_rx.recv().await.unwrap(), full);

        // A slow writer: truncate, half the file, a pause of 8 polls, the rest.
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"a: 1\n").unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(160)).await;
        file.write_all(b"b: 2\nc: 4\n").unwrap();
        drop(file);

        let read = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            read, "a: 1\nb: 2\nc: 4\n",
            "read before the writer finished"
        );
        stop_tx.send_replace(true);
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Mutation: classifying every event as `Changing` (no read at once) fails the rename step.
    #[tokio::test]
    async fn a_file_renamed_into_place_is_read_at_once_a_write_in_place_waits() {
        let dir = scratch("files-mv");
        let path = dir.join("cm.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        // Polling alone would take 10 s to notice and 3 s more to read (the first read too).
        let timing = PollTiming {
            poll: Duration::from_secs(10),
            settle: Duration::from_secs(3),
        };
        let (stop_tx, mut seen_rx, task) = watch_contents(&path, timing);
        assert_eq!(seen_rx.recv().await.unwrap(), "a: 1\n");

        // Control: a write in place that is not finished (the file stays open) waits for
        // the settle time.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"b: 2\n").unwrap();
        let early = tokio::time::timeout(Duration::from_secs(1), seen_rx.recv()).await;
        assert!(early.is_err(), "read a write in progress: {early:?}");

        // `mv` of a finished file is read at once (closing the open writer is also a
        // finished version, so the reader may see that one first).
        std::fs::write(dir.join("cm.tmp"), "a: 3\n").unwrap();
        std::fs::rename(dir.join("cm.tmp"), &path).unwrap();
        let started = std::time::Instant::now();
        let read = tokio::time::timeout(Duration::from_secs(2), seen_rx.recv())
            .await
            .expect("the renamed file was not read at once")
            .unwrap();
        assert_eq!(read, "a: 3\n");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(file);
        stop_tx.send_replace(true);
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A kubelet ConfigMap volume: `cm.yaml -> ..data/cm.yaml`, and an update renames a new
    /// `..data` symlink over the old one. That swap is a finished version: read at once.
    /// Mutation: dropping the symlink's first step from the names of interest (only `cm.yaml`
    /// itself counts) leaves the swap to the 10 s poll and fails this test.
    #[tokio::test]
    async fn a_kubelet_volume_update_is_read_at_once() {
        let dir = scratch("files-kubelet");
        std::fs::create_dir_all(dir.join("..v1")).unwrap();
        std::fs::write(dir.join("..v1/cm.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/cm.yaml", dir.join("cm.yaml")).unwrap();
        let path = dir.join("cm.yaml");
        // The old version's directory goes away too, which its watch reports: that alone
        // would take the settle time (3 s), longer than this test waits.
        let timing = PollTiming {
            poll: Duration::from_secs(10),
            settle: Duration::from_secs(3),
        };
        let (stop_tx, mut seen_rx, task) = watch_contents(&path, timing);
        assert_eq!(seen_rx.recv().await.unwrap(), "a: 1\n");

        // What the kubelet does: a new directory, a temporary link to it, renamed into place.
        std::fs::create_dir_all(dir.join("..v2")).unwrap();
        std::fs::write(dir.join("..v2/cm.yaml"), "a: 2\n").unwrap();
        std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        std::fs::remove_dir_all(dir.join("..v1")).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(2), seen_rx.recv())
            .await
            .expect("the swapped volume was not read at once")
            .unwrap();
        assert_eq!(read, "a: 2\n");
        stop_tx.send_replace(true);
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
