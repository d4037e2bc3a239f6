//! The BIRD include file is readable by BIRD's own user even when lbctl runs with
//! `UMask=0077` (the shipped systemd unit). Mutation: without the explicit 0644 in
//! `bird::apply`, the file is created 0600 and this test fails. Its own test binary, because
//! the umask is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use lb_bgp_announcer::bird::{BirdOptions, apply};

#[tokio::test]
#[allow(unsafe_code)]
async fn include_file_is_world_readable_under_umask_0077() {
    // SAFETY: umask(2) cannot fail and touches no memory; this test binary has only this test,
    // so no other thread creates files meanwhile.
    unsafe {
        libc::umask(0o077);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bird-vips.conf");
    let mut options = BirdOptions::new(&path);
    // No BIRD here: the reload fails after the file was written, which is all this checks.
    options.birdc = "false".to_owned();
    let result = apply(&Default::default(), &options).await;
    assert!(result.is_err(), "the stand-in birdc cannot reload");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "mode {mode:o}");
}
