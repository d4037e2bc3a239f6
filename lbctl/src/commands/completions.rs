//! Shell completions and manual pages, generated from the CLI definition (clap_complete,
//! clap_mangen) so they can never disagree with `lbctl --help`. The Debian package
//! (packaging/deb/build.sh) ships both; operators without the package can run
//! `lbctl completions bash > /etc/bash_completion.d/lbctl`.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Writes the completion script for `shell` to stdout.
pub(crate) fn run(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "lbctl", &mut std::io::stdout());
    Ok(0)
}

/// Writes `lbctl.1` and one `lbctl-COMMAND.1` per visible command into `out_dir`.
pub(crate) fn man_pages(out_dir: &Path) -> anyhow::Result<i32> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    clap_mangen::generate_to(Cli::command(), out_dir)
        .with_context(|| format!("cannot write the manual pages to {}", out_dir.display()))?;
    Ok(0)
}
