//! `lbctl validate`: every problem of a ConfigMap, one line each.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::cli::Output;
use crate::usage::CliUsage;
use lb_controller::configmap_check::ConfigMapChecks;
use lb_controller::files::load_configmap;

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    errors: usize,
    warnings: usize,
    problems: &'a [lb_config::Problem],
}

/// Returns the exit code: 0 valid, 1 at least one error.
pub(crate) fn run(
    file: &Path,
    settings: Option<&Path>,
    endpoints: Option<&Path>,
    output: Output,
) -> Result<i32> {
    let parsed = load_configmap(file)?;
    // The same checks as the admission webhook (`lbctl webhook`).
    let problems = ConfigMapChecks::load(settings, endpoints)?.check(&parsed);
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    match output {
        Output::Json => {
            let report = Report {
                valid: errors == 0,
                errors,
                warnings,
                problems: &problems,
            };
            let text = serde_json::to_string_pretty(&report).map_err(CliUsage::from_error)?;
            println!("{text}");
        }
        Output::Text => {
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                eprintln!("ok: {} entries, no problems", parsed.entries.len());
            } else {
                eprintln!("{errors} error(s), {warnings} warning(s)");
            }
        }
    }
    Ok(if errors == 0 { 0 } else { 1 })
}
