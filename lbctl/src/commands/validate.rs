//! `lbctl validate`: every problem of a ConfigMap, one line each.

use std::path::Path;

use anyhow::Result;
use lb_config::{HealthResults, build_desired_state};
use serde::Serialize;

use crate::cli::Output;
use crate::usage::CliUsage;
use lb_controller::files::{load_configmap, load_endpoints, load_settings, merge_problems};

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
    let mut problems = parsed.problems.clone();
    // With settings, also check the managed ranges; with endpoints, also Service references and
    // conflicts. Without settings, the range check would reject everything, so it is skipped.
    if settings.is_some() || endpoints.is_some() {
        let widen = settings.is_none();
        let mut settings = load_settings(settings)?;
        // The [bgp] table is read by the announcer's own types: check it here too.
        lb_controller::bgp::check_settings(&settings.bgp)?;
        let endpoints = load_endpoints(endpoints)?;
        if widen {
            settings.managed_vip_ranges = vec![
                "0.0.0.0/0".parse().map_err(CliUsage::from_error)?,
                "::/0".parse().map_err(CliUsage::from_error)?,
            ];
        }
        let outcome = build_desired_state(
            &parsed.entries,
            &settings,
            &endpoints,
            &HealthResults::default(),
        );
        problems = merge_problems(problems, &outcome.problems);
    }
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
