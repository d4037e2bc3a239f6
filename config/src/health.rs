//! Health-check results as the desired-state builder consumes them.
//!
//! Pure data: the checker (elsewhere) probes; this only records the verdicts. A real server
//! without a verdict counts as healthy, so a restart or a new server does not drop to weight 0
//! before its first probe completes.

use std::collections::BTreeMap;

use crate::model::RealServerKey;

/// The latest verdict per real server (address and port).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthResults {
    /// `true` = healthy, `false` = failing; absent = unknown (treated as healthy).
    pub by_real_server: BTreeMap<RealServerKey, bool>,
}

impl HealthResults {
    /// Whether the real server may take new connections (unknown = yes).
    pub fn is_healthy(&self, key: &RealServerKey) -> bool {
        self.by_real_server.get(key).copied().unwrap_or(true)
    }
}

impl FromIterator<(RealServerKey, bool)> for HealthResults {
    fn from_iter<I: IntoIterator<Item = (RealServerKey, bool)>>(iter: I) -> Self {
        HealthResults {
            by_real_server: iter.into_iter().collect(),
        }
    }
}
