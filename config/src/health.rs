//! Health-check results as the desired-state builder consumes them.
//!
//! Pure data: the checker (elsewhere) probes; this only records the verdicts. A real server
//! without a verdict counts as healthy, so a restart or a new server does not drop to weight 0
//! before its first probe completes.

use std::collections::BTreeMap;

use crate::model::{RealServerKey, ServiceKey};

/// The latest verdict per virtual service and real server: a real server behind two services
/// is judged in each by that service's own check (they may probe different paths or ports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthResults {
    /// `true` = healthy, `false` = failing; absent = unknown (treated as healthy).
    pub by_check: BTreeMap<(ServiceKey, RealServerKey), bool>,
}

impl HealthResults {
    /// Whether the real server may take new connections of this service (unknown = yes).
    pub fn is_healthy(&self, service: &ServiceKey, real_server: &RealServerKey) -> bool {
        self.verdict(service, real_server).unwrap_or(true)
    }

    /// The verdict of the service's check of the real server, if there is one yet.
    pub fn verdict(&self, service: &ServiceKey, real_server: &RealServerKey) -> Option<bool> {
        self.by_check.get(&(*service, *real_server)).copied()
    }
}

impl FromIterator<((ServiceKey, RealServerKey), bool)> for HealthResults {
    fn from_iter<I: IntoIterator<Item = ((ServiceKey, RealServerKey), bool)>>(iter: I) -> Self {
        HealthResults {
            by_check: iter.into_iter().collect(),
        }
    }
}
