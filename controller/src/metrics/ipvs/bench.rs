//! The pure encoding step of a scrape, for benchmarks and memory tests (feature `test-util`).

use std::io::{self, Write};

use lb_config::DesiredState;
use lb_ipvs_sync::{IpvsTable, ServiceId};

use super::exposition::{ExpositionOptions, service_label_text, write_lvs_families};
use super::labels::LabelBook;

/// Writes the `lvs_*` families of `table` as `/metrics` does with the default settings
/// (endpoint level on, per-endpoint rate estimates off), labelled from `desired`, into `out`.
///
/// Why public: `bench/` times "metrics encoding of 110,000 endpoints" and
/// `controller/tests/metrics_memory.rs` checks that memory does not grow with the series.
/// It covers the label text (escaped once per service) and the writing of every line; not the
/// dump and not the monotonic-counter bookkeeping (the counters are written as the table has
/// them, which is what the first scrape exports). Give it a buffered writer: the exposition
/// writer makes many short writes.
pub fn bench_encode(
    table: &IpvsTable,
    desired: &DesiredState,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut book = LabelBook::default();
    book.refresh(desired, table);
    let services: Vec<_> = table
        .services
        .iter()
        .filter_map(|(id, service)| {
            let ServiceId::Inet(key) = id else {
                return None;
            };
            book.get(key)
                .map(|labels| (service_label_text(labels), service))
        })
        .collect();
    let options = ExpositionOptions {
        endpoint_level: true,
        endpoint_rates: false,
    };
    write_lvs_families(
        out,
        services
            .iter()
            .map(|(labels, service)| (labels.as_str(), service.as_ref())),
        options,
    )
}
