//! The file sources of `lbctl run --config-file FILE [--endpoints-file FILE]`: the same daemon
//! without a cluster.
//!
//! Each file is polled five times a second (modification time and size: one `stat`); a change
//! is read and published once the file has stayed the same for 200 ms, so that a writer still at work
//! is not read half-way (a truncated ConfigMap would look like removed keys and start drains).
//! Writers should still replace the file atomically (write a temporary file, then rename it),
//! as the kubelet does for ConfigMap volumes. A ConfigMap file that vanishes counts as a
//! deleted ConfigMap; one that is not YAML keeps the last good entries; an endpoints file that
//! does not parse keeps the last good snapshot (and says so in the log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lb_config::EndpointSnapshot;
use tokio::sync::watch;
use tracing::{info, warn};

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

/// Calls `on_change` once at start and then whenever the file's signature changes and has
/// stayed the same for `timing.settle`, checking every `timing.poll`, until `shutdown`.
async fn poll_file(
    path: &Path,
    timing: PollTiming,
    mut shutdown: watch::Receiver<bool>,
    mut on_change: impl FnMut(),
) {
    let mut seen: Option<Signature> = None;
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = timing.poll;
        let now = signature(path);
        if seen == Some(now) {
            continue;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(timing.settle) => {}
        }
        if signature(path) != now {
            // Still being written: look again once it settles.
            wait = Duration::ZERO;
            continue;
        }
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

    use super::*;

    #[tokio::test]
    async fn a_file_still_being_written_is_not_read_half_way() {
        let dir = std::env::temp_dir().join(format!("lbctl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cm.yaml");
        let full = "a: 1\nb: 2\nc: 3\n";
        std::fs::write(&path, full).unwrap();
        let timing = PollTiming {
            poll: Duration::from_millis(20),
            settle: Duration::from_millis(300),
        };
        let (stop_tx, stop) = watch::channel(false);
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let poll_path = path.clone();
        let task = tokio::spawn(async move {
            poll_file(&poll_path, timing, stop, || {
                let _ = seen_tx.send(std::fs::read_to_string(&poll_path).unwrap());
            })
            .await;
        });
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
}
