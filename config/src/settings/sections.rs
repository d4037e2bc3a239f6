//! The nested sections of the settings: Kubernetes, BGP, health-check defaults, metrics,
//! netfilter backend.
//!
//! Pure data with serde defaults; unknown keys are errors like at the top level, except in
//! `[bgp]`, whose keys beyond `enabled` are checked by `lb-controller` against the announcer's types.

use serde::{Deserialize, Serialize};

use crate::error::SettingsError;

/// How netfilter rules (NOTRACK, SNAT) are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetfilterBackend {
    /// Detect: nftables when `nft` works, else iptables.
    Auto,
    /// `iptables-restore` (whatever backend the system's iptables uses).
    Iptables,
    /// `iptables-legacy-restore` explicitly.
    IptablesLegacy,
    /// `nft` with our own table.
    Nftables,
    /// Install nothing: the operator manages NOTRACK/SNAT rules.
    #[serde(rename = "none")]
    Disabled,
}

/// Where the ConfigMap lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Namespace of the ConfigMap.
    pub namespace: String,
    /// Name of the ConfigMap.
    pub configmap: String,
    /// Accept an `http://` API server (tests, `kubectl proxy` on loopback). Off by default:
    /// over plain HTTP anyone on the path can read the credentials and rewrite the ConfigMap
    /// and the endpoints the director programs.
    pub allow_insecure_http: bool,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            namespace: "kube-system".to_owned(),
            configmap: "lvs-vips".to_owned(),
            allow_insecure_http: false,
        }
    }
}

/// BGP announcement of VIPs that have serving real servers (weight > 0 in the kernel).
///
/// lb-config stays free of the announcer crate: besides `enabled`, the section is kept as raw
/// TOML (`rest`) that `lbctl` deserializes into the announcer's own types (with unknown-key
/// checks that name the field) when it starts the speaker. See docs/bgp.md for the keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BgpSettings {
    /// Whether to announce VIPs at all.
    pub enabled: bool,
    /// Every other key of `[bgp]` (speaker, peers, `[bgp.policy]`, `mode`, `[bgp.bird]`).
    #[serde(flatten)]
    pub rest: toml::Table,
}

/// Timings of health checks whose entry does not set `check-interval=` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheckDefaults {
    /// Seconds between probes.
    pub interval_secs: u32,
    /// Seconds before a probe counts as failed.
    pub timeout_secs: u32,
    /// Consecutive successes to become healthy.
    pub rise: u32,
    /// Consecutive failures to become unhealthy.
    pub fall: u32,
}

impl Default for HealthCheckDefaults {
    fn default() -> Self {
        HealthCheckDefaults {
            interval_secs: 5,
            timeout_secs: 2,
            rise: 2,
            fall: 3,
        }
    }
}

impl HealthCheckDefaults {
    /// Checks that every timing is at least 1.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fields = [
            ("health_check.interval_secs", self.interval_secs),
            ("health_check.timeout_secs", self.timeout_secs),
            ("health_check.rise", self.rise),
            ("health_check.fall", self.fall),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    field,
                    message: "expected at least 1".to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The cost of `/metrics` on large tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// A scrape reuses the last IPVS dump when it is at most this many milliseconds old, so
    /// several Prometheus replicas scraping together cost one dump (0: dump on every scrape).
    pub max_snapshot_age_ms: u64,
    /// Export the per-endpoint series (`lvs_endpoint_*`). Off for very large tables; the
    /// per-service series stay.
    pub endpoint_level: bool,
    /// Also export the kernel's per-endpoint rate estimates (`lvs_endpoint_rate_*`, five
    /// series per real server). Off by default: `rate()` over the counters gives the same, and
    /// at 100,000 real servers they would add half a million series per scrape.
    pub endpoint_rates: bool,
    /// Seconds the counter offsets of a vanished service or endpoint are kept, so that one
    /// that comes back within this time continues its series instead of restarting it.
    pub offset_retention_secs: u64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            max_snapshot_age_ms: 1000,
            endpoint_level: true,
            endpoint_rates: false,
            offset_retention_secs: 3600,
        }
    }
}

/// Whether ConfigMap entries may use `check=exec:PROGRAM`, and which programs.
///
/// Off by default: whoever edits the ConfigMap is not root on the director, so a program named
/// in ConfigMap text runs only when the director's administrator has listed a directory it lies
/// in. The daemon runs such programs as `user`, with no capabilities and an empty environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecCheckSettings {
    /// Allow exec checks at all.
    pub enabled: bool,
    /// Absolute directories the programs must lie in (after resolving symbolic links, and the
    /// directories must be root-owned and not writable by others; the daemon checks that
    /// before each run).
    pub allowed_directories: Vec<std::path::PathBuf>,
    /// The unprivileged user the programs run as (never root).
    pub user: String,
}

impl Default for ExecCheckSettings {
    fn default() -> Self {
        ExecCheckSettings {
            enabled: false,
            allowed_directories: Vec::new(),
            user: "nobody".to_owned(),
        }
    }
}

impl ExecCheckSettings {
    /// Checks the directories are absolute and plain, and that a user is named.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |message: String| SettingsError::Invalid {
            field: "exec_checks",
            message,
        };
        if self.user.is_empty() || self.user == "root" {
            return Err(invalid(
                "user: expected an unprivileged user name (not root)".to_owned(),
            ));
        }
        for dir in &self.allowed_directories {
            if !crate::policy::is_plain_absolute(dir) {
                return Err(invalid(format!(
                    "allowed_directories: {:?} is not an absolute path without '..'",
                    dir.display().to_string()
                )));
            }
        }
        if self.enabled && self.allowed_directories.is_empty() {
            return Err(invalid(
                "enabled = true needs at least one allowed_directories entry".to_owned(),
            ));
        }
        Ok(())
    }
}
