//! Benchmarks as binaries with a written method and results (bench/README.md).
//! Promise: targets are ratios against a baseline measured in the same run.

// An I/O room as a whole (see clippy.toml): benchmarks time programs and read their output.
#![allow(clippy::disallowed_methods)]
