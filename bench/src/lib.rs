//! Benchmarks live here as binaries with a written method; see `bench/README.md`.

// An I/O room as a whole (see clippy.toml): benchmarks time programs and read their output.
#![allow(clippy::disallowed_methods)]
