//! One module per operator command.

pub(crate) mod apply;
pub(crate) mod cleanup;
pub(crate) mod completions;
pub(crate) mod diff;
pub(crate) mod import;
pub(crate) mod node_bypass;
pub(crate) mod plan;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod validate;
pub(crate) mod webhook;
pub(crate) mod withdraw;

/// Prints problems on stderr, one per line, prefixed with their severity.
pub(crate) fn report_problems(problems: &[lb_config::Problem]) {
    for p in problems {
        eprintln!("{}: {p}", p.severity);
    }
}
