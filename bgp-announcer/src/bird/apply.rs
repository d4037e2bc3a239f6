//! Writes the BIRD include file atomically and asks BIRD to reload (`birdc configure`).
//! This is the I/O half of the routing-daemon mode.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Announcements;
use crate::error::BirdError;

/// Where and how to write the include file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirdOptions {
    /// The include file (BIRD's config must `include` it).
    pub path: PathBuf,
    /// Prefix of the generated protocol names (`<prefix>_ipv4`, `<prefix>_ipv6`).
    #[serde(default = "default_prefix")]
    pub protocol_prefix: String,
    /// Route next hop: `via "<interface>"`, or `blackhole` when unset.
    #[serde(default)]
    pub via_interface: Option<String>,
    /// The `birdc` program.
    #[serde(default = "default_birdc")]
    pub birdc: String,
    /// BIRD's control socket (`birdc -s`), if not the default.
    #[serde(default)]
    pub socket: Option<PathBuf>,
    /// How long `birdc configure` may take before it is killed and the reload counts as
    /// failed (retried later). Why: a BIRD that does not answer must not stall the announcer.
    #[serde(default = "default_reload_timeout_secs")]
    pub reload_timeout_secs: u64,
}

fn default_prefix() -> String {
    "lb_vips".to_owned()
}

fn default_birdc() -> String {
    "birdc".to_owned()
}

fn default_reload_timeout_secs() -> u64 {
    10
}

impl BirdOptions {
    /// Defaults for an include file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        BirdOptions {
            path: path.into(),
            protocol_prefix: default_prefix(),
            via_interface: None,
            birdc: default_birdc(),
            socket: None,
            reload_timeout_secs: default_reload_timeout_secs(),
        }
    }
}

/// Renders `routes`, replaces the include file atomically if its content changed, and
/// reloads BIRD. Returns whether a reload happened.
pub async fn apply(routes: &Announcements, options: &BirdOptions) -> Result<bool, BirdError> {
    let text = super::render(routes, options).map_err(|e| BirdError::Write {
        path: options.path.clone(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    })?;
    if tokio::fs::read_to_string(&options.path)
        .await
        .ok()
        .as_deref()
        == Some(text.as_str())
    {
        return Ok(false);
    }
    write_atomically(&options.path, &text).await?;
    reload(options).await?;
    Ok(true)
}

async fn write_atomically(path: &Path, text: &str) -> Result<(), BirdError> {
    let err = |cause| BirdError::Write {
        path: path.to_owned(),
        cause,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, text).await.map_err(err)?;
    // BIRD runs as its own user and must read the file whatever the daemon's umask (the
    // systemd unit sets 0077); it holds routes only, nothing secret.
    tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .await
        .map_err(err)?;
    let file = tokio::fs::File::open(&tmp).await.map_err(err)?;
    file.sync_all().await.map_err(err)?;
    tokio::fs::rename(&tmp, path).await.map_err(err)
}

async fn reload(options: &BirdOptions) -> Result<(), BirdError> {
    let mut command = tokio::process::Command::new(&options.birdc);
    if let Some(socket) = &options.socket {
        command.arg("-s").arg(socket);
    }
    // Dropping the timed-out `output()` future drops the child: it is killed, not left behind.
    command.arg("configure").kill_on_drop(true);
    let after = Duration::from_secs(options.reload_timeout_secs.max(1));
    let output = match tokio::time::timeout(after, command.output()).await {
        Ok(output) => output.map_err(|cause| BirdError::Spawn {
            program: options.birdc.clone(),
            cause,
        })?,
        Err(_) => {
            tracing::warn!(
                program = %options.birdc,
                timeout = ?after,
                reason = "timeout",
                "birdc configure hung: killed"
            );
            return Err(BirdError::Timeout {
                program: options.birdc.clone(),
                after,
            });
        }
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    // birdc exits 0 even when BIRD rejects the configuration; BIRD says "Reconfigured" or
    // "Reconfiguration in progress" when it accepted it.
    if output.status.success() && text.contains("Reconfigur") && !text.contains("error") {
        tracing::info!(path = %options.path.display(), "BIRD reloaded with new VIP routes");
        Ok(())
    } else {
        Err(BirdError::Reload {
            program: options.birdc.clone(),
            output: text.trim().to_owned(),
        })
    }
}
