//! ConfigMap to wanted table, stage by stage, at 1,008 and 10,000 keys of 10 real servers:
//! the library path of `lbctl plan` (read the document, parse every entry, validate and build
//! the desired state, map it to the wanted table, plan against an empty kernel).

use divan::{Bencher, black_box};
use lb_bench::generate::{self, TableSize};
use lb_config::{parse_configmap, parse_entry};
use lb_ipvs_sync::IpvsTable;
use lb_ipvs_sync::reconcile::{DrainBook, plan};
use lb_ipvs_sync::test_util;
use lb_ipvs_sync::wanted::wanted_table;

fn main() {
    divan::main();
}

/// Services in the benchmarked ConfigMaps.
const SERVICES: [usize; 2] = [1_008, 10_000];

fn size(services: usize) -> TableSize {
    if services == 1_008 {
        TableSize::SERVICES_1K
    } else {
        TableSize::SERVICES_10K
    }
}

/// Document to entries: the YAML read plus every key's parse (`parse_configmap`).
#[divan::bench(args = SERVICES)]
fn parse(bencher: Bencher<'_, '_>, services: usize) {
    let text = generate::configmap_text(size(services));
    bencher.bench_local(|| parse_configmap(black_box(&text)));
}

/// Only the per-key parse (`parse_entry` over the key/value pairs): parse minus the YAML read.
#[divan::bench(args = SERVICES)]
fn parse_entries(bencher: Bencher<'_, '_>, services: usize) {
    let lines = generate::data_lines(size(services));
    let pairs: Vec<(&str, &str)> = lines.lines().filter_map(|l| l.split_once(": ")).collect();
    bencher.bench_local(|| {
        pairs
            .iter()
            .filter_map(|(key, value)| parse_entry(black_box(key), black_box(value)).0)
            .count()
    });
}

/// Entries to the desired state: scope, policy and conflict checks, resolution.
#[divan::bench(args = SERVICES)]
fn build(bencher: Bencher<'_, '_>, services: usize) {
    let parsed = parse_configmap(&generate::configmap_text(size(services)));
    let settings = generate::settings();
    bencher.bench_local(|| generate::desired(black_box(&parsed), &settings));
}

/// Desired state to the wanted table (kernel specs keyed like a dump).
#[divan::bench(args = SERVICES)]
fn wanted(bencher: Bencher<'_, '_>, services: usize) {
    let parsed = parse_configmap(&generate::configmap_text(size(services)));
    let desired = generate::desired(&parsed, &generate::settings());
    bencher.bench_local(|| wanted_table(black_box(&desired)));
}

/// The whole path of `lbctl plan` plus a plan against an empty kernel: the issue's "parse,
/// validate and plan" target.
#[divan::bench(args = SERVICES)]
fn text_to_plan(bencher: Bencher<'_, '_>, services: usize) {
    let text = generate::configmap_text(size(services));
    let settings = generate::settings();
    let (scope, options, empty) = (
        test_util::scope(),
        test_util::options(),
        IpvsTable::default(),
    );
    bencher.bench_local(|| {
        let parsed = parse_configmap(black_box(&text));
        let wanted = wanted_table(&generate::desired(&parsed, &settings));
        plan(
            &wanted,
            &empty,
            &scope,
            &DrainBook::default(),
            test_util::NOW,
            &options,
        )
    });
}

/// The wanted table against an empty kernel: the plan stage alone (every service and real
/// server is an add).
#[divan::bench(args = SERVICES)]
fn plan_empty(bencher: Bencher<'_, '_>, services: usize) {
    let parsed = parse_configmap(&generate::configmap_text(size(services)));
    let wanted = wanted_table(&generate::desired(&parsed, &generate::settings()));
    let (scope, options, empty) = (
        test_util::scope(),
        test_util::options(),
        IpvsTable::default(),
    );
    bencher.bench_local(|| {
        plan(
            black_box(&wanted),
            &empty,
            &scope,
            &DrainBook::default(),
            test_util::NOW,
            &options,
        )
    });
}

/// The ConfigMap, settings and state file of the file benches, written once per size.
struct OnDisk {
    _dir: tempfile::TempDir,
    files: lb_controller::files::OperatorFiles,
    state_file: std::path::PathBuf,
}

// The benches' own files (an I/O room, like the daemon bench's state directory).
#[allow(clippy::disallowed_methods)]
fn on_disk(services: usize) -> OnDisk {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let config = dir.path().join("cm.yaml");
    let settings = dir.path().join("settings.toml");
    std::fs::write(&config, generate::configmap_text(size(services)))
        .unwrap_or_else(|e| panic!("write the ConfigMap: {e}"));
    let ranges: Vec<String> = generate::settings()
        .managed_vip_ranges
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect();
    std::fs::write(
        &settings,
        format!("managed_vip_ranges = [{}]\n", ranges.join(", ")),
    )
    .unwrap_or_else(|e| panic!("write the settings: {e}"));
    OnDisk {
        state_file: dir.path().join("state.json"),
        files: lb_controller::files::OperatorFiles {
            config,
            settings: Some(settings),
            endpoints: None,
        },
        _dir: dir,
    }
}

/// `lbctl plan`'s load from the files (the baseline of [`apply_prepare`]).
#[divan::bench(args = SERVICES)]
fn plan_load(bencher: Bencher<'_, '_>, services: usize) {
    let disk = on_disk(services);
    bencher.bench_local(|| lb_controller::files::load(black_box(&disk.files)));
}

/// `lbctl apply`'s and `diff`'s build from the same files: through the key memory, which
/// serves invalid keys from the state file's versions and records the good ones.
#[divan::bench(args = SERVICES)]
fn apply_prepare(bencher: Bencher<'_, '_>, services: usize) {
    let disk = on_disk(services);
    let kept = std::sync::Arc::default();
    bencher.bench_local(|| {
        lb_controller::prepare::pass_settings(black_box(&disk.files), Some(disk.state_file.clone()))
            .and_then(|s| s.prepare(&disk.files, false, &kept, test_util::NOW))
    });
}
