//! Runs one of the repository's shell scripts from a test and hands back its output, for the
//! tests that wrap a check script (deploy/check-unit.sh, packaging/debian/*.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root (the parent of the `tests` crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(".."))
        .to_path_buf()
}

/// Runs `bash SCRIPT ARGS...` in the repository's root and returns its output and its stdout
/// and stderr as one text (also printed, so a failing test shows it).
///
/// cargo test sets CARGO_MANIFEST_DIR, CARGO_PKG_* ...; build scripts of a cargo build the
/// script runs (ring's) track some of them, so they are not passed on: a script's release
/// build would otherwise be rebuilt on every run.
pub fn run_repo_script(script: &str, args: &[&str]) -> (Output, String) {
    let root = repo_root();
    let mut command = Command::new("bash");
    command.arg(root.join(script)).args(args).current_dir(&root);
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
