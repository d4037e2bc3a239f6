//! Memory of the `lvs_*` exposition writer does not grow with the number of series: the
//! encoding of 10,000 services x 10 real servers (110,000 IPVS entries, about 900,000 series)
//! allocates no more than the encoding of the same 10,000 services with one real server each,
//! and far less than its output. A counting global allocator measures the peak of live heap
//! bytes during each encoding. Fails if the writer collects its series (or the text) before
//! writing them: a `Vec` of one `String` per series, or the whole text in memory, costs
//! tens of megabytes at this size.
//!
//! The snapshot a scrape keeps of its dump (issue 13) is measured the same way: the heap it
//! holds per IPVS entry must stay small (a destination is 80 bytes inline), and is compared
//! with the control, the whole `ObservedService`s the scrape kept before, which fails the same
//! bound by far. Fails if the snapshot holds whole kernel objects, maps or strings per
//! destination again.
//!
//! It also reports the bytes per scrape at 110,000 entries (run with `--nocapture`), the
//! numbers docs/metrics.md quotes. One test in this file on purpose: the allocator counts every
//! thread of the process.

// A global allocator must implement the unsafe `GlobalAlloc` trait.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use lb_config::test_util::{real_server, real_server_key, virtual_service, with_real_servers};
use lb_config::{DesiredState, ForwardMethod, Origin, ServiceOrigin};
use lb_controller::metrics::{BenchSnapshot, bench_encode, bench_snapshot, bench_write};
use lb_ipvs_sync::test_util::observed;
use lb_ipvs_sync::wanted::wanted_table;
use lb_ipvs_sync::{IpvsTable, ObservedService, Stats};

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counters are plain atomics and never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc`/`realloc` above) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract, passed on as is.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Counts the bytes written and the largest single write.
#[derive(Default)]
struct CountingSink {
    bytes: usize,
    largest_write: usize,
}

impl Write for CountingSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.bytes += data.len();
        self.largest_write = self.largest_write.max(data.len());
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The output buffer between the writer and the sink, as `/metrics` has (64 KiB chunks).
const BUFFER: usize = 64 * 1024;

/// 10,000 Kubernetes services (`team-NN/service-NNNNN`, port `http`) of `per_service` real
/// servers each, in a dump with counters of realistic width.
fn generated(per_service: u32) -> (DesiredState, IpvsTable) {
    let mut desired = DesiredState::default();
    for s in 0..10_000u32 {
        let vip = format!(
            "10.{}.{}.{}",
            100 + s / 62_500,
            (s / 250) % 250,
            s % 250 + 1
        );
        let real_servers = (0..per_service).map(|r| {
            let n = s * per_service + r;
            let addr = format!("10.{}.{}.{}", n / 62_500, (n / 250) % 250, n % 250 + 1);
            real_server(real_server_key(&addr, 8080))
        });
        let mut service =
            with_real_servers(virtual_service(&vip, 80, ForwardMethod::Nat), real_servers);
        service.origin = Origin {
            config_key: format!("{vip}-80"),
            service: Some(ServiceOrigin {
                namespace: format!("team-{:02}", s % 100),
                name: format!("service-{s:05}"),
                port: "http".to_owned(),
            }),
        };
        desired
            .services
            .insert(service.key, std::sync::Arc::new(service));
    }
    let wanted: BTreeMap<_, _> = wanted_table(&desired);
    let mut table = observed(&wanted);
    let busy = Stats {
        conns: 1_234_567,
        inpkts: 98_765_432,
        outpkts: 87_654_321,
        inbytes: 123_456_789_012,
        outbytes: 987_654_321_098,
        ..Stats::default()
    };
    for service in table.services.values_mut() {
        let service = std::sync::Arc::make_mut(service);
        service.stats = busy;
        for dest in service.destinations.values_mut() {
            dest.stats = busy;
            dest.active_conns = 120;
            dest.inactive_conns = 3_400;
        }
    }
    (desired, table)
}

/// The heap bytes `build` leaves allocated (what its result holds) and the peak above what was
/// live before, while it ran.
fn held_measured<T>(build: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let built = build();
    let held = LIVE.load(Ordering::SeqCst).saturating_sub(before);
    let peak = PEAK.load(Ordering::SeqCst) - before;
    (built, held, peak)
}

/// Writes `snapshot` and returns (output bytes, largest write into the sink, peak heap bytes
/// above what was live before).
fn encode_measured(snapshot: &BenchSnapshot) -> io::Result<(usize, usize, usize)> {
    let mut sink = CountingSink::default();
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    {
        let mut out = BufWriter::with_capacity(BUFFER, &mut sink);
        bench_write(snapshot, &mut out)?;
        out.flush()?;
    }
    let peak = PEAK.load(Ordering::SeqCst) - before;
    Ok((sink.bytes, sink.largest_write, peak))
}

/// Heap bytes per IPVS entry a scrape's snapshot may hold at 10,000 services x 10 real
/// servers: 80 bytes per destination, and per service its label text (about 110 bytes), 160
/// bytes of numbers and two `Vec`s, spread over its 11 entries. The old snapshot (whole
/// `ObservedService`s, destinations in a map) held 181 bytes per entry, the compact one 101
/// (measured 2026-12-04).
const HELD_PER_ENTRY: usize = 112;

#[test]
fn encoding_memory_does_not_grow_with_the_number_of_series() -> io::Result<()> {
    let (desired, table) = generated(10);
    let endpoints: usize = table.services.values().map(|s| s.destinations.len()).sum();
    assert_eq!(endpoints, 100_000, "10,000 services x 10 real servers");
    let entries = endpoints + table.services.len();

    // What a scrape holds between its dump and its last write: the compact snapshot...
    let (snapshot, held, build_peak) = held_measured(|| bench_snapshot(&table, &desired));
    assert_eq!(snapshot.destinations(), endpoints);
    // ...and the control, what it held before: a deep copy of every ObservedService.
    let (old_snapshot, old_held, _) = held_measured(|| {
        table
            .services
            .values()
            .map(|service| ObservedService::clone(service))
            .collect::<Vec<_>>()
    });
    drop(old_snapshot);

    let (bytes, largest_write, peak) = encode_measured(&snapshot)?;
    let (small_desired, small_table) = generated(1);
    let small_snapshot = bench_snapshot(&small_table, &small_desired);
    let (small_bytes, _, small_peak) = encode_measured(&small_snapshot)?;

    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    eprintln!(
        "110,000 entries: {bytes} bytes ({:.1} MiB) of text, peak heap while encoding {:.2} MiB; \
         10,000 x 1: {small_bytes} bytes, peak {:.2} MiB",
        mib(bytes),
        mib(peak),
        mib(small_peak)
    );
    eprintln!(
        "snapshot of {entries} entries: holds {:.2} MiB ({} bytes per entry), peak {:.2} MiB while \
         built; the whole ObservedServices held {:.2} MiB ({} bytes per entry)",
        mib(held),
        held / entries,
        mib(build_peak),
        mib(old_held),
        old_held / entries
    );
    assert!(
        held <= entries * HELD_PER_ENTRY,
        "the snapshot holds {held} bytes, {} per entry",
        held / entries
    );
    assert!(
        old_held * 2 > entries * HELD_PER_ENTRY * 3,
        "control: the old representation ({old_held} bytes) must break the bound by far, \
         or the bound proves nothing"
    );
    // Building it converts one service at a time: no second copy of the table on the way
    // (the rest of the peak is the label book of 10,000 services, about 3 MiB, which the daemon
    // keeps between scrapes anyway).
    assert!(
        build_peak <= held + 4 * 1024 * 1024,
        "peak {build_peak} while building vs {held} held"
    );
    assert!(bytes > 100_000_000, "{bytes} bytes: the table is written");
    assert!(largest_write <= BUFFER, "largest write {largest_write}");
    // Writing a snapshot allocates only the output buffer: ten times the series cost the same,
    // and far less than the output.
    assert!(
        peak <= small_peak + 256 * 1024,
        "peak {peak} with 10 real servers per service vs {small_peak} with 1"
    );
    assert!(peak < 16 * 1024 * 1024, "peak {peak} bytes");
    assert!(peak * 20 < bytes, "peak {peak} vs output {bytes}");

    // The bytes a gzip scrape sends (the compressor's state is bounded, a few hundred KiB).
    let mut gzipped = CountingSink::default();
    {
        let gzip = GzEncoder::new(&mut gzipped, Compression::fast());
        let mut out = BufWriter::with_capacity(32 * 1024, gzip);
        bench_encode(&table, &desired, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.finish()?;
    }
    eprintln!(
        "110,000 entries gzipped (fast): {} bytes ({:.1} MiB), {:.1}x smaller",
        gzipped.bytes,
        mib(gzipped.bytes),
        bytes as f64 / gzipped.bytes as f64
    );
    assert!(gzipped.bytes < bytes / 5);
    Ok(())
}
