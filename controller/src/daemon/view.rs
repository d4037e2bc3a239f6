//! What the daemon believes the kernel holds after its last clean pass, and with it the choice
//! between a full pass and a focused one.
//!
//! Pure. A focused pass reads and plans only the services that changed since the last clean
//! pass (and those still draining), installs netfilter rules only when they changed, and
//! touches the VIP interface only when the wanted VIPs changed: one endpoint change costs work
//! in proportion to that change, not to the table. A full pass is taken when the periodic
//! resync is due (it checks the belief against the kernel and repairs drift), when there is no
//! clean pass to start from (start-up; the last pass failed, was guarded or had a failed step),
//! or when the settings changed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use lb_config::{DesiredState, Settings};
use lb_director::netfilter::DirectorRules;
use lb_director::sync::{FocusRead, ReadMode};
use lb_ipvs_sync::reconcile::{DrainBook, Focus, Scope};
use lb_ipvs_sync::wanted::{WantedService, wanted_table, wanted_table_after};
use lb_ipvs_sync::{IpvsTable, ServiceId};

pub(crate) use lb_director::sync::Wanted;

/// The kernel as the last clean pass left it.
#[derive(Debug, Clone)]
pub(crate) struct KernelView {
    /// Settings of that pass: other settings may change scope, guard, drain or interface.
    pub(crate) settings: Arc<Settings>,
    /// The desired state that pass reached (the published `Arc`: a pass whose build found no
    /// change carries the same one).
    pub(crate) desired: Arc<DesiredState>,
    /// The wanted table that pass reached.
    pub(crate) wanted: Wanted,
    /// The table right after it.
    pub(crate) table: Arc<IpvsTable>,
    /// The VIPs on the interface after it (`None` when VIPs are not managed).
    pub(crate) vips: Option<BTreeSet<IpAddr>>,
    /// The netfilter rules it installed (`None` when netfilter is not managed).
    pub(crate) netfilter: Option<DirectorRules>,
}

/// The wanted table of `desired`: the last clean pass's own when `desired` is the very state
/// it reached (no input changed), so that neither the table is rebuilt nor the focus compares
/// it service by service ([`Focus::between`] takes the same map as no change); else mapped
/// again only for the services that are not shared with the state that pass reached.
pub(crate) fn wanted_of(view: Option<&KernelView>, desired: &Arc<DesiredState>) -> Wanted {
    match view {
        Some(view) if Arc::ptr_eq(&view.desired, desired) => Arc::clone(&view.wanted),
        Some(view) => Arc::new(wanted_table_after(
            desired,
            Some((&view.desired, &view.wanted)),
        )),
        None => Arc::new(wanted_table(desired)),
    }
}

/// Chooses how the next pass reads the kernel (see the module doc for when it is whole). The
/// one place the choice is made: the pass carries it as its [`ReadMode`].
pub(crate) fn next_pass(
    view: Option<&KernelView>,
    full_due: bool,
    settings: &Arc<Settings>,
    wanted: &BTreeMap<ServiceId, WantedService>,
    drain: &DrainBook,
) -> ReadMode {
    match view {
        Some(view) if !full_due && *view.settings == **settings => {
            let scope = Scope::new(settings.managed_vip_ranges.clone());
            ReadMode::Focus(FocusRead {
                focus: Focus::between(&view.wanted, wanted, &view.table, drain, &scope),
                table: Arc::clone(&view.table),
                vips: view.vips.clone(),
            })
        }
        _ => ReadMode::Whole,
    }
}

/// The netfilter rules a pass installs: `planned`, except on a focus whose rules are those the
/// last clean pass installed (then the step is skipped).
pub(crate) fn rules_to_install(
    view: Option<&KernelView>,
    read: &ReadMode,
    planned: Option<&DirectorRules>,
) -> Option<DirectorRules> {
    let planned = planned?;
    let unchanged = view.and_then(|v| v.netfilter.as_ref()) == Some(planned);
    match read {
        ReadMode::Focus(_) if unchanged => None,
        _ => Some(planned.clone()),
    }
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, ServiceKey};
    use lb_director::netfilter::director_rules;

    use super::*;

    fn settings(text: &str) -> Arc<Settings> {
        Arc::new(Settings::from_toml_str(text).unwrap())
    }

    fn desired(ports: &[u16]) -> DesiredState {
        let config: String = ports
            .iter()
            .map(|p| format!("10.0.0.1-{p}: 10.0.1.1:{p}, 10.0.1.2:{p}\n"))
            .collect();
        let settings = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let entries = lb_config::parse_configmap(&config).entries;
        lb_config::build_desired_state(
            &entries,
            &settings,
            &lb_config::EndpointSnapshot::default(),
            &lb_config::HealthResults::default(),
        )
        .state
    }

    fn id(port: u16) -> ServiceId {
        ServiceId::Inet(ServiceKey {
            vip: "10.0.0.1".parse().unwrap(),
            protocol: Protocol::Tcp,
            port,
        })
    }

    fn view(settings: &Arc<Settings>, state: &DesiredState) -> KernelView {
        KernelView {
            settings: Arc::clone(settings),
            desired: Arc::new(state.clone()),
            wanted: Arc::new(wanted_table(state)),
            table: Arc::new(IpvsTable::default()),
            vips: None,
            netfilter: Some(director_rules(state)),
        }
    }

    #[test]
    fn a_change_to_one_service_focuses_on_it_alone() {
        let s = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let before = desired(&[80, 81, 82]);
        let view = view(&s, &before);
        let after = wanted_table(&desired(&[80, 81, 83]));
        let pass = next_pass(Some(&view), false, &s, &after, &DrainBook::default());
        let ReadMode::Focus(read) = pass else {
            panic!("expected a focused pass, got {pass:?}");
        };
        assert_eq!(read.focus.services, BTreeSet::from([id(82), id(83)]));
        assert_eq!(read.table, view.table);
    }

    #[test]
    fn no_change_focuses_on_nothing() {
        let s = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let state = desired(&[80, 81]);
        let view = view(&s, &state);
        let pass = next_pass(Some(&view), false, &s, &view.wanted, &DrainBook::default());
        let ReadMode::Focus(read) = &pass else {
            panic!("expected a focused pass, got {pass:?}");
        };
        assert_eq!(read.focus, Focus::default());
        let rules = director_rules(&state);
        assert_eq!(rules_to_install(Some(&view), &pass, Some(&rules)), None);
        // A whole pass installs them all the same.
        assert_eq!(
            rules_to_install(Some(&view), &ReadMode::Whole, Some(&rules)),
            Some(rules)
        );
    }

    /// A pass whose desired state is the view's own reuses its wanted table (no rebuild, and
    /// the focus sees the same map); an equal but rebuilt state gets a table of its own. Fails
    /// if `wanted_of` always rebuilds.
    #[test]
    fn an_unchanged_desired_state_reuses_the_last_wanted_table() {
        let s = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let view = view(&s, &desired(&[80, 81]));
        let same = wanted_of(Some(&view), &view.desired);
        assert!(Arc::ptr_eq(&same, &view.wanted));
        let rebuilt = wanted_of(Some(&view), &Arc::new(desired(&[80, 81])));
        assert!(!Arc::ptr_eq(&rebuilt, &view.wanted));
        assert_eq!(rebuilt, view.wanted);
        assert!(!Arc::ptr_eq(&wanted_of(None, &view.desired), &view.wanted));
        let pass = next_pass(Some(&view), false, &s, &same, &DrainBook::default());
        let ReadMode::Focus(read) = pass else {
            panic!("expected a focused pass, got {pass:?}");
        };
        assert!(read.focus.is_empty());
    }

    #[test]
    fn resync_start_up_and_new_settings_take_a_full_pass() {
        let s = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let state = desired(&[80]);
        let view = view(&s, &state);
        let wanted = wanted_table(&state);
        let drain = DrainBook::default();
        assert_eq!(next_pass(None, false, &s, &wanted, &drain), ReadMode::Whole);
        assert_eq!(
            next_pass(Some(&view), true, &s, &wanted, &drain),
            ReadMode::Whole
        );
        let other = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\ndrain_timeout_secs = 5\n");
        assert_eq!(
            next_pass(Some(&view), false, &other, &wanted, &drain),
            ReadMode::Whole
        );
    }

    #[test]
    fn new_netfilter_rules_are_not_skipped() {
        let s = settings("managed_vip_ranges = [\"10.0.0.0/24\"]\n");
        let view = view(&s, &desired(&[80]));
        let focus = ReadMode::Focus(FocusRead {
            focus: Focus::default(),
            table: Arc::clone(&view.table),
            vips: None,
        });
        let new = director_rules(&desired(&[80, 81]));
        assert_eq!(rules_to_install(Some(&view), &focus, Some(&new)), Some(new));
        let old = director_rules(&desired(&[80]));
        assert_eq!(rules_to_install(None, &focus, Some(&old)), Some(old));
        assert_eq!(rules_to_install(Some(&view), &focus, None), None);
    }
}
