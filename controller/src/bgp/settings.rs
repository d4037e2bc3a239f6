//! `[bgp]` of the settings file -> the announcer's own types.
//!
//! lb-config keeps `[bgp]` as raw TOML (it must not depend on the announcer crate); this module
//! turns it into [`BgpConfig`] with the announcer's `deny_unknown_fields` types, so a typo is
//! reported with its field name. Pure except for reading `md5_password_file`s.

use std::path::{Path, PathBuf};

use lb_bgp_announcer::bird::BirdOptions;
use lb_bgp_announcer::{AnnouncePolicy, ConfigError, PolicyConfig, SpeakerConfig};

use super::policy_settings::PolicySettings;
use lb_config::BgpSettings;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Where the daemon remembers that its speaker ran and did not withdraw (see docs/bgp.md).
const DEFAULT_RESTART_MARKER: &str = "/run/lbctl/bgp-graceful-restart";

/// Where `lbctl withdraw` is remembered, so a withdrawn director stays withdrawn across
/// restarts and reboots until `lbctl withdraw --undo`. The file keeps the name it had when the
/// command was `lbctl drain`, so a withdrawal made before an upgrade survives it.
const DEFAULT_WITHDRAW_FILE: &str = "/var/lib/lbctl/bgp-drained";

/// Why `[bgp]` cannot be used; every message names the key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BgpSettingsError {
    /// A key has the wrong type or is unknown.
    #[error("bgp{section}: {cause}")]
    Toml {
        /// `""`, `".policy"` or `".bird"`.
        section: &'static str,
        /// The deserializer's message, naming the field (in the message, so not a `source()`).
        cause: toml::de::Error,
    },
    /// Values the announcer rejects (all problems at once).
    #[error("bgp{section}: {cause}")]
    Invalid {
        /// Which part was checked.
        section: &'static str,
        /// The announcer's list of problems (in the message, so not a `source()`).
        cause: ConfigError,
    },
    /// A combination that makes no sense.
    #[error("bgp: {0}")]
    Conflict(String),
    /// A peer's key file cannot be read.
    #[error("bgp.peers[{peer}].md5_password_file {path}: {cause}")]
    Md5File {
        /// The peer's address as written.
        peer: String,
        /// The file.
        path: PathBuf,
        /// Why it failed (in the message, so not a `source()`).
        cause: std::io::Error,
    },
}

/// Speak BGP ourselves, or hand the routes to a local BIRD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnnouncerConfig {
    /// Our own speaker with its peers.
    Speaker(Box<SpeakerConfig>),
    /// Routing-daemon mode: a BIRD include file and `birdc configure`.
    Bird(BirdOptions),
}

impl AnnouncerConfig {
    /// `speaker` or `bird`, for `/status`.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            AnnouncerConfig::Speaker(_) => "speaker",
            AnnouncerConfig::Bird(_) => "bird",
        }
    }
}

/// What the daemon does with the routes when it stops (SIGTERM/SIGINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StopMode {
    /// Withdraw everything (graceful-shutdown community first), then close: routers move
    /// traffic to other directors before this one stops.
    #[default]
    Withdraw,
    /// Close without withdrawing: graceful-restart helpers keep the routes while IPVS keeps
    /// forwarding (for restarts/upgrades); `lbctl withdraw` first to leave for good.
    GracefulRestart,
}

/// The announcer's whole configuration, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// Speaker or BIRD.
    pub(crate) announcer: AnnouncerConfig,
    /// Health -> routes.
    pub(crate) policy: PolicyConfig,
    /// What SIGTERM does to the routes.
    pub(crate) on_stop: StopMode,
    /// File whose presence at startup sets the graceful-restart R-bit.
    pub(crate) restart_marker: PathBuf,
    /// File whose presence means `lbctl withdraw` is in effect.
    pub(crate) withdraw_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    Speaker,
    Bird,
}

impl BgpConfig {
    /// `None` when `[bgp] enabled` is false. The other keys are checked even then, so a typo
    /// is caught before the operator turns BGP on.
    pub(crate) fn from_settings(settings: &BgpSettings) -> Result<Option<Self>, BgpSettingsError> {
        if !settings.enabled && settings.rest.is_empty() {
            return Ok(None);
        }
        let mut rest = settings.rest.clone();
        let mode: Mode = take(&mut rest, "mode", "")?.unwrap_or_default();
        let policy = take::<PolicySettings>(&mut rest, "policy", ".policy")?
            .map(PolicySettings::into_config)
            .unwrap_or_default();
        AnnouncePolicy::new(policy.clone()).map_err(|cause| BgpSettingsError::Invalid {
            section: ".policy",
            cause,
        })?;
        let bird: Option<BirdOptions> = take(&mut rest, "bird", ".bird")?;
        let on_stop: StopMode = take(&mut rest, "on_stop", "")?.unwrap_or_default();
        let restart_marker: PathBuf = take(&mut rest, "restart_marker", "")?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RESTART_MARKER));
        let withdraw_file = withdraw_file(&mut rest)?;
        let announcer = match mode {
            Mode::Bird => {
                if !rest.is_empty() {
                    let keys: Vec<&str> = rest.keys().map(String::as_str).collect();
                    return Err(BgpSettingsError::Conflict(format!(
                        "mode = \"bird\" speaks no BGP itself: remove {}",
                        keys.join(", ")
                    )));
                }
                let bird = bird.ok_or_else(|| {
                    BgpSettingsError::Conflict(
                        "mode = \"bird\" needs [bgp.bird] with at least `path`".to_owned(),
                    )
                })?;
                lb_bgp_announcer::bird::render(&Default::default(), &bird).map_err(|cause| {
                    BgpSettingsError::Invalid {
                        section: ".bird",
                        cause,
                    }
                })?;
                AnnouncerConfig::Bird(bird)
            }
            Mode::Speaker => {
                if bird.is_some() {
                    return Err(BgpSettingsError::Conflict(
                        "[bgp.bird] is only used with mode = \"bird\"".to_owned(),
                    ));
                }
                AnnouncerConfig::Speaker(Box::new(speaker_config(rest)?))
            }
        };
        if !settings.enabled {
            return Ok(None);
        }
        Ok(Some(BgpConfig {
            announcer,
            policy,
            on_stop,
            restart_marker,
            withdraw_file,
        }))
    }
}

/// The speaker's keys; `md5_password_file` per peer becomes `md5_password`.
fn speaker_config(mut rest: toml::Table) -> Result<SpeakerConfig, BgpSettingsError> {
    if let Some(toml::Value::Table(gr)) = rest.get("graceful_restart")
        && gr.contains_key("restarting")
    {
        return Err(BgpSettingsError::Conflict(
            "graceful_restart.restarting is set by lbctl (from restart_marker), not in the file"
                .to_owned(),
        ));
    }
    if let Some(toml::Value::Array(peers)) = rest.get_mut("peers") {
        for peer in peers.iter_mut() {
            if let toml::Value::Table(peer) = peer {
                read_md5_file(peer)?;
            }
        }
    }
    let config: SpeakerConfig = toml::Value::Table(rest)
        .try_into()
        .map_err(|cause| BgpSettingsError::Toml { section: "", cause })?;
    config
        .validate()
        .map_err(|cause| BgpSettingsError::Invalid { section: "", cause })?;
    Ok(config)
}

fn read_md5_file(peer: &mut toml::Table) -> Result<(), BgpSettingsError> {
    let Some(value) = peer.remove("md5_password_file") else {
        return Ok(());
    };
    let name = peer
        .get("address")
        .and_then(toml::Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let Some(path) = value.as_str() else {
        return Err(BgpSettingsError::Conflict(format!(
            "peers[{name}].md5_password_file: expected a path"
        )));
    };
    if peer.contains_key("md5_password") {
        return Err(BgpSettingsError::Conflict(format!(
            "peers[{name}]: set md5_password or md5_password_file, not both"
        )));
    }
    let key =
        std::fs::read_to_string(Path::new(path)).map_err(|cause| BgpSettingsError::Md5File {
            peer: name,
            path: PathBuf::from(path),
            cause,
        })?;
    // One trailing newline is an editor's, not part of the key.
    let key = key.strip_suffix('\n').unwrap_or(&key);
    peer.insert("md5_password".to_owned(), toml::Value::from(key));
    Ok(())
}

/// `withdraw_file`, or `drain_file`: its name from when `lbctl withdraw` was `lbctl drain`,
/// still read so that existing settings files keep working. Both at once is a conflict.
fn withdraw_file(rest: &mut toml::Table) -> Result<PathBuf, BgpSettingsError> {
    let new: Option<PathBuf> = take(rest, "withdraw_file", "")?;
    let old: Option<PathBuf> = take(rest, "drain_file", "")?;
    match (new, old) {
        (Some(_), Some(_)) => Err(BgpSettingsError::Conflict(
            "withdraw_file and drain_file (its former name) are both set: keep withdraw_file"
                .to_owned(),
        )),
        (Some(path), None) | (None, Some(path)) => Ok(path),
        (None, None) => Ok(PathBuf::from(DEFAULT_WITHDRAW_FILE)),
    }
}

/// Removes `key` from `table` and deserializes it.
fn take<T: DeserializeOwned>(
    table: &mut toml::Table,
    key: &str,
    section: &'static str,
) -> Result<Option<T>, BgpSettingsError> {
    table
        .remove(key)
        .map(|value| {
            value.try_into().map_err(|cause: toml::de::Error| {
                // The value alone has lost its key: put it back into the message.
                let cause = if section.is_empty() {
                    <toml::de::Error as serde::de::Error>::custom(format!("{key}: {cause}"))
                } else {
                    cause
                };
                BgpSettingsError::Toml { section, cause }
            })
        })
        .transpose()
}
