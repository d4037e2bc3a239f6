//! Loading the operator's files (ConfigMap, settings, endpoints) into a desired state: what the
//! one-shot commands (`lbctl validate/plan/diff/apply`) read. The daemon's own inputs are watch
//! channels ([`crate::daemon::DaemonInputs`]); it uses only [`load_settings`] from here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lb_config::{
    DesiredOutcome, EndpointSnapshot, HealthResults, ParsedConfigMap, Problem, Settings,
    build_desired_state, parse_configmap,
};

/// The files that describe what the director should run (`lbctl plan/diff/apply`).
#[derive(Debug, Clone)]
pub struct OperatorFiles {
    /// The VIP ConfigMap: a manifest or just its data map.
    pub config: PathBuf,
    /// Daemon settings (TOML); `None` is the built-in defaults.
    pub settings: Option<PathBuf>,
    /// Offline endpoints of the Services the ConfigMap references.
    pub endpoints: Option<PathBuf>,
}

/// Everything derived from the operator's files.
pub struct LoadedFiles {
    /// The settings in force.
    pub settings: Settings,
    /// The desired state and its problems.
    pub outcome: DesiredOutcome,
    /// Parse problems followed by desired-state problems, sorted and de-duplicated.
    pub problems: Vec<Problem>,
}

/// A file we cannot use at all (unreadable, not YAML, bad settings): exit code 64.
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

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
pub fn load_settings(path: Option<&Path>) -> Result<Settings, UsageError> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = read(path, "settings").map_err(UsageError)?;
    Settings::from_toml_str(&text)
        .with_context(|| format!("invalid settings in {}", path.display()))
        .map_err(UsageError)
}

/// Reads the offline endpoints file, or an empty snapshot when none is given.
pub fn load_endpoints(path: Option<&Path>) -> Result<EndpointSnapshot, UsageError> {
    let Some(path) = path else {
        return Ok(EndpointSnapshot::default());
    };
    let text = read(path, "endpoints").map_err(UsageError)?;
    EndpointSnapshot::from_yaml_str(&text)
        .with_context(|| format!("invalid endpoints in {}", path.display()))
        .map_err(UsageError)
}

/// Reads and parses the ConfigMap file.
pub fn load_configmap(path: &Path) -> Result<ParsedConfigMap, UsageError> {
    let text = read(path, "ConfigMap").map_err(UsageError)?;
    Ok(parse_configmap(&text))
}

/// Loads all the files and builds the desired state (no health results offline).
pub fn load(files: &OperatorFiles) -> Result<LoadedFiles, UsageError> {
    let settings = load_settings(files.settings.as_deref())?;
    let endpoints = load_endpoints(files.endpoints.as_deref())?;
    let parsed = load_configmap(&files.config)?;
    let outcome = build_desired_state(
        &parsed.entries,
        &settings,
        &endpoints,
        &HealthResults::default(),
    );
    let problems = merge_problems(parsed.problems, &outcome.problems);
    Ok(LoadedFiles {
        settings,
        outcome,
        problems,
    })
}

/// Parse problems plus builder problems, sorted, without duplicates.
pub fn merge_problems(mut problems: Vec<Problem>, more: &[Problem]) -> Vec<Problem> {
    problems.extend(more.iter().cloned());
    problems.sort();
    problems.dedup();
    problems
}
