//! Small values the client returns besides the model types (pure: no I/O).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What GET_INFO reports. Why: operators and the lab want to see which IPVS they talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsInfo {
    /// `IP_VS_VERSION_CODE`, e.g. `0x010201` for 1.2.1.
    pub version: u32,
    /// Size of the connection hash table (`ip_vs_conn_tab_size`).
    pub conn_table_size: u32,
}

impl IpvsInfo {
    /// The version as `major.minor.patch` (0x010201 -> "1.2.1").
    pub fn version_text(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}

impl fmt::Display for IpvsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IP Virtual Server version {} (size={})",
            self.version_text(),
            self.conn_table_size
        )
    }
}

/// Connection timeouts of the namespace in seconds (`ipvsadm --set tcp tcpfin udp`).
/// On write, 0 means "leave unchanged".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// How many requests a client has sent, by kind. Why: the lab asserts that a restart with
/// nothing to change issues zero writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// NEW/SET/DEL service and destination, SET_CONFIG.
    pub writes: u64,
    /// Dump requests (GET_SERVICE dump, GET_DEST).
    pub dumps: u64,
    /// Single-object reads (GET_SERVICE doit, GET_INFO, GET_CONFIG).
    pub gets: u64,
}
