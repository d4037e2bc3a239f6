//! The delete guard and the plan it leaves when it refuses.

mod reconcile_support;

use lb_ipvs_sync::Operation;
use lb_ipvs_sync::reconcile::{DrainBook, GuardRefusal, Plan, PlanOptions, guard, plan};
use reconcile_support::*;

/// Four managed services, of which the target keeps `keep`; one destination changes weight and
/// one new service appears, so the plan always has constructive work too.
fn plan_keeping(keep: u8, book: &DrainBook) -> Plan {
    let all: Vec<_> = (1..=4)
        .map(|n| target_service(tcp(n), &[("10.0.1.1", 1)]))
        .collect();
    let mut kernel = observed(&target(all));
    kernel.services.extend(foreign().services);
    for n in 1..=4 {
        with_conns(&mut kernel, tcp(n), rs("10.0.1.1", 8080), 3, 0);
    }
    let mut kept: Vec<_> = (1..=keep)
        .map(|n| target_service(tcp(n), &[("10.0.1.1", 7)]))
        .collect();
    kept.push(target_service(tcp(50), &[("10.0.1.1", 1)]));
    plan(&target(kept), &kernel, &scope(), book, NOW, &options())
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
    let one = target(vec![target_service(tcp(1), &[("10.0.1.1", 1)])]);
    let p = plan(
        &Target::new(),
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
