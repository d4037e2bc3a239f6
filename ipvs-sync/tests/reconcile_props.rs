//! Properties of planning + applying, over random kernels (inside and outside the managed
//! range) and random wanted tables, driven through the fake kernel until drains are over:
//! - the managed part ends equal to the wanted table, the foreign part is untouched;
//! - every planned operation is accepted by the kernel, and the plan right after is empty;
//! - planning is deterministic; no operation names an out-of-scope service;
//! - nothing in the wanted table is ever deleted;
//! - a focused pass writes, for each service of its focus, exactly what a full pass writes,
//!   and nothing for any other service; a focus taken from the last clean pass's wanted table sees
//!   every change, so the focused pass leaves the kernel where the full pass would;
//! - the table before a pass plus the writes the kernel acknowledged equals a dump taken after
//!   it (adds, edits, deletes, drain quiesces, refused writes), and reads back clean.

use std::collections::{BTreeMap, BTreeSet};

use lb_config::{Protocol, RealServerKey};
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::reconcile::{
    DrainBook, Focus, MAX_FREE_REAL_SERVER_REMOVALS, PlanOptions, Scope, guard, plan, predict,
    read_back_differences, sync_focused, sync_once, sync_once_observed, written_services,
};
use lb_ipvs_sync::test_util::{NOW, Wanted, fwmark, rs, scope, svc};
use lb_ipvs_sync::wanted::WantedService;
use lb_ipvs_sync::{
    DestinationSpec, IpvsKernel, IpvsTable, KernelForward, ObservedDestination, ObservedService,
    Operation, ServiceId, ServiceSpec, Stats, TunnelSpec,
};
use proptest::prelude::*;

fn managed_id() -> impl Strategy<Value = ServiceId> {
    (
        1u8..=5,
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)],
    )
        .prop_map(|(n, p)| svc(&format!("10.0.0.{n}"), p, 80))
}

fn foreign_id() -> impl Strategy<Value = ServiceId> {
    prop_oneof![
        (1u8..=3).prop_map(|n| svc(&format!("192.168.0.{n}"), Protocol::Tcp, 80)),
        (1u32..=3).prop_map(fwmark),
    ]
}

fn any_id() -> impl Strategy<Value = ServiceId> {
    prop_oneof![3 => managed_id(), 1 => foreign_id()]
}

fn settings() -> impl Strategy<Value = (String, u32, u32, u8)> {
    (
        prop_oneof![Just("rr"), Just("wrr"), Just("mh")],
        prop_oneof![Just(0u32), Just(0x1), Just(0x8 | 0x10), Just(0x1 | 0x8)],
        prop_oneof![Just(0u32), Just(300)],
        prop_oneof![Just(32u8), Just(24)],
    )
        .prop_map(|(s, f, t, m)| (s.to_owned(), f, t, m))
}

fn tunnel() -> impl Strategy<Value = Option<TunnelSpec>> {
    prop_oneof![
        Just(None),
        Just(Some(TunnelSpec {
            tun_type: 0,
            port: 0,
            flags: 0
        })),
        Just(Some(TunnelSpec {
            tun_type: 1,
            port: 6080,
            flags: 0
        })),
        Just(Some(TunnelSpec {
            tun_type: 2,
            port: 0,
            flags: 0
        })),
    ]
}

fn destination(key: RealServerKey) -> impl Strategy<Value = DestinationSpec> {
    (
        prop_oneof![
            Just(KernelForward::Masq),
            Just(KernelForward::Route),
            Just(KernelForward::Tunnel)
        ],
        0u32..4,
        0u32..3,
        0u32..3,
        tunnel(),
    )
        .prop_map(
            move |(forward, weight, upper, lower_part, tunnel)| DestinationSpec {
                key,
                forward,
                weight,
                upper_threshold: upper,
                lower_threshold: lower_part.min(upper),
                // Non-tunnel destinations carry at most what a 5.2+ kernel reports (IPIP zeros).
                tunnel: if forward == KernelForward::Tunnel {
                    tunnel
                } else {
                    tunnel.filter(|t| t.tun_type == 0)
                },
            },
        )
}

fn rs_key() -> impl Strategy<Value = RealServerKey> {
    (1u8..=5).prop_map(|n| rs(&format!("10.0.1.{n}"), 8080))
}

fn destinations() -> impl Strategy<Value = BTreeMap<RealServerKey, DestinationSpec>> {
    prop::collection::btree_set(rs_key(), 0..4).prop_flat_map(|keys| {
        keys.into_iter()
            .map(|k| destination(k).prop_map(move |d| (k, d)))
            .collect::<Vec<_>>()
            .prop_map(|pairs| pairs.into_iter().collect())
    })
}

fn service_spec(
    id: ServiceId,
    (scheduler, flags, timeout, netmask): (String, u32, u32, u8),
) -> ServiceSpec {
    ServiceSpec {
        id,
        scheduler: scheduler.into(),
        flags,
        timeout,
        netmask_prefix: netmask,
        pe_name: None,
    }
}

fn observed_table() -> impl Strategy<Value = IpvsTable> {
    let service = (
        settings(),
        destinations(),
        prop::collection::vec((0u32..3, 0u32..3), 4),
    );
    prop::collection::btree_map(any_id(), service, 0..6).prop_map(|services| IpvsTable {
        services: services
            .into_iter()
            .map(|(id, (s, dests, conns))| {
                let destinations = dests
                    .into_iter()
                    .enumerate()
                    .map(|(i, (k, spec))| {
                        let (active, inactive) = conns[i % conns.len()];
                        let d = ObservedDestination {
                            spec,
                            active_conns: active,
                            inactive_conns: inactive,
                            persist_conns: 0,
                            stats: Stats::default(),
                        };
                        (k, d)
                    })
                    .collect();
                let service = ObservedService {
                    spec: service_spec(id, s),
                    stats: Stats::default(),
                    destinations,
                };
                (id, std::sync::Arc::new(service))
            })
            .collect(),
    })
}

/// Wanted tables mostly in scope, sometimes with an out-of-scope entry (which must be refused).
fn wanted_table() -> impl Strategy<Value = Wanted> {
    prop::collection::btree_map(any_id(), (settings(), destinations()), 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(id, (s, destinations))| {
                let spec = service_spec(id, s);
                (
                    id,
                    WantedService {
                        spec,
                        destinations: destinations.into(),
                    },
                )
            })
            .collect()
    })
}

type Shape = (
    ServiceSpec,
    Vec<(
        RealServerKey,
        KernelForward,
        u32,
        u32,
        u32,
        Option<TunnelSpec>,
    )>,
);

/// Settings only (no counters), tunnel normalised as a 5.2+ kernel reports it.
fn shape(spec: &ServiceSpec, dests: impl Iterator<Item = DestinationSpec>) -> Shape {
    let dests = dests
        .map(|d| {
            let tunnel = match d.forward {
                KernelForward::Tunnel => Some(d.tunnel.unwrap_or(TunnelSpec {
                    tun_type: 0,
                    port: 0,
                    flags: 0,
                })),
                _ => None,
            };
            (
                d.key,
                d.forward,
                d.weight,
                d.upper_threshold,
                d.lower_threshold,
                tunnel,
            )
        })
        .collect();
    (spec.clone(), dests)
}

fn table_shapes(
    table: &IpvsTable,
    keep: impl Fn(&ServiceId) -> bool,
) -> BTreeMap<ServiceId, Shape> {
    table
        .services
        .iter()
        .filter(|(id, _)| keep(id))
        .map(|(id, s)| {
            (
                *id,
                shape(&s.spec, s.destinations.values().map(|d| d.spec.clone())),
            )
        })
        .collect()
}

fn check_operations(
    ops: &[Operation],
    wanted: &Wanted,
    scope: &Scope,
) -> Result<(), TestCaseError> {
    for op in ops {
        prop_assert!(scope.contains(op.service()), "out of scope: {op:?}");
        match op {
            Operation::DeleteService { service } => {
                prop_assert!(
                    !wanted.contains_key(service),
                    "deletes a wanted service: {op:?}"
                );
            }
            Operation::DeleteDestination {
                service,
                destination,
            } => {
                let kept = wanted
                    .get(service)
                    .is_some_and(|t| t.destinations.contains_key(destination));
                prop_assert!(!kept, "deletes a wanted destination: {op:?}");
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reconciling_converges_on_the_managed_part_only(
        observed in observed_table(),
        wanted in wanted_table(),
        clear_connections_first in any::<bool>(),
        tunnel_attrs_always in any::<bool>(),
        udp_drain in prop_oneof![Just(0u64), Just(30)],
    ) {
        let scope = scope();
        let options = PlanOptions {
            max_delete_share: 0.5,
            force: true,
            drain_timeout_secs: 300,
            udp_drain_timeout_secs: udp_drain,
        };
        let mut kernel = FakeKernel::new(observed.clone());
        if tunnel_attrs_always {
            kernel = kernel.with_tunnel_attrs_always();
        }
        let mut book = DrainBook::default();
        let mut now = NOW;
        let mut converged = false;
        for _ in 0..5 {
            let table = kernel.dump().unwrap();
            let p = plan(&wanted, &table, &scope, &book, now, &options);
            prop_assert_eq!(&p, &plan(&wanted, &table, &scope, &book, now, &options));
            check_operations(&p.operations, &wanted, &scope)?;
            for r in &p.refused {
                prop_assert!(!scope.contains(&r.service));
            }
            if p.is_empty() && p.draining.is_empty() {
                converged = true;
                break;
            }
            for op in &p.operations {
                kernel.apply(op).map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
            }
            book = p.drain;
            if clear_connections_first {
                kernel.clear_connections();
            } else {
                now += 301;
            }
        }
        prop_assert!(converged, "no convergence in 5 passes");

        let end = kernel.dump().unwrap();
        let managed = table_shapes(&end, |id| scope.contains(id));
        let wanted_shapes: BTreeMap<ServiceId, Shape> = wanted
            .iter()
            .filter(|(id, _)| scope.contains(id))
            .map(|(id, t)| (*id, shape(&t.spec, t.destinations.values().cloned())))
            .collect();
        prop_assert_eq!(managed, wanted_shapes);
        let foreign_after = table_shapes(&end, |id| !scope.contains(id));
        let foreign_before = table_shapes(&observed, |id| !scope.contains(id));
        prop_assert_eq!(foreign_after, foreign_before);
    }

    #[test]
    fn a_plan_applied_leaves_nothing_to_do_but_drains(
        observed in observed_table(),
        wanted in wanted_table(),
    ) {
        let scope = scope();
        let options = PlanOptions { force: true, ..lb_ipvs_sync::test_util::options() };
        let mut kernel = FakeKernel::new(observed);
        let first = plan(&wanted, kernel.table(), &scope, &DrainBook::default(), NOW, &options);
        for op in &first.operations {
            kernel.apply(op).map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
        }
        let second = plan(&wanted, kernel.table(), &scope, &first.drain, NOW, &options);
        prop_assert!(second.is_empty(), "{}", second);
        // Deadlines carry over unchanged; those of objects deleted in between are dropped.
        for (key, deadline) in &second.drain.destinations {
            prop_assert_eq!(first.drain.destinations.get(key), Some(deadline));
        }
        for (id, deadline) in &second.drain.services {
            prop_assert_eq!(first.drain.services.get(id), Some(deadline));
        }
        prop_assert_eq!(second.deletes_services, 0);
    }

    /// The operations come in the documented apply order: added services, edited services,
    /// added destinations, edited destinations, drain quiesces, deleted destinations, deleted
    /// services, each group by service, then destination, none twice; also for a plan that
    /// continues drains (a later time, the first plan's book). Mutation: the planner putting
    /// the edited services after the added destinations (`end_services` not appending them,
    /// `into_operations` doing it after the destinations) fails it.
    #[test]
    fn operations_come_in_apply_order(
        observed in observed_table(),
        wanted in wanted_table(),
        continued in any::<bool>(),
    ) {
        let scope = scope();
        let options = PlanOptions { force: true, ..lb_ipvs_sync::test_util::options() };
        let mut p = plan(&wanted, &observed, &scope, &DrainBook::default(), NOW, &options);
        if continued {
            p = plan(&wanted, &observed, &scope, &p.drain, NOW + 100, &options);
        }
        let order = |op: &Operation| {
            let (rank, destination) = match op {
                Operation::AddService { .. } => (0, None),
                Operation::EditService { .. } => (1, None),
                Operation::AddDestination { destination, .. } => (2, Some(destination.key)),
                Operation::EditDestination { destination, .. } => {
                    (if p.is_quiesce(op) { 4 } else { 3 }, Some(destination.key))
                }
                Operation::DeleteDestination { destination, .. } => (5, Some(*destination)),
                Operation::DeleteService { .. } => (6, None),
            };
            (rank, *op.service(), destination)
        };
        let keys: Vec<_> = p.operations.iter().map(order).collect();
        prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "{:?}", keys);
    }

    /// The guard's real-server count is every managed destination the wanted table does not keep
    /// (from a fresh drain book), removed services' destinations included, and a plan it
    /// passes removes at most the share of them or the free count. Mutation: not counting
    /// the destinations of removed services (or those deleted at once) fails the first check.
    #[test]
    fn the_guard_counts_every_real_server_a_plan_starts_removing(
        observed in observed_table(),
        wanted in wanted_table(),
        share in prop_oneof![Just(0.0), Just(0.3), Just(0.5), Just(1.0)],
    ) {
        let scope = scope();
        let options = PlanOptions { max_delete_share: share, ..lb_ipvs_sync::test_util::options() };
        let p = plan(&wanted, &observed, &scope, &DrainBook::default(), NOW, &options);
        let managed: Vec<(ServiceId, RealServerKey)> = observed
            .services
            .iter()
            .filter(|(id, _)| scope.contains(id))
            .flat_map(|(id, s)| s.destinations.keys().map(move |k| (*id, *k)))
            .collect();
        let leaving = managed
            .iter()
            .filter(|(id, k)| !wanted.get(id).is_some_and(|t| t.destinations.contains_key(k)))
            .count();
        prop_assert_eq!(p.managed_destinations_before, managed.len());
        prop_assert_eq!(p.deletes_destinations, leaving);
        if guard(&p, &options).is_ok() && leaving > MAX_FREE_REAL_SERVER_REMOVALS {
            prop_assert!(leaving < managed.len());
            prop_assert!(leaving as f64 <= share * managed.len() as f64 + 1e-9);
        }
        let again = plan(&wanted, &observed, &scope, &p.drain, NOW, &options);
        // A removal counts once: planned again from its drain book, nothing is new.
        prop_assert_eq!(again.deletes_destinations, 0);
    }

    #[test]
    fn a_focused_pass_writes_what_a_full_pass_writes_for_its_services(
        observed in observed_table(),
        wanted in wanted_table(),
        focus in prop::collection::btree_set(any_id(), 0..6),
        force in any::<bool>(),
    ) {
        let scope = scope();
        let options = PlanOptions { force, ..lb_ipvs_sync::test_util::options() };
        let managed = observed.services.iter().filter(|(id, _)| scope.contains(id));
        let managed_services = managed.clone().count();
        let managed_destinations = managed.map(|(_, s)| s.destinations.len()).sum();
        let focus = Focus { services: focus, managed_services, managed_destinations };

        let mut full_kernel = FakeKernel::new(observed.clone());
        let full = sync_once(&mut full_kernel, &wanted, &scope, &DrainBook::default(), NOW, &options)
            .unwrap();
        let mut kernel = FakeKernel::new(observed.clone());
        let focused = sync_focused(
            &mut kernel, &wanted, &scope, &DrainBook::default(), NOW, &options, &focus,
        )
        .unwrap();
        prop_assert_eq!(kernel.full_dumps(), 0);
        prop_assert_eq!(kernel.service_reads(), focus.services.len());

        let in_focus = |id: &ServiceId| focus.services.contains(id);
        // The guard may refuse the full pass for deletes outside the focus; compare only
        // when both passes were allowed the same destructive part.
        if full.guard_refusal.is_none() || focused.guard_refusal.is_some() {
            let full_ops: Vec<&Operation> =
                full.applied.iter().filter(|op| in_focus(op.service())).collect();
            let focused_ops: Vec<&Operation> = focused.applied.iter().collect();
            prop_assert_eq!(focused_ops, full_ops);
            prop_assert_eq!(
                table_shapes(kernel.table(), in_focus),
                table_shapes(full_kernel.table(), in_focus)
            );
            let (full_inside, _) = full.drain.split(&focus.services);
            prop_assert_eq!(&focused.drain, &full_inside);
        }
        for op in &focused.applied {
            prop_assert!(in_focus(op.service()), "writes outside the focus: {op:?}");
        }
        let outside = |id: &ServiceId| !focus.services.contains(id);
        prop_assert_eq!(table_shapes(kernel.table(), outside), table_shapes(&observed, outside));
    }

    #[test]
    fn a_focus_from_the_last_clean_pass_sees_every_change(
        observed in observed_table(),
        first in wanted_table(),
        second in wanted_table(),
        clear_connections in any::<bool>(),
    ) {
        let scope = scope();
        let options = PlanOptions { force: true, ..lb_ipvs_sync::test_util::options() };
        // A clean pass to `first`, as the daemon's last pass.
        let mut kernel = FakeKernel::new(observed);
        let clean = sync_once(&mut kernel, &first, &scope, &DrainBook::default(), NOW, &options)
            .unwrap();
        prop_assert!(clean.is_clean());
        if clear_connections {
            kernel.clear_connections();
        }
        let table = kernel.table().clone();
        let mut twin = kernel.clone();

        let focus = Focus::between(&first, &second, &table, &clean.drain, &scope);
        let focused = sync_focused(
            &mut kernel, &second, &scope, &clean.drain, NOW + 1, &options, &focus,
        )
        .unwrap();
        let full = sync_once(&mut twin, &second, &scope, &clean.drain, NOW + 1, &options).unwrap();
        let all = |_: &ServiceId| true;
        prop_assert_eq!(table_shapes(kernel.table(), all), table_shapes(twin.table(), all));
        prop_assert_eq!(&focused.drain, &full.drain);
        prop_assert_eq!(focused.applied.len(), full.applied.len());
        // The focus holds no service that neither changed nor drains.
        let draining: BTreeSet<ServiceId> = clean.drain.services();
        for id in &focus.services {
            let changed = first.get(id) != second.get(id)
                || (scope.contains(id) && table.services.contains_key(id) && !second.contains_key(id));
            prop_assert!(changed || draining.contains(id), "needless focus on {id}");
        }
    }

    #[test]
    fn the_table_before_plus_the_acknowledged_writes_is_the_table_after(
        observed in observed_table(),
        first in wanted_table(),
        second in wanted_table(),
        force in any::<bool>(),
        refused in prop::option::of(0usize..12),
    ) {
        let scope = scope();
        let options = PlanOptions { force, ..lb_ipvs_sync::test_util::options() };
        let mut kernel = FakeKernel::new(observed);
        if let Some(call) = refused {
            kernel.fail_apply_call(call, 1); // EPERM: refused, the table unchanged
        }
        let mut drain = DrainBook::default();
        // Two passes: the second finishes drains (connections end) and deletes.
        for (step, wanted) in [&first, &second].into_iter().enumerate() {
            let now = NOW + step as u64;
            let synced =
                sync_once_observed(&mut kernel, wanted, &scope, &drain, now, &options).unwrap();
            let mut predicted = synced.observed.clone();
            predict(&mut predicted, &synced.report);
            prop_assert_eq!(&predicted, kernel.table());
            let written = written_services(&synced.report);
            prop_assert!(read_back_differences(&predicted, kernel.table(), &written).is_empty());
            // Untouched services stay shared with the table before.
            for (id, service) in &synced.observed.services {
                if !written.contains(id) {
                    prop_assert!(std::sync::Arc::ptr_eq(service, &predicted.services[id]));
                }
            }
            drain = synced.report.drain;
            kernel.clear_connections();
        }
    }
}
