//! Cross-crate tests, the real-kernel lab driver (`tests/lab/`), the fake Kubernetes API server
//! and the failover traffic tool (`flow-traffic`).
//! Promise: what needs a kernel runs in the lab VM; nothing here touches the host's network.
//!
//! The lab itself is shell (it builds an initramfs and boots qemu); the Rust tests here call it.

// An I/O room as a whole (see clippy.toml): the fake API server serves sockets and keeps time.
#![allow(clippy::disallowed_methods)]

pub mod fake_apiserver;
pub mod flow_traffic;
pub mod repo_script;
