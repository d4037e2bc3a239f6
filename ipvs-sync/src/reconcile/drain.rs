//! Drain deadlines: the one piece of reconciler state the kernel cannot tell us.
//!
//! Contract: pure data plus JSON (de)serialization; the caller reads and writes the state file.
//! Whether something drains is derived from the kernel (weight 0 and not in the wanted table); the
//! book only remembers *until when*, so that a restart neither cuts a drain short nor restarts
//! it. Deadlines are seconds since the Unix epoch.

use std::collections::{BTreeMap, BTreeSet};

use lb_config::RealServerKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::ServiceId;

/// Drain deadlines of leaving destinations and leaving services.
///
/// Serialized as lists (JSON object keys must be strings; ours are structured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DrainBookFile", into = "DrainBookFile")]
pub struct DrainBook {
    /// Deadline of each leaving destination of a service that stays.
    pub destinations: BTreeMap<(ServiceId, RealServerKey), u64>,
    /// Deadline of each leaving service (all of its destinations drain together). An entry
    /// also records that the delete guard already let this removal start.
    pub services: BTreeMap<ServiceId, u64>,
}

/// The state file could not be read or written. The serde error is in the message, so it is
/// not also a `source()` (anyhow's `{:#}` would print it twice).
#[derive(Debug, Error)]
pub enum DrainBookError {
    /// The text is not a drain book.
    #[error("invalid drain state: {0}")]
    Parse(serde_json::Error),
    /// Serializing failed (not expected for this data).
    #[error("cannot serialize drain state: {0}")]
    Serialize(serde_json::Error),
}

impl DrainBook {
    /// Whether nothing is draining.
    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty() && self.services.is_empty()
    }

    /// Every service with a deadline (of its own or of one of its destinations).
    pub fn services(&self) -> BTreeSet<ServiceId> {
        let mut services: BTreeSet<ServiceId> = self.services.keys().copied().collect();
        services.extend(self.destinations.keys().map(|(service, _)| *service));
        services
    }

    /// The deadlines of `services` and those of every other service, apart.
    pub fn split(&self, services: &BTreeSet<ServiceId>) -> (DrainBook, DrainBook) {
        let mut inside = DrainBook::default();
        let mut outside = DrainBook::default();
        for (key, deadline) in &self.destinations {
            let book = if services.contains(&key.0) {
                &mut inside
            } else {
                &mut outside
            };
            book.destinations.insert(*key, *deadline);
        }
        for (id, deadline) in &self.services {
            let book = if services.contains(id) {
                &mut inside
            } else {
                &mut outside
            };
            book.services.insert(*id, *deadline);
        }
        (inside, outside)
    }

    /// Adds the deadlines of `other` (its entries win).
    pub fn merge(&mut self, other: DrainBook) {
        self.destinations.extend(other.destinations);
        self.services.extend(other.services);
    }

    /// Reads a state file's content. Later duplicates win.
    pub fn from_json(text: &str) -> Result<Self, DrainBookError> {
        serde_json::from_str(text).map_err(DrainBookError::Parse)
    }

    /// The state file's content (pretty, so operators can read it).
    pub fn to_json(&self) -> Result<String, DrainBookError> {
        serde_json::to_string_pretty(self).map_err(DrainBookError::Serialize)
    }
}

/// One destination that is draining, for status pages and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainStatus {
    /// Its service.
    pub service: ServiceId,
    /// The destination.
    pub destination: RealServerKey,
    /// When it gets deleted even if connections remain (seconds since the Unix epoch).
    pub deadline: u64,
    /// Active connections at the dump.
    pub active_conns: u32,
    /// Inactive connections at the dump.
    pub inactive_conns: u32,
    /// Whether the whole service is leaving (it is deleted when all its destinations drained).
    pub whole_service: bool,
}

#[derive(Serialize, Deserialize)]
struct DrainBookFile {
    #[serde(default)]
    destinations: Vec<DestinationDeadline>,
    #[serde(default)]
    services: Vec<ServiceDeadline>,
}

#[derive(Serialize, Deserialize)]
struct DestinationDeadline {
    service: ServiceId,
    destination: RealServerKey,
    deadline: u64,
}

#[derive(Serialize, Deserialize)]
struct ServiceDeadline {
    service: ServiceId,
    deadline: u64,
}

impl From<DrainBookFile> for DrainBook {
    fn from(file: DrainBookFile) -> Self {
        DrainBook {
            destinations: file
                .destinations
                .into_iter()
                .map(|d| ((d.service, d.destination), d.deadline))
                .collect(),
            services: file
                .services
                .into_iter()
                .map(|s| (s.service, s.deadline))
                .collect(),
        }
    }
}

impl From<DrainBook> for DrainBookFile {
    fn from(book: DrainBook) -> Self {
        DrainBookFile {
            destinations: book
                .destinations
                .into_iter()
                .map(|((service, destination), deadline)| DestinationDeadline {
                    service,
                    destination,
                    deadline,
                })
                .collect(),
            services: book
                .services
                .into_iter()
                .map(|(service, deadline)| ServiceDeadline { service, deadline })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, ServiceKey};

    use super::*;
    use crate::model::Family;

    #[test]
    fn json_round_trip_keeps_every_deadline() {
        let svc = ServiceId::Inet(ServiceKey {
            vip: "2001:db8::1".parse().unwrap(),
            protocol: Protocol::Udp,
            port: 53,
        });
        let rs = RealServerKey {
            addr: "10.0.1.1".parse().unwrap(),
            port: 5353,
        };
        let mut book = DrainBook::default();
        book.destinations.insert((svc, rs), 1_700_000_300);
        book.services.insert(
            ServiceId::Fwmark {
                family: Family::Inet6,
                mark: 9,
            },
            42,
        );
        let text = book.to_json().unwrap();
        assert!(text.contains("1700000300"), "{text}");
        assert_eq!(DrainBook::from_json(&text).unwrap(), book);
        assert!(DrainBook::from_json("{}").unwrap().is_empty());
        assert!(matches!(
            DrainBook::from_json("[1]"),
            Err(DrainBookError::Parse(_))
        ));
    }
}
