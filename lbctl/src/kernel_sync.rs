//! What `diff` and `apply` share: inputs -> target table, scope, plan options, and the clock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lb_config::Settings;
use lb_ipvs_sync::ServiceId;
use lb_ipvs_sync::reconcile::{PlanOptions, Scope};
use lb_ipvs_sync::target::{TargetService, target_table};

use crate::cli::Inputs;
use crate::inputs::{Loaded, UsageError, load, report_problems};

/// Inputs resolved for a kernel sync.
pub(crate) struct SyncInputs {
    pub(crate) loaded: Loaded,
    pub(crate) target: BTreeMap<ServiceId, TargetService>,
    pub(crate) scope: Scope,
    pub(crate) options: PlanOptions,
    pub(crate) state_file: PathBuf,
}

/// Loads the inputs; refuses settings without managed ranges (nothing could be synced safely).
pub(crate) fn prepare(
    inputs: &Inputs,
    state_file: Option<PathBuf>,
    force: bool,
) -> Result<SyncInputs, UsageError> {
    let loaded = load(inputs)?;
    loaded
        .settings
        .require_managed_ranges()
        .context("a sync needs managed_vip_ranges in the settings")
        .map_err(UsageError)?;
    report_problems(&loaded.problems);
    let target = target_table(&loaded.outcome.state);
    let scope = Scope::new(loaded.settings.managed_vip_ranges.clone());
    let options = plan_options(&loaded.settings, force);
    let state_file = state_file.unwrap_or_else(|| loaded.settings.state_file.clone());
    Ok(SyncInputs {
        loaded,
        target,
        scope,
        options,
        state_file,
    })
}

/// Plan options from the settings.
pub(crate) fn plan_options(settings: &Settings, force: bool) -> PlanOptions {
    PlanOptions {
        max_delete_share: settings.max_delete_share,
        force,
        drain_timeout_secs: settings.drain_timeout_secs,
        udp_drain_timeout_secs: settings.udp_drain_timeout_secs,
    }
}

/// Seconds since the Unix epoch: the reconciler's notion of now.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
