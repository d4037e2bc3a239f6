//! Integration tests across the crates, the driver of the real-kernel lab (`tests/lab/`), and
//! the fake Kubernetes API server ([`fake_apiserver`], also the `fake-apiserver` binary).
//!
//! The lab itself is shell (it builds an initramfs and boots qemu); the Rust tests here call it.

// An I/O room as a whole (see clippy.toml): the fake API server serves sockets and keeps time.
#![allow(clippy::disallowed_methods)]

pub mod fake_apiserver;
