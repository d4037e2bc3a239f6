//! `sync_once` against the fake kernel: applying, races, failures, guard, drains over passes.

use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::reconcile::{DrainBook, PlanOptions, SyncError, plan, sync_once};
use lb_ipvs_sync::test_util::*;
use lb_ipvs_sync::{IpvsKernel, IpvsTable, Operation};

const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EPERM: i32 = 1;

fn web() -> Wanted {
    wanted(vec![
        wanted_service(tcp(1), &[("10.0.1.1", 1), ("10.0.1.2", 2)]),
        wanted_service(tcp(2), &[("10.0.1.3", 1)]),
    ])
}

#[test]
fn a_pass_programs_the_wanted_table_and_the_next_pass_is_empty() {
    let mut kernel = FakeKernel::new(foreign());
    let r = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert!(r.is_clean());
    assert_eq!(
        (
            r.counts.add_service,
            r.counts.add_destination,
            r.counts.total()
        ),
        (2, 3, 5)
    );
    let mut expected = observed(&web());
    expected.services.extend(foreign().services);
    assert_eq!(kernel.table(), &expected);

    let again = sync_once(&mut kernel, &web(), &scope(), &r.drain, NOW + 1, &options()).unwrap();
    assert!(again.applied.is_empty() && again.plan.is_empty());
}

#[test]
fn a_failed_dump_applies_nothing() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    kernel.fail_dumps(Some(EPERM));
    let err = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    );
    assert!(matches!(err, Err(SyncError::Dump(e)) if e.errno() == Some(EPERM)));
    assert_eq!(kernel.apply_calls(), 0);
}

#[test]
fn eexist_on_add_and_enoent_on_delete_are_benign_races() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    kernel.fail_apply_call(0, EEXIST); // the first AddService "already exists"
    let r = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert_eq!(r.races.len(), 1);
    assert_eq!(r.races[0].error.errno(), Some(EEXIST));
    // Its destinations were still attempted, not skipped. (The scripted EEXIST did not really
    // create the service, so they fail with ESRCH: recorded, and repaired next pass.)
    assert!(r.skipped.is_empty());
    assert_eq!(kernel.apply_calls(), 5);
    let errnos: Vec<_> = r.failed.iter().map(|f| f.error.errno()).collect();
    assert_eq!(errnos, vec![Some(ESRCH), Some(ESRCH)]);
    let next = sync_once(&mut kernel, &web(), &scope(), &r.drain, NOW, &options()).unwrap();
    assert!(next.is_clean() && next.counts.total() == 3);

    let one = wanted(vec![wanted_service(tcp(1), &[("10.0.1.1", 1)])]);
    let mut kernel = FakeKernel::new(observed(&web()));
    let calls_before = kernel.apply_calls();
    kernel.fail_apply_call(calls_before, ENOENT); // the idle destination "already gone"
    let forced = PlanOptions {
        force: true,
        ..options()
    };
    let r = sync_once(
        &mut kernel,
        &one,
        &scope(),
        &DrainBook::default(),
        NOW,
        &forced,
    )
    .unwrap();
    assert_eq!(r.races.len(), 1);
    assert!(matches!(
        r.races[0].operation,
        Operation::DeleteDestination { .. }
    ));
    assert_eq!(r.counts.delete_service, 1);
}

#[test]
fn a_failed_service_add_skips_its_destinations_and_the_pass_goes_on() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    kernel.fail_apply_call(0, ENOENT); // unknown scheduler on the first AddService
    let r = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert_eq!(r.failed.len(), 1);
    assert!(matches!(
        r.failed[0].operation,
        Operation::AddService { .. }
    ));
    assert_eq!(r.skipped.len(), 2, "both destinations of 10.0.0.1");
    assert!(r.skipped.iter().all(|op| *op.service() == tcp(1)));
    assert_eq!(r.applied.len(), 2, "10.0.0.2 and its destination");
    assert!(!r.is_clean());

    let next = sync_once(&mut kernel, &web(), &scope(), &r.drain, NOW + 1, &options()).unwrap();
    assert_eq!(next.counts.add_service, 1);
    assert_eq!(next.counts.add_destination, 2);
}

/// A kernel that stops answering costs one timeout per pass, not one per operation: after the
/// first timeout the rest of the plan is skipped, and the next pass completes it. Fails if the
/// pass goes on applying after a timeout (5 apply calls instead of 2).
#[test]
fn a_timeout_skips_the_rest_of_the_pass() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    kernel.time_out_apply_call(1); // the first AddDestination of 10.0.0.1
    let r = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert_eq!(
        kernel.apply_calls(),
        2,
        "nothing is tried after the timeout"
    );
    assert_eq!(r.failed.len(), 1);
    assert!(r.failed[0].error.is_timeout(), "{}", r.failed[0].error);
    assert_eq!(r.skipped.len(), 3);
    assert!(!r.is_clean());

    let next = sync_once(&mut kernel, &web(), &scope(), &r.drain, NOW + 1, &options()).unwrap();
    assert!(next.is_clean());
    assert_eq!(next.counts.add_service + next.counts.add_destination, 4);
}

#[test]
fn guard_refusal_still_programs_new_services_but_removes_nothing() {
    let mut kernel = FakeKernel::new(observed(&web()));
    let replacement = wanted(vec![wanted_service(tcp(9), &[("10.0.1.9", 1)])]);
    let r = sync_once(
        &mut kernel,
        &replacement,
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    let refusal = r.guard_refusal.as_ref().expect("2 of 2 removed: refused");
    assert_eq!((refusal.removals, refusal.managed), (2, 2));
    assert!(kernel.applied().iter().all(|op| !op.is_delete()));
    assert_eq!(kernel.table().services.len(), 3);
    assert!(r.drain.is_empty());

    let forced = PlanOptions {
        force: true,
        ..options()
    };
    let r = sync_once(&mut kernel, &replacement, &scope(), &r.drain, NOW, &forced).unwrap();
    assert!(r.guard_refusal.is_none());
    assert_eq!(r.counts.delete_service, 2);
    assert_eq!(
        kernel.table().services.keys().copied().collect::<Vec<_>>(),
        vec![tcp(9)]
    );
}

#[test]
fn a_drain_runs_over_several_passes() {
    let mut kernel = FakeKernel::new(observed(&web()));
    let leaving = rs("10.0.1.2", 8080);
    assert!(kernel.set_connections(&tcp(1), &leaving, 10, 0));
    let mut wanted = web();
    wanted
        .get_mut(&tcp(1))
        .unwrap()
        .destinations_mut()
        .remove(&leaving);

    let r1 = sync_once(
        &mut kernel,
        &wanted,
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert_eq!(r1.counts.quiesce_destination, 1);
    let weight = |k: &FakeKernel| {
        k.table().services[&tcp(1)].destinations[&leaving]
            .spec
            .weight
    };
    assert_eq!(weight(&kernel), 0);

    let r2 = sync_once(
        &mut kernel,
        &wanted,
        &scope(),
        &r1.drain,
        NOW + 299,
        &options(),
    )
    .unwrap();
    assert!(r2.applied.is_empty());
    assert_eq!(r2.plan.draining.len(), 1);

    kernel.clear_connections();
    let r3 = sync_once(
        &mut kernel,
        &wanted,
        &scope(),
        &r2.drain,
        NOW + 120,
        &options(),
    )
    .unwrap();
    assert_eq!(r3.counts.delete_destination, 1);
    let r4 = sync_once(
        &mut kernel,
        &wanted,
        &scope(),
        &r3.drain,
        NOW + 121,
        &options(),
    )
    .unwrap();
    assert!(r4.plan.is_empty() && r4.drain.is_empty());
    assert_eq!(kernel.dump().unwrap(), observed(&wanted));
}

#[test]
fn hand_edits_are_repaired_on_the_next_pass() {
    let mut kernel = FakeKernel::new(observed(&web()));
    kernel.table_mut().services.remove(&tcp(2));
    let r = sync_once(
        &mut kernel,
        &web(),
        &scope(),
        &DrainBook::default(),
        NOW,
        &options(),
    )
    .unwrap();
    assert_eq!(r.applied.len(), 2);
    let p = plan(&web(), kernel.table(), &scope(), &r.drain, NOW, &options());
    assert!(p.is_empty());
}
