//! Loading the operator's files (ConfigMap, settings, endpoints) into a desired state: what the
//! one-shot commands (`lbctl validate/plan/diff/apply`) read. The daemon's own inputs are watch
//! channels ([`crate::daemon::DaemonInputs`]); it uses only [`load_settings`] from here.

use std::path::{Path, PathBuf};

use lb_config::{
    DesiredOutcome, EndpointSnapshot, HealthResults, ParsedConfigMap, Problem, Settings,
    build_desired_state, parse_configmap,
};
use lb_director::error_text::chain;

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

/// Input we cannot use at all (an unreadable or invalid file, settings this director cannot
/// run with): `lbctl` exits with 64, the daemon does not start, a SIGHUP keeps the old
/// settings. Each variant names the file or key and carries its cause as text (printed once).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A file could not be read.
    #[error("cannot read {what} file {}: {cause}", .path.display())]
    Read {
        /// Which file it is ("settings", "endpoints", "ConfigMap").
        what: &'static str,
        /// Where it is.
        path: PathBuf,
        /// Why reading failed.
        cause: String,
    },
    /// A file given on the command line does not exist.
    #[error("{what} file {} does not exist", .path.display())]
    Missing {
        /// Which file it is.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The settings file does not parse or breaks a rule of its own.
    #[error("invalid settings in {}: {cause}", .path.display())]
    Settings {
        /// The settings file.
        path: PathBuf,
        /// The key and what is wrong with it.
        cause: String,
    },
    /// The offline endpoints file of a one-shot command does not parse.
    #[error("invalid endpoints in {}: {cause}", .path.display())]
    Endpoints {
        /// The endpoints file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// The daemon's endpoints file (`--endpoints-file`) cannot be read or does not parse.
    #[error("invalid endpoints file {}: {cause}", .path.display())]
    EndpointsFile {
        /// The endpoints file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// The settings have no managed VIP ranges, and `needed_by` changes the kernel.
    #[error("{needed_by} needs managed_vip_ranges in the settings: {cause}")]
    NoManagedRanges {
        /// What refused to run ("the daemon", "a sync").
        needed_by: &'static str,
        /// The settings' own message.
        cause: String,
    },
    /// Settings that parse but that this director cannot run with (no managed ranges on a
    /// reload, a managed range holding one of its own addresses, or its addresses unknown).
    #[error("{0}")]
    Refused(String),
    /// The `[bgp]` table is invalid.
    #[error("invalid [bgp] settings: {0}")]
    Bgp(String),
    /// Exec health checks are enabled but their sandbox cannot be set up.
    #[error("exec checks are enabled in the settings but cannot run safely: {0}")]
    ExecChecks(String),
    /// The Kubernetes API server is plain HTTP and the settings do not allow it.
    #[error(
        "the Kubernetes API server {server} is not https: over plain HTTP anyone on the path can \
         read the credentials and rewrite the ConfigMap and endpoints this director programs; \
         use an https:// server, or set allow_insecure_http = true in [kubernetes] of the \
         settings (tests, kubectl proxy on loopback)"
    )]
    PlainHttp {
        /// The cluster URL from the kubeconfig.
        server: String,
    },
}

pub(crate) fn read(path: &Path, what: &'static str) -> Result<String, UsageError> {
    std::fs::read_to_string(path).map_err(|e| UsageError::Read {
        what,
        path: path.to_owned(),
        cause: chain(&e),
    })
}

/// Reads the settings file, or the defaults when none is given.
pub fn load_settings(path: Option<&Path>) -> Result<Settings, UsageError> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = read(path, "settings")?;
    Settings::from_toml_str(&text).map_err(|e| UsageError::Settings {
        path: path.to_owned(),
        cause: chain(&e),
    })
}

/// Reads the offline endpoints file, or an empty snapshot when none is given.
pub fn load_endpoints(path: Option<&Path>) -> Result<EndpointSnapshot, UsageError> {
    let Some(path) = path else {
        return Ok(EndpointSnapshot::default());
    };
    let text = read(path, "endpoints")?;
    EndpointSnapshot::from_yaml_str(&text).map_err(|e| UsageError::Endpoints {
        path: path.to_owned(),
        cause: chain(&e),
    })
}

/// Reads and parses the ConfigMap file.
pub fn load_configmap(path: &Path) -> Result<ParsedConfigMap, UsageError> {
    let text = read(path, "ConfigMap")?;
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
