//! Benchmarks as binaries with a written method and results (bench/README.md).
//! Promise: targets are ratios against a baseline measured in the same run.
//!
//! The library holds the generated inputs every benchmark shares: the same table as the lab's
//! `bench-apply` scenario (VIPs x ports, ten masquerading real servers each), as ConfigMap text,
//! as a wanted table, and as a kernel dump equal to it.

// An I/O room as a whole (see clippy.toml): benchmarks time programs and read their output.
#![allow(clippy::disallowed_methods)]

pub mod generate;
