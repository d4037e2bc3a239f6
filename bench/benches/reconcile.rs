//! The reconciler at 10,000 services x 10 real servers (110,000 IPVS entries): a plan from an
//! empty kernel (every entry added), a plan against an identical kernel (the no-op pass), and
//! the focus of one changed real server.

use divan::{Bencher, black_box};
use lb_bench::generate::{self, TableSize};
use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::{DrainBook, Focus, plan};
use lb_ipvs_sync::test_util;

fn main() {
    divan::main();
}

/// Plan 110,000 additions against an empty table.
#[divan::bench]
fn plan_from_empty(bencher: Bencher<'_, '_>) {
    let wanted = generate::wanted(TableSize::SERVICES_10K);
    let (scope, options, empty) = (
        test_util::scope(),
        test_util::options(),
        IpvsTable::default(),
    );
    let drain = DrainBook::default();
    bencher.bench_local(|| {
        plan(
            black_box(&wanted),
            &empty,
            &scope,
            &drain,
            test_util::NOW,
            &options,
        )
    });
}

/// Plan against a kernel that already holds the wanted table: nothing to write.
#[divan::bench]
fn plan_no_change(bencher: Bencher<'_, '_>) {
    let wanted = generate::wanted(TableSize::SERVICES_10K);
    let observed = test_util::observed(&wanted);
    let (scope, options) = (test_util::scope(), test_util::options());
    let drain = DrainBook::default();
    bencher.bench_local(|| {
        plan(
            black_box(&wanted),
            &observed,
            &scope,
            &drain,
            test_util::NOW,
            &options,
        )
    });
}

/// Which services a focused pass reads after one real server's weight changed.
#[divan::bench]
fn focus_one_change(bencher: Bencher<'_, '_>) {
    let previous = generate::wanted(TableSize::SERVICES_10K);
    let table = test_util::observed(&previous);
    let mut wanted = previous.clone();
    if let Some(dest) = wanted.values_mut().nth(4_321).and_then(|service| {
        std::sync::Arc::make_mut(&mut service.destinations)
            .values_mut()
            .next()
    }) {
        dest.weight = 2;
    }
    let (scope, drain) = (test_util::scope(), DrainBook::default());
    bencher.bench_local(|| {
        Focus::between(
            black_box(&previous),
            black_box(&wanted),
            &table,
            &drain,
            &scope,
        )
    });
}

/// Every request of a table programmed from empty (10,000 NEW_SERVICE and 100,000 NEW_DEST
/// messages), through the public `encode_request`: the client's framing, plus one allocation
/// per request that the client (one reused buffer) does not pay.
#[divan::bench(sample_count = 10)]
fn encode_writes_from_empty(bencher: Bencher<'_, '_>) {
    use lb_ipvs_sync::netlink::{FLAGS_ACKED, IpvsMessage, encode_request};
    let wanted = generate::wanted(TableSize::SERVICES_10K);
    bencher.bench_local(|| {
        let mut bytes = 0usize;
        let mut sequence = 0u32;
        for (id, service) in black_box(&wanted) {
            sequence += 1;
            if let Ok(message) = IpvsMessage::new_service(&service.spec) {
                bytes += encode_request(&message, 0x20, sequence, FLAGS_ACKED).len();
            }
            for dest in service.destinations.values() {
                sequence += 1;
                if let Ok(message) = IpvsMessage::new_dest(id, dest) {
                    bytes += encode_request(&message, 0x20, sequence, FLAGS_ACKED).len();
                }
            }
        }
        bytes
    });
}
