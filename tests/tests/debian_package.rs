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

use std::path::Path;
use std::process::{Command, Output};

fn run(root: &Path, script: &str, args: &[&str]) -> (Output, String) {
    let mut command = Command::new("bash");
    command.arg(root.join(script)).args(args).current_dir(root);
    // cargo test sets CARGO_MANIFEST_DIR, CARGO_PKG_* ...; build scripts of the release build
    // (ring's) track some of them, so passing them on would rebuild lbctl on every run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR" {
            command.env_remove(name);
        }
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run {script}: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    (output, text)
}

#[test]
fn debian_package_installs_works_and_purges_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(".."));
    let (built, text) = run(root, "packaging/debian/build-deb.sh", &[]);
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
    let (checked, text) = run(root, "packaging/debian/check-deb.sh", &[&deb]);
    assert!(checked.status.success(), "check-deb.sh failed:\n{text}");
    assert!(
        text.contains("purges cleanly"),
        "check-deb.sh did not finish:\n{text}"
    );
}
