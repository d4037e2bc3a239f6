//! The pure encoding step of a scrape, for benchmarks and memory tests (feature `test-util`).

use std::io::{self, Write};
use std::time::Instant;

use lb_config::DesiredState;
use lb_ipvs_sync::IpvsTable;

use super::exposition::{ExpositionOptions, write_lvs_families};
use super::labels::LabelBook;
use super::snapshot::{Snapshot, SnapshotBuilder};
use super::source::visit_whole_table;

/// The snapshot a scrape keeps of a dump, as `/metrics` builds it with the default settings
/// (endpoint level on, per-endpoint rate estimates off). Opaque: what
/// `controller/tests/metrics_memory.rs` measures the held memory of.
#[derive(Debug)]
pub struct BenchSnapshot(Snapshot);

impl BenchSnapshot {
    /// How many destinations it holds (the test's sanity check).
    pub fn destinations(&self) -> usize {
        self.0.services.iter().map(|s| s.destinations.len()).sum()
    }
}

/// Builds the snapshot of `table` labelled from `desired`, as a scrape does from its streamed
/// dump; without the monotonic-counter bookkeeping (the counters stay as the table has them,
/// which is what the first scrape exports).
pub fn bench_snapshot(table: &IpvsTable, desired: &DesiredState) -> BenchSnapshot {
    let mut book = LabelBook::default();
    let mut builder = SnapshotBuilder::new(&book, desired, true, false);
    visit_whole_table(table, &mut builder);
    let dumped = builder.finish();
    book.refresh(desired, |key| dumped.in_kernel(key));
    BenchSnapshot(Snapshot::prepare(dumped, &book, Instant::now()))
}

/// Writes the `lvs_*` families of `snapshot` as `/metrics` does with the default settings into
/// `out`. Give it a buffered writer: the exposition writer makes many short writes.
pub fn bench_write(snapshot: &BenchSnapshot, out: &mut impl Write) -> io::Result<()> {
    let options = ExpositionOptions {
        endpoint_level: true,
        endpoint_rates: false,
    };
    write_lvs_families(out, &snapshot.0.services, options)
}

/// Writes the `lvs_*` families of `table` as `/metrics` does with the default settings
/// (endpoint level on, per-endpoint rate estimates off), labelled from `desired`, into `out`:
/// [`bench_snapshot`] then [`bench_write`].
///
/// Why public: `bench/` times "metrics encoding of 110,000 endpoints". It covers the snapshot
/// (label text escaped once per service, the compact numbers) and the writing of every line;
/// not the dump and not the monotonic-counter bookkeeping.
pub fn bench_encode(
    table: &IpvsTable,
    desired: &DesiredState,
    out: &mut impl Write,
) -> io::Result<()> {
    bench_write(&bench_snapshot(table, desired), out)
}
