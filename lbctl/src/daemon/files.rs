//! The file sources of `lbctl run --config-file FILE [--endpoints-file FILE]`: the same daemon
//! without a cluster.
//!
//! Each file is polled once a second (modification time and size); a change is read and
//! published. A ConfigMap file that vanishes counts as a deleted ConfigMap; one that is not YAML
//! keeps the last good entries; an endpoints file that does not parse keeps the last good
//! snapshot (and says so in the log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lb_config::EndpointSnapshot;
use tokio::sync::watch;
use tracing::{info, warn};

use super::input::{ConfigInput, EndpointsInput};

/// How often the files are checked.
const POLL: Duration = Duration::from_secs(1);

/// What identifies a version of a file without reading it.
type Signature = Option<(SystemTime, u64)>;

fn signature(path: &Path) -> Signature {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads the ConfigMap file once (missing = absent, unreadable = keep).
pub(crate) fn read_config(path: &Path) -> ConfigInput {
    match std::fs::read_to_string(path) {
        Ok(text) => ConfigInput::from_text(&text),
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

/// Reads the endpoints file once.
pub(crate) fn read_endpoints(path: &Path) -> anyhow::Result<EndpointSnapshot> {
    let text = std::fs::read_to_string(path)?;
    Ok(EndpointSnapshot::from_yaml_str(&text)?)
}

/// Calls `on_change` once at start and then whenever the file's signature changes, checking
/// every [`POLL`], until `shutdown`.
async fn poll_file(path: &Path, mut shutdown: watch::Receiver<bool>, mut on_change: impl FnMut()) {
    let mut seen: Option<Signature> = None;
    loop {
        let now = signature(path);
        if seen != Some(now) {
            seen = Some(now);
            on_change();
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Polls the ConfigMap file and publishes every change until `shutdown`.
pub(crate) async fn watch_config_file(
    path: PathBuf,
    tx: watch::Sender<Option<Arc<ConfigInput>>>,
    shutdown: watch::Receiver<bool>,
) {
    poll_file(&path, shutdown, || {
        let input = read_config(&path);
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
    poll_file(&path, shutdown, || match read_endpoints(&path) {
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
            error = format!("{e:#}"),
            "cannot use the endpoints file: keeping the last good endpoints"
        ),
    })
    .await;
}
