//! Loading the operator's files (ConfigMap, settings, endpoints) into a desired state.

use std::path::Path;

use anyhow::{Context, Result};
use lb_config::{
    DesiredOutcome, EndpointSnapshot, HealthResults, ParsedConfigMap, Problem, Settings,
    build_desired_state, parse_configmap,
};

use crate::cli::Inputs;

/// Everything derived from the input files.
pub(crate) struct Loaded {
    pub(crate) settings: Settings,
    pub(crate) outcome: DesiredOutcome,
    /// Parse problems followed by desired-state problems, sorted and de-duplicated.
    pub(crate) problems: Vec<Problem>,
}

/// A file we cannot use at all (unreadable, not YAML, bad settings): exit code 64.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))
}

/// Reads the settings file, or the defaults when none is given.
pub(crate) fn load_settings(path: Option<&Path>) -> Result<Settings, UsageError> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = read(path, "settings").map_err(UsageError)?;
    Settings::from_toml_str(&text)
        .with_context(|| format!("invalid settings in {}", path.display()))
        .map_err(UsageError)
}

/// Reads the offline endpoints file, or an empty snapshot when none is given.
pub(crate) fn load_endpoints(path: Option<&Path>) -> Result<EndpointSnapshot, UsageError> {
    let Some(path) = path else {
        return Ok(EndpointSnapshot::default());
    };
    let text = read(path, "endpoints").map_err(UsageError)?;
    EndpointSnapshot::from_yaml_str(&text)
        .with_context(|| format!("invalid endpoints in {}", path.display()))
        .map_err(UsageError)
}

/// Reads and parses the ConfigMap file.
pub(crate) fn load_configmap(path: &Path) -> Result<ParsedConfigMap, UsageError> {
    let text = read(path, "ConfigMap").map_err(UsageError)?;
    Ok(parse_configmap(&text))
}

/// Loads all inputs and builds the desired state (no health results offline).
pub(crate) fn load(inputs: &Inputs) -> Result<Loaded, UsageError> {
    let settings = load_settings(inputs.settings.as_deref())?;
    let endpoints = load_endpoints(inputs.endpoints.as_deref())?;
    let parsed = load_configmap(&inputs.config)?;
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &endpoints,
        &HealthResults::default(),
    );
    let problems = merge_problems(parsed.problems, &outcome.problems);
    Ok(Loaded {
        settings,
        outcome,
        problems,
    })
}

/// Parse problems plus builder problems, sorted, without duplicates.
pub(crate) fn merge_problems(mut problems: Vec<Problem>, more: &[Problem]) -> Vec<Problem> {
    problems.extend(more.iter().cloned());
    problems.sort();
    problems.dedup();
    problems
}

/// Prints problems on stderr, one per line, prefixed with their severity.
pub(crate) fn report_problems(problems: &[Problem]) {
    for p in problems {
        eprintln!("{}: {p}", p.severity);
    }
}
