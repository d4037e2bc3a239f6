//! Integration tests across the crates, and the driver of the real-kernel lab (`tests/lab/`).
//!
//! The lab itself is shell (it builds an initramfs and boots qemu); the Rust tests here call it.
