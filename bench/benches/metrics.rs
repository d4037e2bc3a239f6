//! The `lvs_*` exposition of 10,000 services x 10 real servers (110,000 IPVS entries, about a
//! million series): the text as `/metrics` streams it, into a sink (the encoder's CPU cost), and
//! the same through gzip (what a Prometheus scrape with `Accept-Encoding: gzip` costs).

use std::io::{self, BufWriter, Write};

use divan::{Bencher, black_box};
use flate2::Compression;
use flate2::write::GzEncoder;
use lb_bench::generate::{self, TableSize};
use lb_controller::metrics::bench_encode;
use lb_ipvs_sync::test_util;
use lb_ipvs_sync::wanted::wanted_table;

fn main() {
    divan::main();
}

/// The desired state and a kernel table holding it, at 10,000 services x 10 real servers.
fn fixture() -> (lb_config::DesiredState, lb_ipvs_sync::IpvsTable) {
    let settings = generate::settings();
    let text = generate::configmap_text(TableSize::SERVICES_10K);
    let desired = generate::desired(&generate::parsed(&text), &settings);
    let table = test_util::observed(&wanted_table(&desired));
    (desired, table)
}

/// The plain text format (about 150 MB), written in 64 KiB chunks to a sink.
#[divan::bench(sample_count = 5)]
fn encode_110k_endpoints(bencher: Bencher<'_, '_>) {
    let (desired, table) = fixture();
    bencher.bench_local(|| {
        let mut out = BufWriter::with_capacity(64 * 1024, io::sink());
        let written = bench_encode(black_box(&table), &desired, &mut out);
        (written, out.flush())
    });
}

/// The same through gzip at the level `/metrics` uses (fast).
#[divan::bench(sample_count = 3)]
fn encode_110k_endpoints_gzip(bencher: Bencher<'_, '_>) {
    let (desired, table) = fixture();
    bencher.bench_local(|| {
        let gzip = GzEncoder::new(io::sink(), Compression::fast());
        let mut out = BufWriter::with_capacity(64 * 1024, gzip);
        let written = bench_encode(black_box(&table), &desired, &mut out);
        let finished = out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(GzEncoder::finish);
        (written, finished.map(|_| ()))
    });
}
