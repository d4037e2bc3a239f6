//! The Debian package builds from this tree (packaging/debian/build-deb.sh), installs on this
//! machine, works (version, completions in bash/fish/zsh, man pages, `systemd-analyze verify`
//! of the installed unit, settings that manage nothing) and purges without a trace
//! (packaging/debian/check-deb.sh says how each step is checked). It installs a package, so it
//! needs root and refuses a machine that already has lbctl installed; it fails, never skips.
//! Mutations that fail it (tried by repacking the .deb): postrm without its purge branch, the
//! unit left at /usr/local/bin, an empty fish completion file.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use lb_tests::repo_script::run_repo_script;

#[test]
fn debian_package_installs_works_and_purges_cleanly() {
    let (built, text) = run_repo_script("packaging/debian/build-deb.sh", &[]);
    assert!(built.status.success(), "build-deb.sh failed:\n{text}");
    let deb = String::from_utf8_lossy(&built.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(
        deb.ends_with(".deb"),
        "build-deb.sh printed no package path:\n{text}"
    );
    let (checked, text) = run_repo_script("packaging/debian/check-deb.sh", &[&deb]);
    assert!(checked.status.success(), "check-deb.sh failed:\n{text}");
    assert!(
        text.contains("purges cleanly"),
        "check-deb.sh did not finish:\n{text}"
    );
}
