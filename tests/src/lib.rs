//! Integration tests across the crates, the driver of the real-kernel lab (`tests/lab/`), and
//! the fake Kubernetes API server ([`fake_apiserver`], also the `fake-apiserver` binary).
//!
//! The lab itself is shell (it builds an initramfs and boots qemu); the Rust tests here call it.

pub mod fake_apiserver;
