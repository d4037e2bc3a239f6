//! What `diff`, `apply` and the daemon share before a pass: the operator's files -> wanted
//! table, scope, plan options, the clock; [`PreparedPass::pass_input`] shapes them into the
//! [`PassInput`] of `lb_director::sync`, the one pass every caller runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lb_config::Settings;
use lb_director::netfilter::director_rules;
use lb_director::sync::persisted::PersistedState;
use lb_director::sync::{NetfilterHost, NetfilterJob, PassInput, Wanted, wanted_sync_daemons};
use lb_ipvs_sync::reconcile::{PlanOptions, Scope};
use lb_ipvs_sync::wanted::wanted_table;

use crate::files::{LoadedFiles, OperatorFiles, UsageError, load};

/// The operator's files resolved for a kernel sync (`lbctl diff/apply`).
pub struct PreparedPass {
    /// The files as loaded, with their problems.
    pub loaded: LoadedFiles,
    /// The IPVS table the files describe.
    pub wanted: Wanted,
    /// The managed VIP ranges: nothing outside them is read or written.
    pub scope: Scope,
    /// Delete guard and drain timeouts from the settings.
    pub options: PlanOptions,
    /// Where drain deadlines and kept ConfigMap key versions are kept between runs.
    pub state_file: PathBuf,
}

/// Loads the files; refuses settings without managed ranges (nothing could be synced safely).
pub fn prepare(
    files: &OperatorFiles,
    state_file: Option<PathBuf>,
    force: bool,
) -> Result<PreparedPass, UsageError> {
    let loaded = load(files)?;
    loaded
        .settings
        .require_managed_ranges()
        .map_err(|e| UsageError::NoManagedRanges {
            needed_by: "a sync",
            cause: lb_director::error_text::chain(&e),
        })?;
    let wanted = Arc::new(wanted_table(&loaded.outcome.state));
    let scope = Scope::new(loaded.settings.managed_vip_ranges.clone());
    let options = plan_options(&loaded.settings, force);
    let state_file = state_file.unwrap_or_else(|| loaded.settings.state_file.clone());
    Ok(PreparedPass {
        loaded,
        wanted,
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
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl PreparedPass {
    /// The pass these files ask for: drains and kept ConfigMap keys from `state` (what the
    /// state file holds; the keys are passed on unchanged: only the daemon keeps versions),
    /// time `now`, the drain book persisted to the state file; with `netfilter`, the director's rules and sysctls installed first
    /// (`apply`), without, IPVS only (`diff`'s preview).
    pub fn pass_input(&self, state: PersistedState, now: u64, netfilter: bool) -> PassInput {
        let settings = &self.loaded.settings;
        PassInput {
            wanted: Arc::clone(&self.wanted),
            desired_vips: self.loaded.outcome.state.vips.clone(),
            scope: self.scope.clone(),
            options: self.options.clone(),
            drain: state.drain.clone(),
            now,
            state_file: Some(self.state_file.clone()),
            keys: Arc::clone(&state.keys),
            on_disk: Some(state),
            netfilter: netfilter.then(|| NetfilterJob {
                settings: Arc::new(settings.clone()),
                rules: director_rules(&self.loaded.outcome.state),
                host: NetfilterHost::default(),
            }),
            sync_daemons: wanted_sync_daemons(settings),
        }
    }
}
