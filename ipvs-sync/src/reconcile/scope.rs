//! Which virtual services are ours. Pure.
//!
//! Only inet services whose VIP lies in a managed range belong to us; fwmark services and other
//! VIPs belong to someone else (another controller, an operator's ipvsadm) and are never
//! touched, whatever the wanted table says.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::model::ServiceId;

/// The managed VIP ranges: the boundary of everything the reconciler may edit or delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// VIP ranges (IPv4 and IPv6) whose services we own.
    pub managed: Vec<IpNetwork>,
}

impl Scope {
    /// A scope over these ranges.
    pub fn new(managed: Vec<IpNetwork>) -> Self {
        Scope { managed }
    }

    /// Whether an address lies in a managed range (families never mix).
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        self.managed.iter().any(|net| net.contains(addr))
    }

    /// Whether a service is ours: inet, with its VIP in a managed range. Fwmark services never
    /// are: their traffic is chosen by someone else's netfilter rules.
    pub fn contains(&self, id: &ServiceId) -> bool {
        match id {
            ServiceId::Inet(key) => self.contains_addr(key.vip),
            ServiceId::Fwmark { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, ServiceKey};

    use super::*;
    use crate::model::Family;

    fn inet(vip: &str) -> ServiceId {
        ServiceId::Inet(ServiceKey {
            vip: vip.parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        })
    }

    #[test]
    fn contains_only_inet_services_in_range() {
        let scope = Scope::new(vec![
            "10.0.0.0/24".parse().unwrap(),
            "2001:db8::/64".parse().unwrap(),
        ]);
        assert!(scope.contains(&inet("10.0.0.7")));
        assert!(scope.contains(&inet("2001:db8::5")));
        assert!(!scope.contains(&inet("10.0.1.7")));
        assert!(!scope.contains(&inet("2001:db9::5")));
        assert!(!scope.contains(&ServiceId::Fwmark {
            family: Family::Inet,
            mark: 1
        }));
        assert!(!Scope::default().contains(&inet("10.0.0.7")));
    }
}
