//! The delete guard and the plan it leaves when it refuses.

use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::reconcile::{
    DrainBook, Focus, GuardRefusal, Guarded, Plan, PlanOptions, guard, plan, sync_focused,
};
use lb_ipvs_sync::test_util::*;
use lb_ipvs_sync::{IpvsTable, Operation};

/// Four managed services, of which the wanted table keeps `keep`; one destination changes weight
/// and one new service appears, so the plan always has constructive work too.
fn plan_keeping(keep: u8, book: &DrainBook) -> Plan {
    let all: Vec<_> = (1..=4)
        .map(|n| wanted_service(tcp(n), &[("10.0.1.1", 1)]))
        .collect();
    let mut kernel = observed(&wanted(all));
    kernel.services.extend(foreign().services);
    for n in 1..=4 {
        with_conns(&mut kernel, tcp(n), rs("10.0.1.1", 8080), 3, 0);
    }
    let mut kept: Vec<_> = (1..=keep)
        .map(|n| wanted_service(tcp(n), &[("10.0.1.1", 7)]))
        .collect();
    kept.push(wanted_service(tcp(50), &[("10.0.1.1", 1)]));
    plan(&wanted(kept), &kernel, &scope(), book, NOW, &options())
}

fn with_share(share: f64) -> PlanOptions {
    PlanOptions {
        max_delete_share: share,
        ..options()
    }
}

#[test]
fn within_the_share_passes_beyond_it_refuses() {
    let two_of_four = plan_keeping(2, &DrainBook::default());
    assert_eq!(
        (
            two_of_four.deletes_services,
            two_of_four.managed_services_before
        ),
        (2, 4)
    );
    assert_eq!(
        guard(&two_of_four, &with_share(0.5)),
        Ok(()),
        "exactly at the limit passes"
    );
    let refusal = guard(&two_of_four, &with_share(0.25)).unwrap_err();
    assert_eq!(
        refusal,
        GuardRefusal {
            what: Guarded::Services,
            removals: 2,
            managed: 4,
            max_delete_share: 0.25
        }
    );
    let text = refusal.to_string();
    assert!(
        text.contains("2 of 4") && text.contains("--force"),
        "{text}"
    );

    let three_of_four = plan_keeping(1, &DrainBook::default());
    assert!(guard(&three_of_four, &with_share(0.5)).is_err());
    assert_eq!(
        guard(
            &three_of_four,
            &PlanOptions {
                force: true,
                ..with_share(0.5)
            }
        ),
        Ok(())
    );
}

#[test]
fn removing_every_managed_service_needs_force_even_at_full_share() {
    let none_kept = plan_keeping(0, &DrainBook::default());
    let refusal = guard(&none_kept, &with_share(1.0)).unwrap_err();
    assert!(refusal.to_string().contains("all 4 managed"), "{refusal}");
    assert_eq!(
        guard(
            &none_kept,
            &PlanOptions {
                force: true,
                ..with_share(1.0)
            }
        ),
        Ok(())
    );

    // 1 of 1 is 100%: refused too.
    let one = wanted(vec![wanted_service(tcp(1), &[("10.0.1.1", 1)])]);
    let p = plan(
        &Wanted::new(),
        &observed(&one),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    );
    assert_eq!(
        p.operations,
        vec![Operation::DeleteService { service: tcp(1) }]
    );
    assert!(guard(&p, &with_share(1.0)).is_err());
}

#[test]
fn a_share_that_is_not_a_number_allows_no_removal() {
    let p = plan_keeping(3, &DrainBook::default());
    assert_eq!(p.deletes_services, 1);
    assert!(guard(&p, &with_share(f64::NAN)).is_err());
    assert!(guard(&p, &with_share(-1.0)).is_err());
    assert_eq!(
        guard(&plan_keeping(4, &DrainBook::default()), &with_share(0.0)),
        Ok(())
    );
}

#[test]
fn drains_started_earlier_are_not_counted_again() {
    let first = plan_keeping(1, &DrainBook::default());
    let again = plan_keeping(1, &first.drain);
    assert_eq!(again.deletes_services, 0);
    assert_eq!(guard(&again, &with_share(0.5)), Ok(()));
}

#[test]
fn without_deletions_keeps_constructive_work_only() {
    let p = plan_keeping(1, &DrainBook::default());
    assert!(p.operations.iter().any(|op| p.is_quiesce(op)));
    let safe = p.without_deletions();
    assert_eq!(
        safe.render_ipvsadm(),
        "-A -t 10.0.0.50:80 -s rr\n\
         -a -t 10.0.0.50:80 -r 10.0.1.1:8080 -m -w 1\n\
         -e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 7\n"
    );
    assert!(
        safe.drain.is_empty(),
        "refused drains must not look started: {:?}",
        safe.drain
    );
    assert!(safe.draining.is_empty());
    assert_eq!(guard(&safe, &with_share(0.0)), Ok(()));

    // A drain that had started before the refusal keeps its deadline and status.
    let started = plan_keeping(3, &DrainBook::default());
    let later = plan_keeping(1, &started.drain).without_deletions();
    assert_eq!(later.drain.services, started.drain.services);
    assert!(later.draining.iter().all(|d| d.service == tcp(4)));
    assert!(!later.draining.is_empty());
}

/// `services` TCP services on 10.0.0.1.. with `per_service` real servers each (10.0.1.1..,
/// each with one connection), and the wanted table that keeps every service but leaves the first
/// `emptied` of them without real servers (an EndpointSlice emptied by mistake).
fn emptied_slices(services: u8, per_service: u8, emptied: u8) -> (IpvsTable, Wanted) {
    let addrs: Vec<String> = (1..=per_service).map(|n| format!("10.0.1.{n}")).collect();
    let full: Vec<(&str, u32)> = addrs.iter().map(|a| (a.as_str(), 1)).collect();
    let all: Vec<_> = (1..=services)
        .map(|n| wanted_service(tcp(n), &full))
        .collect();
    let mut kernel = observed(&wanted(all));
    kernel.services.extend(foreign().services);
    for n in 1..=services {
        for a in &addrs {
            with_conns(&mut kernel, tcp(n), rs(a, 8080), 1, 0);
        }
    }
    let kept = (1..=services)
        .map(|n| wanted_service(tcp(n), if n <= emptied { &[] } else { &full }))
        .collect();
    (kernel, wanted(kept))
}

fn plan_of((kernel, wanted): &(IpvsTable, Wanted), book: &DrainBook) -> Plan {
    plan(wanted, kernel, &scope(), book, NOW, &options())
}

/// Mutation: a guard that counts services only lets these plans pass.
#[test]
fn emptying_the_real_servers_of_staying_services_is_refused_beyond_the_share() {
    // 3 services x 2 real servers; two emptied: 4 of 6 real servers, no service removed.
    let p = plan_of(&emptied_slices(3, 2, 2), &DrainBook::default());
    assert_eq!((p.deletes_services, p.managed_services_before), (0, 3));
    assert_eq!(
        (p.deletes_destinations, p.managed_destinations_before),
        (4, 6)
    );
    let refusal = guard(&p, &with_share(0.5)).unwrap_err();
    assert_eq!(refusal.what, Guarded::RealServers);
    assert_eq!(
        refusal.to_string(),
        "refusing to remove 4 of 6 managed real servers (67%, limit 50%); nothing was deleted \
         or drained. Check the configuration, or re-run with --force to apply the removal"
    );
    let forced = PlanOptions {
        force: true,
        ..with_share(0.5)
    };
    assert_eq!(guard(&p, &forced), Ok(()));
    assert_eq!(guard(&p, &with_share(0.7)), Ok(()), "4 of 6 is within 70%");
    // The refused plan keeps no quiesce: every real server keeps its weight.
    assert!(p.without_deletions().operations.is_empty());

    // Every real server of a single service: all 3 of 3, refused even at a full share.
    let all = plan_of(&emptied_slices(1, 3, 1), &DrainBook::default());
    let refusal = guard(&all, &with_share(1.0)).unwrap_err();
    assert_eq!(
        (refusal.what, refusal.removals, refusal.managed),
        (Guarded::RealServers, 3, 3)
    );
    assert!(
        refusal.to_string().contains(
            "refusing to remove all 3 managed real servers: removing every managed real server \
             always needs --force"
        ),
        "{refusal}"
    );
}

/// Mutation: without the free count, a two-server table could never lose a server.
#[test]
fn removing_one_or_two_real_servers_is_never_held_back() {
    // 1 service x 2 real servers, both emptied: 2 of 2, within the free count.
    let p = plan_of(&emptied_slices(1, 2, 1), &DrainBook::default());
    assert_eq!(p.deletes_destinations, 2);
    assert_eq!(guard(&p, &with_share(0.0)), Ok(()));
}

/// A real server counts when its removal starts (its quiesce), not again when the drain ends
/// in its delete; the real servers of a removed service count with it.
#[test]
fn real_servers_count_once_when_their_removal_starts() {
    let slices = emptied_slices(3, 2, 2);
    let first = plan_of(&slices, &DrainBook::default());
    assert_eq!(
        first
            .operations
            .iter()
            .filter(|op| first.is_quiesce(op))
            .count(),
        4
    );
    let later = plan_of(&slices, &first.drain);
    assert_eq!(later.deletes_destinations, 0);
    assert_eq!(guard(&later, &with_share(0.0)), Ok(()));

    // 1 of 2 services removed (within 50%), but it holds 5 of the 6 real servers.
    let big = wanted_service(
        tcp(1),
        &[
            ("10.0.1.1", 1),
            ("10.0.1.2", 1),
            ("10.0.1.3", 1),
            ("10.0.1.4", 1),
            ("10.0.1.5", 1),
        ],
    );
    let small = wanted_service(tcp(2), &[("10.0.1.1", 1)]);
    let kernel = observed(&wanted(vec![big, small.clone()]));
    let p = plan(
        &wanted(vec![small]),
        &kernel,
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    );
    assert_eq!((p.deletes_services, p.deletes_destinations), (1, 5));
    let refusal = guard(&p, &with_share(0.5)).unwrap_err();
    assert_eq!(
        (refusal.what, refusal.removals, refusal.managed),
        (Guarded::RealServers, 5, 6)
    );
}

/// A focused pass counts against the whole table's real servers. Mutation: dropping
/// `Focus::managed_destinations` judges 4 of the focus's 4 and refuses.
#[test]
fn a_focused_pass_guards_real_servers_against_the_whole_table() {
    // 5 services x 2 real servers; the focus empties two: 4 of 10 (40%) passes at 50%.
    let (kernel, wanted) = emptied_slices(5, 2, 2);
    let focus = Focus::between(&wanted, &wanted, &kernel, &DrainBook::default(), &scope());
    assert_eq!(
        (focus.managed_services, focus.managed_destinations),
        (5, 10)
    );
    let focus = Focus {
        services: [tcp(1), tcp(2)].into(),
        ..focus
    };
    let mut fake = FakeKernel::new(kernel);
    let report = sync_focused(
        &mut fake,
        &wanted,
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
        &focus,
    )
    .unwrap();
    assert_eq!(report.guard_refusal, None);
    assert_eq!(report.plan.deletes_destinations, 4);
}
