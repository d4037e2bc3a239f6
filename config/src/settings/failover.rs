//! `[failover]`: what lets another director take over a flow this one scheduled.
//!
//! Behind routers that spread flows over several directors (ECMP), a flow lands on another
//! director when one dies, restarts or its route moves. That director keeps the flow only if it
//! accepts packets from the middle of a connection it did not see start (`sloppy_tcp`,
//! `sloppy_sctp`) and sends them to the same real server: by consistent hashing (`mh`) or
//! because the IPVS sync daemon told it about the connection (`[failover.connection_sync]`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::SettingsError;

/// The role of an IPVS sync daemon: the kernel runs at most one of each per network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRole {
    /// Sends this director's connections to the group.
    Master,
    /// Receives the other directors' connections from the group.
    Backup,
}

impl SyncRole {
    /// The name `ipvsadm --start-daemon` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

impl std::fmt::Display for SyncRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[failover]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailoverSettings {
    /// `net.ipv4.vs.sloppy_tcp = 1`: accept a TCP connection that starts with a packet other
    /// than SYN, so a director taking over a flow schedules it instead of dropping it.
    pub sloppy_tcp: bool,
    /// `net.ipv4.vs.sloppy_sctp = 1`: the same for SCTP (a flow may start without INIT).
    pub sloppy_sctp: bool,
    /// The IPVS connection sync daemon (off unless `roles` names one).
    pub connection_sync: ConnectionSyncSettings,
}

/// `[failover.connection_sync]`: the kernel's IPVS sync daemon (`ipvsadm --start-daemon`).
///
/// A master multicasts the state of this director's connections; a backup installs the
/// connections it hears, so that after a failover it already knows which real server each flow
/// belongs to (needed for NAT and FullNAT, or for any scheduler other than `mh`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSyncSettings {
    /// Which daemons lbctl runs: `[]` (the default: lbctl leaves the sync daemons alone),
    /// `["master"]`, `["backup"]` or both (every director sends and receives).
    pub roles: Vec<SyncRole>,
    /// The interface the multicast goes out of and is received on (a dedicated sync link or
    /// the directors' shared network). Required when `roles` is not empty.
    pub interface: String,
    /// Sync id (0-255): a backup accepts only messages of its id, so several director groups
    /// can share one network.
    pub sync_id: u32,
    /// Multicast group; `None`: the kernel's 224.0.0.81. An IPv6 group makes the daemon use
    /// IPv6.
    pub group: Option<IpAddr>,
    /// UDP port (the kernel's default is 8848).
    pub port: u16,
    /// Multicast TTL (1: the directors share one link).
    pub ttl: u8,
    /// Largest sync message payload in bytes; 0: derived by the kernel from the interface MTU.
    pub max_message_bytes: u16,
    /// `net.ipv4.vs.sync_version` (0: the format of kernels before 2.6.39, for mixed
    /// clusters; 1: the current one). `None`: left as the kernel has it (1).
    pub sync_version: Option<u32>,
    /// `net.ipv4.vs.sync_refresh_period` in seconds: an established connection is sent again
    /// at least this often, so a backup keeps long idle connections that would otherwise
    /// expire there. `None`: left as the kernel has it (0: resent only by packet count).
    pub refresh_period_secs: Option<u32>,
    /// `net.ipv4.vs.sync_threshold` as `[threshold, period]`: a connection is sent once it has
    /// seen `threshold` packets, then every `period` packets (0: only on state changes).
    /// `None`: left as the kernel has it (3, 50).
    pub sync_threshold: Option<[u32; 2]>,
}

impl Default for ConnectionSyncSettings {
    fn default() -> Self {
        ConnectionSyncSettings {
            roles: Vec::new(),
            interface: String::new(),
            sync_id: 0,
            group: None,
            port: 8848,
            ttl: 1,
            max_message_bytes: 0,
            sync_version: None,
            refresh_period_secs: None,
            sync_threshold: None,
        }
    }
}

impl ConnectionSyncSettings {
    /// Whether lbctl runs any sync daemon.
    pub fn enabled(&self) -> bool {
        !self.roles.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &'static str, message: &str| {
            Err(SettingsError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        let mut roles = self.roles.clone();
        roles.sort();
        roles.dedup();
        if roles.len() != self.roles.len() {
            return invalid(
                "failover.connection_sync.roles",
                "a role is listed twice (expected \"master\", \"backup\" or both)",
            );
        }
        if !self.enabled() {
            return Ok(());
        }
        if !super::is_interface_name(&self.interface) {
            return invalid(
                "failover.connection_sync.interface",
                "expected the name of the sync interface (1-15 characters): the sync daemon \
                 needs one when `roles` is set",
            );
        }
        if self.sync_id > 255 {
            return invalid(
                "failover.connection_sync.sync_id",
                "expected 0-255 (the sync protocol carries one byte)",
            );
        }
        if let Some(group) = self.group
            && !group.is_multicast()
        {
            return invalid(
                "failover.connection_sync.group",
                "expected a multicast address (224.0.0.0/4 or ff00::/8)",
            );
        }
        if self.port == 0 {
            return invalid("failover.connection_sync.port", "expected a port 1-65535");
        }
        if self.ttl == 0 {
            return invalid("failover.connection_sync.ttl", "expected a TTL 1-255");
        }
        if let Some([threshold, period]) = self.sync_threshold
            && period != 0
            && threshold >= period
        {
            return invalid(
                "failover.connection_sync.sync_threshold",
                "expected [threshold, period] with threshold < period (or period 0), e.g. [3, 50]",
            );
        }
        if self.sync_version.is_some_and(|v| v > 1) {
            return invalid(
                "failover.connection_sync.sync_version",
                "expected 0 (pre-2.6.39 format) or 1",
            );
        }
        Ok(())
    }
}

impl FailoverSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        self.connection_sync.validate()
    }
}

#[cfg(test)]
mod tests {
    use crate::Settings;

    use super::*;

    #[test]
    fn defaults_leave_failover_to_the_operator() {
        // Mutation: a default of `sloppy_tcp = true` or a default role would change the shared
        // sysctls or start a kernel thread on every director that never asked for it.
        let settings = Settings::default();
        assert!(!settings.failover.sloppy_tcp);
        assert!(!settings.failover.sloppy_sctp);
        assert!(!settings.failover.connection_sync.enabled());
        assert_eq!(settings.failover.connection_sync.port, 8848);
    }

    #[test]
    fn a_full_section_parses() {
        let settings = Settings::from_toml_str(
            "[failover]\nsloppy_tcp = true\nsloppy_sctp = true\n\
             [failover.connection_sync]\nroles = [\"master\", \"backup\"]\ninterface = \"eth1\"\n\
             sync_id = 7\ngroup = \"239.1.2.3\"\nport = 9000\nttl = 2\nmax_message_bytes = 1400\n",
        )
        .unwrap();
        let sync = &settings.failover.connection_sync;
        assert!(settings.failover.sloppy_tcp && settings.failover.sloppy_sctp);
        assert_eq!(sync.roles, [SyncRole::Master, SyncRole::Backup]);
        assert_eq!(sync.interface, "eth1");
        assert_eq!(sync.sync_id, 7);
        assert_eq!(sync.group, Some("239.1.2.3".parse().unwrap()));
        assert_eq!(
            (sync.port, sync.ttl, sync.max_message_bytes),
            (9000, 2, 1400)
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        // Mutation: dropping any check below lets the kernel refuse the daemon with a bare
        // EINVAL at every pass instead of a settings error at start.
        let cases = [
            ("roles = [\"master\"]\n", "connection_sync.interface"),
            (
                "roles = [\"master\", \"master\"]\ninterface = \"eth1\"\n",
                "connection_sync.roles",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\nsync_id = 256\n",
                "connection_sync.sync_id",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\ngroup = \"10.0.0.1\"\n",
                "connection_sync.group",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\nttl = 0\n",
                "connection_sync.ttl",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\nport = 0\n",
                "connection_sync.port",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\nsync_version = 2\n",
                "connection_sync.sync_version",
            ),
            (
                "roles = [\"backup\"]\ninterface = \"eth1\"\nsync_threshold = [50, 50]\n",
                "connection_sync.sync_threshold",
            ),
            ("roles = [\"primary\"]\n", "roles"),
        ];
        for (section, field) in cases {
            let text = format!("[failover.connection_sync]\n{section}");
            let error = Settings::from_toml_str(&text).unwrap_err().to_string();
            assert!(error.contains(field), "{text}: {error}");
        }
    }
}
