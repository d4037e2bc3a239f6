//! The daemon settings (a TOML file): managed VIP ranges, defaults and safety limits.
//!
//! Pure: parsing takes text, never a path. Every key has a default (see `docs/settings.md`) and
//! unknown keys are errors, so typos are caught instead of silently ignored.

mod failover;
mod http;
mod ranges;
mod sections;
mod sysctls;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

pub use self::failover::{ConnectionSyncSettings, FailoverSettings, SyncRole};
pub use self::http::HttpSettings;
pub use self::ranges::{MIN_IPV4_PREFIX, MIN_IPV6_PREFIX, check_director_addresses};
pub use self::sections::{
    BgpSettings, ExecCheckSettings, HealthCheckDefaults, KubernetesSettings, MetricsSettings,
    NetfilterBackend,
};
pub use self::sysctls::ManageSysctls;
use crate::error::SettingsError;
use crate::model::{ForwardMethod, Scheduler};

/// Everything the daemon is configured with (besides the ConfigMap itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// VIPs the daemon may program. Empty (the default) = nothing is managed: every entry is
    /// rejected, so a fresh install can never touch foreign addresses. At least /8 (IPv4) or
    /// /16 (IPv6), and never holding the director's own addresses (checked at start).
    pub managed_vip_ranges: Vec<IpNetwork>,
    /// Scheduler for entries without `scheduler=`.
    pub default_scheduler: Scheduler,
    /// Forwarding method for entries without `method=`.
    pub default_forward_method: ForwardMethod,
    /// SNAT source pool for `method=fullnat` entries without `pool=`.
    pub fullnat_pool: Vec<IpNetwork>,
    /// Networks a ConfigMap entry's `pool=` may take SNAT source addresses from (besides
    /// `fullnat_pool`): without it, a ConfigMap editor could make the director send from any
    /// address. Empty (the default) = `pool=` may only pick from `fullnat_pool`.
    pub allowed_snat_ranges: Vec<IpNetwork>,
    /// Seconds a removed TCP/SCTP real server keeps weight 0 before it is deleted (unless its
    /// connections end sooner).
    pub drain_timeout_secs: u64,
    /// Same for UDP, whose "connections" never end but only expire.
    pub udp_drain_timeout_secs: u64,
    /// Seconds between full resyncs against the kernel (repairs drift).
    pub resync_period_secs: u64,
    /// Largest share (0..=1) of managed services, and of managed real servers (beyond 2), one
    /// sync may start removing without `--force`.
    pub max_delete_share: f64,
    /// How NOTRACK/SNAT rules are installed.
    pub netfilter_backend: NetfilterBackend,
    /// Whether the shared IPVS sysctls are written (`auto`: when netfilter is managed).
    pub manage_sysctls: ManageSysctls,
    /// Address of the `/metrics` and `/status` HTTP listener.
    pub listen_address: SocketAddr,
    /// Dummy interface that carries the VIPs on the director.
    pub vip_interface: String,
    /// Where the daemon keeps the last good state across restarts.
    pub state_file: PathBuf,
    /// Which ConfigMap to watch.
    pub kubernetes: KubernetesSettings,
    /// BGP announcement of VIPs (`enabled` here; the rest is read by `lb-controller`'s BGP glue).
    pub bgp: BgpSettings,
    /// Timings for health checks that do not set their own.
    pub health_check: HealthCheckDefaults,
    /// Whether ConfigMap entries may run programs as health checks (off by default).
    pub exec_checks: ExecCheckSettings,
    /// The cost of `/metrics`: snapshot reuse, endpoint level, counter offsets.
    pub metrics: MetricsSettings,
    /// HTTP listener limits and the control socket (`[http]`).
    pub http: HttpSettings,
    /// Taking over flows between directors: sloppy TCP/SCTP and the IPVS sync daemon.
    pub failover: FailoverSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            managed_vip_ranges: Vec::new(),
            default_scheduler: Scheduler::Rr,
            default_forward_method: ForwardMethod::Nat,
            fullnat_pool: Vec::new(),
            allowed_snat_ranges: Vec::new(),
            drain_timeout_secs: 300,
            udp_drain_timeout_secs: 60,
            resync_period_secs: 30,
            max_delete_share: 0.5,
            netfilter_backend: NetfilterBackend::Auto,
            manage_sysctls: ManageSysctls::Auto,
            listen_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9469),
            vip_interface: "lbvip0".to_owned(),
            state_file: PathBuf::from("/var/lib/lbctl/state.json"),
            kubernetes: KubernetesSettings::default(),
            bgp: BgpSettings::default(),
            health_check: HealthCheckDefaults::default(),
            exec_checks: ExecCheckSettings::default(),
            metrics: MetricsSettings::default(),
            http: HttpSettings::default(),
            failover: FailoverSettings::default(),
        }
    }
}

impl Settings {
    /// Parses and validates settings TOML; an empty text gives the defaults.
    pub fn from_toml_str(text: &str) -> Result<Settings, SettingsError> {
        let settings: Settings = toml::from_str(text)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that have the right type but make no sense.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &'static str, message: &str| {
            Err(SettingsError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        ranges::check_prefixes(&self.managed_vip_ranges)?;
        if !(0.0..=1.0).contains(&self.max_delete_share) {
            return invalid("max_delete_share", "expected a fraction from 0 to 1");
        }
        if self.resync_period_secs == 0 {
            return invalid("resync_period_secs", "expected at least 1 second");
        }
        if !is_interface_name(&self.vip_interface) {
            return invalid(
                "vip_interface",
                "expected an interface name of 1-15 characters without '/', ':' or spaces",
            );
        }
        if self.kubernetes.namespace.is_empty() {
            return invalid("kubernetes.namespace", "expected a namespace");
        }
        if self.kubernetes.configmap.is_empty() {
            return invalid("kubernetes.configmap", "expected a ConfigMap name");
        }
        self.health_check.validate()?;
        self.exec_checks.validate()?;
        self.failover.validate()?;
        self.http.validate()
    }

    /// For the apply path: refuses settings that manage no VIP at all.
    pub fn require_managed_ranges(&self) -> Result<(), SettingsError> {
        if self.managed_vip_ranges.is_empty() {
            return Err(SettingsError::Invalid {
                field: "managed_vip_ranges",
                message: "no managed VIP ranges: nothing may be programmed (add e.g. \
                          managed_vip_ranges = [\"203.0.113.0/24\"])"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Whether `vip` lies in one of the managed VIP ranges.
    pub fn manages(&self, vip: IpAddr) -> bool {
        self.managed_vip_ranges.iter().any(|net| net.contains(vip))
    }
}

pub(super) fn is_interface_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}
