//! The planning rules, one test per rule: adoption, drift repair, in-place edits, scope, order,
//! drain timing and restarts, whole-service drain. Pure: no kernel involved.

use lb_config::Protocol;
use lb_ipvs_sync::reconcile::{DrainBook, Plan, RefusalReason, plan};
use lb_ipvs_sync::test_util::*;
use lb_ipvs_sync::wanted::TUNNEL_IPIP;
use lb_ipvs_sync::{
    IP_VS_SVC_F_HASHED, IpvsTable, KernelForward, Operation, ServiceId, TunnelSpec,
};

fn plan_now(wanted: &Wanted, observed: &IpvsTable, book: &DrainBook, now: u64) -> Plan {
    plan(wanted, observed, &scope(), book, now, &options())
}

fn web() -> Wanted {
    wanted(vec![
        wanted_service(tcp(1), &[("10.0.1.1", 1), ("10.0.1.2", 2)]),
        wanted_service(tcp(2), &[("10.0.1.3", 1)]),
    ])
}

#[test]
fn adoption_of_an_equal_table_plans_nothing() {
    let wanted = web();
    let mut kernel = observed(&wanted);
    kernel.services.extend(foreign().services);
    // What real kernels add: the HASHED flag, tunnel attributes on every destination, counters.
    for service in kernel.services.values_mut() {
        let service = std::sync::Arc::make_mut(service);
        service.spec.flags |= IP_VS_SVC_F_HASHED;
        for d in service.destinations.values_mut() {
            d.spec.tunnel = Some(TUNNEL_IPIP);
            d.active_conns = 5;
        }
    }
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert!(p.is_empty(), "{p}");
    assert!(p.drain.is_empty() && p.draining.is_empty() && p.refused.is_empty());
    assert_eq!((p.deletes_services, p.managed_services_before), (0, 2));
}

#[test]
fn empty_kernel_gets_services_then_destinations() {
    let p = plan_now(&web(), &IpvsTable::default(), &DrainBook::default(), NOW);
    let kinds: Vec<String> = p.render_ipvsadm().lines().map(str::to_owned).collect();
    assert_eq!(
        kinds,
        vec![
            "-A -t 10.0.0.1:80 -s rr",
            "-A -t 10.0.0.2:80 -s rr",
            "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 1",
            "-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 2",
            "-a -t 10.0.0.2:80 -r 10.0.1.3:8080 -m -w 1",
        ]
    );
}

#[test]
fn drift_is_repaired() {
    let wanted = web();
    let mut kernel = observed(&wanted);
    kernel.services.remove(&tcp(2)); // someone ran ipvsadm -D
    let s1 = kernel.service_mut(&tcp(1)).unwrap();
    s1.destinations.remove(&rs("10.0.1.1", 8080)); // ipvsadm -d
    s1.destinations
        .get_mut(&rs("10.0.1.2", 8080))
        .unwrap()
        .spec
        .weight = 9; // ipvsadm -e
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-A -t 10.0.0.2:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 1\n\
         -a -t 10.0.0.2:80 -r 10.0.1.3:8080 -m -w 1\n\
         -e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 2\n"
    );
}

#[test]
fn settings_changes_are_edits_in_place_never_delete_and_add() {
    let mut wanted = web();
    let mut kernel = observed(&wanted);
    kernel.service_mut(&tcp(1)).unwrap().spec.scheduler = "wlc".into();
    let t2 = wanted.get_mut(&tcp(2)).unwrap();
    t2.spec.flags = lb_ipvs_sync::IP_VS_SVC_F_PERSISTENT;
    t2.spec.timeout = 600;
    t2.spec.netmask_prefix = 24;
    let d = t2.destinations_mut().values_mut().next().unwrap();
    d.forward = KernelForward::Tunnel;
    d.tunnel = Some(TunnelSpec {
        tun_type: 1,
        port: 6080,
        flags: 0,
    });
    d.upper_threshold = 100;
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-E -t 10.0.0.1:80 -s rr\n\
         -E -t 10.0.0.2:80 -s rr -p 600 -M 255.255.255.0\n\
         -e -t 10.0.0.2:80 -r 10.0.1.3:8080 -i -w 1 -x 100 --tun-type gue --tun-port 6080\n"
    );
    assert!(!p.operations.iter().any(Operation::is_delete));
}

#[test]
fn foreign_services_are_never_touched_and_out_of_scope_wanted_services_are_refused() {
    let outside = svc("192.168.1.1", Protocol::Tcp, 443); // also present in foreign()
    let mut wanted = web();
    wanted.insert(outside, wanted_service(outside, &[("10.0.1.9", 5)]));
    let mut mark = wanted_service(fwmark(9), &[("10.0.1.9", 5)]);
    mark.spec.id = fwmark(9);
    wanted.insert(fwmark(9), mark);
    let mut kernel = observed(&web());
    kernel.services.extend(foreign().services);
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert!(p.is_empty(), "{p}");
    let refused: Vec<(ServiceId, RefusalReason)> =
        p.refused.iter().map(|r| (r.service, r.reason)).collect();
    assert_eq!(
        refused,
        vec![
            (outside, RefusalReason::OutOfScope),
            (fwmark(9), RefusalReason::OutOfScope)
        ]
    );
    // An empty wanted table removes only managed services, never foreign ones.
    let p = plan_now(&Wanted::new(), &kernel, &DrainBook::default(), NOW);
    assert!(p.operations.iter().all(
        |op| matches!(op.service(), ServiceId::Inet(k) if k.vip.to_string().starts_with("10.0.0."))
    ));
    assert_eq!(p.managed_services_before, 2);
}

#[test]
fn operation_groups_come_in_apply_order() {
    let mut wanted = web();
    wanted.remove(&tcp(1)); // leaving service (idle: deleted at once)
    wanted.insert(tcp(3), wanted_service(tcp(3), &[("10.0.1.5", 1)])); // new
    let t2 = wanted.get_mut(&tcp(2)).unwrap();
    t2.spec.scheduler = "wrr".into(); // edit service
    t2.destinations_mut().clear();
    let k = rs("10.0.1.6", 8080);
    t2.destinations_mut().insert(k, dest(k, 1)); // add dest; 10.0.1.3 leaves
    let mut kernel = observed(&web());
    with_conns(&mut kernel, tcp(2), rs("10.0.1.3", 8080), 3, 0);
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-A -t 10.0.0.3:80 -s rr\n\
         -E -t 10.0.0.2:80 -s wrr\n\
         -a -t 10.0.0.2:80 -r 10.0.1.6:8080 -m -w 1\n\
         -a -t 10.0.0.3:80 -r 10.0.1.5:8080 -m -w 1\n\
         -e -t 10.0.0.2:80 -r 10.0.1.3:8080 -m -w 0   # drain until 2023-11-14T22:18:20Z\n\
         -D -t 10.0.0.1:80\n"
    );
}

#[test]
fn a_leaving_destination_drains_until_idle_or_deadline() {
    let mut wanted = web();
    let leaving = rs("10.0.1.2", 8080);
    wanted
        .get_mut(&tcp(1))
        .unwrap()
        .destinations_mut()
        .remove(&leaving);
    let mut kernel = observed(&web());
    with_conns(&mut kernel, tcp(1), leaving, 4, 2);

    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(p.operations.len(), 1);
    assert!(p.is_quiesce(&p.operations[0]));
    let deadline = NOW + 300;
    assert_eq!(
        p.drain.destinations.get(&(tcp(1), leaving)),
        Some(&deadline)
    );
    assert_eq!(p.draining.len(), 1);
    assert_eq!(
        (p.draining[0].active_conns, p.draining[0].inactive_conns),
        (4, 2)
    );

    // Applied: weight 0. Later, still busy, before the deadline: nothing to do, same deadline.
    kernel
        .service_mut(&tcp(1))
        .unwrap()
        .destinations
        .get_mut(&leaving)
        .unwrap()
        .spec
        .weight = 0;
    let p2 = plan_now(&wanted, &kernel, &p.drain, NOW + 100);
    assert!(p2.is_empty(), "{p2}");
    assert_eq!(p2.drain, p.drain);

    // Idle: deleted before the deadline.
    let mut idle = kernel.clone();
    with_conns(&mut idle, tcp(1), leaving, 0, 0);
    let p3 = plan_now(&wanted, &idle, &p.drain, NOW + 100);
    assert_eq!(
        p3.operations,
        vec![Operation::DeleteDestination {
            service: tcp(1),
            destination: leaving
        }]
    );

    // Busy past the deadline: deleted anyway.
    let p4 = plan_now(&wanted, &kernel, &p.drain, deadline);
    assert_eq!(p4.operations, p3.operations);
    assert!(p4.draining.is_empty());
}

#[test]
fn udp_with_zero_drain_timeout_deletes_at_once() {
    let udp = svc("10.0.0.53", Protocol::Udp, 53);
    let full = wanted(vec![wanted_service(
        udp,
        &[("10.0.1.1", 1), ("10.0.1.2", 1)],
    )]);
    let mut kernel = observed(&full);
    with_conns(&mut kernel, udp, rs("10.0.1.2", 8080), 0, 40);
    let kept = wanted(vec![wanted_service(udp, &[("10.0.1.1", 1)])]);
    let p = plan_now(&kept, &kernel, &DrainBook::default(), NOW);
    assert_eq!(
        p.operations,
        vec![Operation::DeleteDestination {
            service: udp,
            destination: rs("10.0.1.2", 8080)
        }]
    );
}

#[test]
fn restart_mid_drain_neither_loses_nor_restarts_the_drain() {
    let mut wanted = web();
    let leaving = rs("10.0.1.2", 8080);
    wanted
        .get_mut(&tcp(1))
        .unwrap()
        .destinations_mut()
        .remove(&leaving);
    let mut kernel = observed(&web());
    with_conns(&mut kernel, tcp(1), leaving, 1, 0);
    kernel
        .service_mut(&tcp(1))
        .unwrap()
        .destinations
        .get_mut(&leaving)
        .unwrap()
        .spec
        .weight = 0;

    // Book kept across the restart: the old deadline stays.
    let mut book = DrainBook::default();
    book.destinations.insert((tcp(1), leaving), NOW + 10);
    let p = plan_now(&wanted, &kernel, &book, NOW);
    assert!(p.is_empty());
    assert_eq!(p.drain, book);
    assert_eq!(p.draining[0].deadline, NOW + 10);

    // Book lost: the drain continues (no op) with a fresh deadline.
    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert!(p.is_empty());
    assert_eq!(
        p.drain.destinations.get(&(tcp(1), leaving)),
        Some(&(NOW + 300))
    );
}

#[test]
fn a_destination_that_returns_is_edited_back_and_stale_deadlines_go() {
    let wanted = web();
    let back = rs("10.0.1.2", 8080);
    let mut kernel = observed(&wanted);
    with_conns(&mut kernel, tcp(1), back, 1, 0);
    kernel
        .service_mut(&tcp(1))
        .unwrap()
        .destinations
        .get_mut(&back)
        .unwrap()
        .spec
        .weight = 0;
    let mut book = DrainBook::default();
    book.destinations.insert((tcp(1), back), NOW + 10);
    book.destinations
        .insert((tcp(2), rs("10.0.9.9", 8080)), NOW + 10); // vanished
    book.services.insert(tcp(9), NOW + 10); // vanished service
    let p = plan_now(&wanted, &kernel, &book, NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 2\n"
    );
    assert!(p.drain.is_empty(), "{:?}", p.drain);
}

#[test]
fn a_leaving_service_drains_as_a_whole() {
    let mut wanted = web();
    wanted.remove(&tcp(1));
    let mut kernel = observed(&web());
    with_conns(&mut kernel, tcp(1), rs("10.0.1.1", 8080), 2, 0);

    let p = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 0   # drain until 2023-11-14T22:18:20Z\n\
         -e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 0   # drain until 2023-11-14T22:18:20Z\n"
    );
    assert_eq!(
        p.deletes_services, 1,
        "a newly leaving service counts for the guard"
    );
    assert_eq!(p.drain.services.get(&tcp(1)), Some(&(NOW + 300)));
    assert!(
        p.draining
            .iter()
            .all(|d| d.whole_service && d.service == tcp(1))
    );

    // Continuing the drain does not count again; once idle, the service is deleted.
    for d in kernel
        .service_mut(&tcp(1))
        .unwrap()
        .destinations
        .values_mut()
    {
        d.spec.weight = 0;
    }
    let p2 = plan_now(&wanted, &kernel, &p.drain, NOW + 60);
    assert!(p2.is_empty());
    assert_eq!(p2.deletes_services, 0);
    let p3 = plan_now(&wanted, &kernel, &p.drain, NOW + 300);
    assert_eq!(
        p3.operations,
        vec![Operation::DeleteService { service: tcp(1) }]
    );
    with_conns(&mut kernel, tcp(1), rs("10.0.1.1", 8080), 0, 0);
    let p4 = plan_now(&wanted, &kernel, &p.drain, NOW + 61);
    assert_eq!(p4.operations, p3.operations);
}

#[test]
fn a_service_that_comes_back_while_draining_is_restored_in_place() {
    let wanted = web();
    let mut kernel = observed(&wanted);
    for d in kernel
        .service_mut(&tcp(1))
        .unwrap()
        .destinations
        .values_mut()
    {
        d.spec.weight = 0;
        d.active_conns = 1;
    }
    let mut book = DrainBook::default();
    book.services.insert(tcp(1), NOW + 100);
    let p = plan_now(&wanted, &kernel, &book, NOW);
    assert_eq!(
        p.render_ipvsadm(),
        "-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 1\n-e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 2\n"
    );
    assert!(p.drain.is_empty());
}

#[test]
fn desired_weight_zero_is_an_edit_not_a_drain() {
    let mut wanted = web();
    wanted
        .get_mut(&tcp(1))
        .unwrap()
        .destinations_mut()
        .get_mut(&rs("10.0.1.1", 8080))
        .unwrap()
        .weight = 0;
    let p = plan_now(&wanted, &observed(&web()), &DrainBook::default(), NOW);
    assert_eq!(p.operations.len(), 1);
    assert!(!p.is_quiesce(&p.operations[0]));
    assert!(p.drain.is_empty());
    assert_eq!(p.without_deletions().operations, p.operations);
}

#[test]
fn plans_are_deterministic_and_serialize_to_json() {
    let mut wanted = web();
    wanted.remove(&tcp(2));
    let mut kernel = observed(&web());
    kernel.services.extend(foreign().services);
    with_conns(&mut kernel, tcp(2), rs("10.0.1.3", 8080), 1, 1);
    let a = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    let b = plan_now(&wanted, &kernel, &DrainBook::default(), NOW);
    assert_eq!(a, b);
    let json = a.to_json().unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    assert!(json.contains("\"op\": \"edit_destination\""), "{json}");
}
