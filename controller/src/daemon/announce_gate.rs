//! Which VIPs BGP may announce: a VIP attracts traffic only when this director can take it.
//!
//! Pure. A VIP is announceable when one of its services in the kernel has a real server of
//! weight > 0 and that service can really
//! forward: the VIP's address is on the VIP interface (when lbctl manages the addresses) and,
//! for a FullNAT service, its SNAT rules are installed (when lbctl manages netfilter). Without
//! the address the director drops the packets; without SNAT the real servers answer the client
//! directly and the connection fails. Both are known only from what passes confirmed: a VIP
//! step that fails part-way confirms the addresses it saw or added (none when the interface
//! itself fails), and a failed netfilter step keeps what the last successful one installed
//! (iptables-restore and nft apply a rule set whole or not at all, so the old rules stay).

use std::collections::BTreeSet;
use std::net::IpAddr;

use lb_config::{DesiredState, ServiceKey};
use lb_director::netfilter::DirectorRules;
use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::Scope;

/// What the passes confirmed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AnnounceGate {
    /// VIP addresses confirmed on the VIP interface (`None`: lbctl does not manage them, so the
    /// operator vouches for them).
    on_interface: Option<BTreeSet<IpAddr>>,
    /// Services whose SNAT rules the last successful netfilter sync installed (`None`: lbctl
    /// does not manage netfilter).
    snat_installed: Option<BTreeSet<ServiceKey>>,
}

impl AnnounceGate {
    /// Nothing confirmed yet: with addresses or netfilter managed, nothing that depends on
    /// them is announceable until a pass confirms it.
    pub(crate) fn new(manage_vips: bool, manage_netfilter: bool) -> AnnounceGate {
        AnnounceGate {
            on_interface: manage_vips.then(BTreeSet::new),
            snat_installed: manage_netfilter.then(BTreeSet::new),
        }
    }

    /// A pass confirmed these addresses on the interface (`None`: it did not look; keep).
    pub(crate) fn record_vips(&mut self, confirmed: Option<&BTreeSet<IpAddr>>) {
        if let (Some(known), Some(confirmed)) = (self.on_interface.as_mut(), confirmed) {
            known.clone_from(confirmed);
        }
    }

    /// A netfilter sync installed `rules` (call only when it succeeded).
    pub(crate) fn record_netfilter(&mut self, rules: &DirectorRules) {
        if let Some(known) = self.snat_installed.as_mut() {
            *known = rules.rules.snat.iter().map(|rule| rule.service).collect();
        }
    }

    /// The announceable VIPs of `table` (see the module docs).
    pub(crate) fn announceable(
        &self,
        table: &IpvsTable,
        scope: &Scope,
        desired: &DesiredState,
    ) -> BTreeSet<IpAddr> {
        table
            .services
            .iter()
            .filter(|(id, _)| scope.contains(id))
            .filter(|(_, s)| s.destinations.values().any(|d| d.spec.weight > 0))
            .filter_map(|(id, _)| id.inet())
            .filter(|key| {
                self.on_interface
                    .as_ref()
                    .is_none_or(|on| on.contains(&key.vip))
            })
            .filter(|key| {
                !desired.netfilter.snat.contains_key(key)
                    || self
                        .snat_installed
                        .as_ref()
                        .is_none_or(|installed| installed.contains(key))
            })
            .map(|key| key.vip)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{EndpointSnapshot, HealthResults, Settings, build_desired_state};
    use lb_director::netfilter::director_rules;
    use lb_ipvs_sync::IpvsKernel;
    use lb_ipvs_sync::fake::FakeKernel;
    use lb_ipvs_sync::reconcile::{DrainBook, PlanOptions, plan};
    use lb_ipvs_sync::wanted::wanted_table;

    use super::*;

    const CONFIGMAP: &str = "\
10.0.0.100-80: 10.0.1.11:80
10.0.0.101-80: 10.0.1.11:80; method=fullnat
10.0.0.102-80: 10.0.1.11:80
10.0.0.102-81: 10.0.1.11:80; method=fullnat
";

    /// The desired state of `CONFIGMAP` and the kernel table a sync makes of it.
    fn programmed() -> (DesiredState, IpvsTable, Scope) {
        let settings = Settings::from_toml_str(
            "managed_vip_ranges = [\"10.0.0.96/28\"]\nfullnat_pool = [\"10.0.1.250/32\"]",
        )
        .unwrap();
        let parsed = lb_config::parse_configmap(CONFIGMAP);
        let desired = build_desired_state(
            &parsed.entries,
            &settings,
            &EndpointSnapshot::default(),
            &HealthResults::default(),
        )
        .state;
        let scope = Scope::new(settings.managed_vip_ranges.clone());
        let mut kernel = FakeKernel::default();
        let options = PlanOptions {
            max_delete_share: 1.0,
            force: true,
            drain_timeout_secs: 0,
            udp_drain_timeout_secs: 0,
        };
        let planned = plan(
            &wanted_table(&desired),
            &IpvsTable::default(),
            &scope,
            &DrainBook::default(),
            0,
            &options,
        );
        for op in &planned.operations {
            kernel.apply(op).unwrap();
        }
        let table = kernel.dump().unwrap();
        (desired, table, scope)
    }

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// Mutation: announcing every serving VIP (the former rule) announces 10.0.0.100 before
    /// its address is on the interface and 10.0.0.101 before its SNAT rules exist.
    #[test]
    fn a_vip_waits_for_its_address_and_for_fullnat_its_snat_rules() {
        let (desired, table, scope) = programmed();
        let mut gate = AnnounceGate::new(true, true);
        assert!(gate.announceable(&table, &scope, &desired).is_empty());

        // Addresses confirmed, no netfilter sync yet: only the NAT services can forward
        // (10.0.0.102 keeps its NAT port 80, so it may be announced).
        gate.record_vips(Some(&ips(&["10.0.0.100", "10.0.0.101", "10.0.0.102"])));
        assert_eq!(
            gate.announceable(&table, &scope, &desired),
            ips(&["10.0.0.100", "10.0.0.102"])
        );

        // The SNAT rules installed: the FullNAT-only VIP joins.
        gate.record_netfilter(&director_rules(&desired));
        assert_eq!(
            gate.announceable(&table, &scope, &desired),
            ips(&["10.0.0.100", "10.0.0.101", "10.0.0.102"])
        );

        // A pass that did not look (None) keeps what was confirmed; a pass that confirmed
        // fewer addresses (one could not be added) withdraws that VIP.
        gate.record_vips(None);
        assert_eq!(gate.announceable(&table, &scope, &desired).len(), 3);
        gate.record_vips(Some(&ips(&["10.0.0.101", "10.0.0.102"])));
        assert_eq!(
            gate.announceable(&table, &scope, &desired),
            ips(&["10.0.0.101", "10.0.0.102"])
        );
    }

    #[test]
    fn what_lbctl_does_not_manage_does_not_hold_a_vip_back() {
        let (desired, table, scope) = programmed();
        let gate = AnnounceGate::new(false, false);
        assert_eq!(
            gate.announceable(&table, &scope, &desired),
            ips(&["10.0.0.100", "10.0.0.101", "10.0.0.102"])
        );
    }
}
