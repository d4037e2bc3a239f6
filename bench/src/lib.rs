//! Benchmarks live here as binaries with a written method; see `bench/README.md`.
