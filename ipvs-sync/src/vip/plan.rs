//! Pure planning of VIP address changes. No I/O.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Serialize;

/// Addresses to add and remove on the VIP interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VipPlan {
    /// VIPs wanted but not on the interface.
    pub add: BTreeSet<IpAddr>,
    /// Managed addresses on the interface that no service needs any more.
    pub remove: BTreeSet<IpAddr>,
}

impl VipPlan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Compares the wanted VIPs with the addresses present on the interface.
///
/// A present address outside every managed range is not ours and is never removed; a wanted VIP
/// outside the managed ranges is not added either (the config layer rejects such entries; this is
/// the second line of defence).
pub fn plan_vips(
    wanted: &BTreeSet<IpAddr>,
    present: &BTreeSet<IpAddr>,
    managed: &[IpNetwork],
) -> VipPlan {
    let in_scope = |ip: &IpAddr| managed.iter().any(|net| net.contains(*ip));
    VipPlan {
        add: wanted
            .iter()
            .filter(|ip| in_scope(ip) && !present.contains(ip))
            .copied()
            .collect(),
        remove: present
            .iter()
            .filter(|ip| in_scope(ip) && !wanted.contains(ip))
            .copied()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<IpAddr> {
        items.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn adds_missing_and_removes_stale_managed_addresses_only() {
        let managed: Vec<IpNetwork> = vec!["10.0.0.96/28".parse().unwrap()];
        let wanted = set(&["10.0.0.100", "10.0.0.101"]);
        let present = set(&["10.0.0.101", "10.0.0.102", "192.0.2.7"]);
        let plan = plan_vips(&wanted, &present, &managed);
        assert_eq!(plan.add, set(&["10.0.0.100"]));
        // 192.0.2.7 is foreign: it stays although nobody wants it.
        assert_eq!(plan.remove, set(&["10.0.0.102"]));
    }

    #[test]
    fn never_adds_outside_managed_ranges() {
        let managed: Vec<IpNetwork> = vec!["2001:db8::/64".parse().unwrap()];
        let plan = plan_vips(
            &set(&["2001:db8::1", "198.51.100.1"]),
            &BTreeSet::new(),
            &managed,
        );
        assert_eq!(plan.add, set(&["2001:db8::1"]));
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn equal_sets_plan_nothing() {
        let managed: Vec<IpNetwork> = vec!["10.0.0.0/8".parse().unwrap()];
        let s = set(&["10.1.1.1"]);
        assert!(plan_vips(&s, &s, &managed).is_empty());
    }
}
