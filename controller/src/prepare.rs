//! What `diff`, `apply` and the daemon share before a pass: the operator's files -> wanted
//! table, scope, plan options, the clock; [`PreparedPass::pass_input`] shapes them into the
//! [`PassInput`] of `lb_director::sync`, the one pass every caller runs.
//!
//! `apply` and `diff` build the ConfigMap the way the daemon does (keep the last good state,
//! key by key): a key that is invalid now is served from the version the state file keeps for
//! it, so one careless edit applied by hand does not take a VIP's services out of the kernel,
//! and every key that builds cleanly is remembered for the next time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lb_config::{HealthResults, Problem, Settings};
use lb_director::netfilter::director_rules;
use lb_director::sync::persisted::{KeptVersions, PersistedState};
use lb_director::sync::{NetfilterHost, NetfilterJob, PassInput, Wanted, wanted_sync_daemons};
use lb_ipvs_sync::reconcile::{PlanOptions, Scope};
use lb_ipvs_sync::wanted::wanted_table;

use crate::daemon::memory::KeyMemory;
use crate::daemon::{ConfigInput, KeptKey};
use crate::files::{LoadedFiles, OperatorFiles, UsageError, load_endpoints, load_settings, read};

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
    /// What this build did with the state file's kept versions.
    pub last_good: LastGood,
}

/// The kept versions in one build of `apply` or `diff`.
#[derive(Debug, Clone, Default)]
pub struct LastGood {
    /// Keys invalid now and served from the version the state file keeps.
    pub kept: Vec<KeptKey>,
    /// Whether the whole document was unreadable and every kept key was served.
    pub kept_all: bool,
    /// Kept versions that no longer parse (e.g. written by another lbctl): not served.
    pub unusable: Vec<(String, Vec<Problem>)>,
    /// The versions to keep after this pass: every key that built cleanly now, and the older
    /// version of every key kept.
    pub versions: Arc<KeptVersions>,
}

/// The settings of a pass and its state file, read before anything else: `apply` takes the
/// writer lock (named by the state file) before it reads the state file and builds.
pub struct PassSettings {
    /// The settings in force.
    pub settings: Settings,
    /// Where drain deadlines and kept ConfigMap key versions are kept between runs.
    pub state_file: PathBuf,
}

/// Reads the settings; refuses settings without managed ranges (nothing could be synced
/// safely). `state_file` overrides the settings' path.
pub fn pass_settings(
    files: &OperatorFiles,
    state_file: Option<PathBuf>,
) -> Result<PassSettings, UsageError> {
    let settings = load_settings(files.settings.as_deref())?;
    settings
        .require_managed_ranges()
        .map_err(|e| UsageError::NoManagedRanges {
            needed_by: "a sync",
            cause: lb_director::error_text::chain(&e),
        })?;
    let state_file = state_file.unwrap_or_else(|| settings.state_file.clone());
    Ok(PassSettings {
        settings,
        state_file,
    })
}

impl PassSettings {
    /// Loads the ConfigMap and endpoints and builds the desired state, serving every key that
    /// is invalid now from its version in `kept` (the state file's); `now`: seconds since the
    /// Unix epoch (when a version first built cleanly).
    pub fn prepare(
        self,
        files: &OperatorFiles,
        force: bool,
        kept: &Arc<KeptVersions>,
        now: u64,
    ) -> Result<PreparedPass, UsageError> {
        let PassSettings {
            settings,
            state_file,
        } = self;
        let endpoints = load_endpoints(files.endpoints.as_deref())?;
        let input = ConfigInput::from_text(&read(&files.config, "ConfigMap")?);
        let mut memory = KeyMemory::for_one_build();
        let unusable = memory.seed(kept);
        let built = memory.build(
            &input,
            true,
            &settings,
            &endpoints,
            &HealthResults::default(),
            now,
        );
        let last_good = LastGood {
            kept: built.kept,
            kept_all: built.kept_all,
            unusable,
            versions: memory.versions(),
        };
        let loaded = LoadedFiles {
            settings,
            outcome: built.outcome,
            problems: built.problems,
        };
        let wanted = Arc::new(wanted_table(&loaded.outcome.state));
        let scope = Scope::new(loaded.settings.managed_vip_ranges.clone());
        let options = plan_options(&loaded.settings, force);
        Ok(PreparedPass {
            loaded,
            wanted,
            scope,
            options,
            state_file,
            last_good,
        })
    }
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
    /// The pass these files ask for: drains from `state` (what the state file holds), the
    /// key versions of this build, time `now`, both persisted to the state file; with
    /// `netfilter`, the director's rules and sysctls installed first (`apply`), without,
    /// IPVS only (`diff`'s preview).
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
            keys: Arc::clone(&self.last_good.versions),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use lb_director::sync::persisted::KeptVersion;
    use lb_ipvs_sync::ServiceId;

    use super::*;
    use crate::daemon::KeptFrom;

    const SETTINGS: &str = "managed_vip_ranges = [\"10.0.0.0/24\"]\n";
    const GOOD_80: &str = "10.0.1.11:80, 10.0.1.12:80";
    const BAD_80: &str = "10.0.1.11:8o, 10.0.1.12:80";

    /// Writes the settings and a ConfigMap of `data` lines into `dir`.
    fn files(dir: &Path, data: &[(&str, &str)]) -> OperatorFiles {
        let settings = dir.join("settings.toml");
        std::fs::write(&settings, SETTINGS).unwrap();
        let config = dir.join("cm.yaml");
        let text: String = data.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        std::fs::write(&config, text).unwrap();
        OperatorFiles {
            config,
            settings: Some(settings),
            endpoints: None,
        }
    }

    fn prepared(files: &OperatorFiles, kept: &Arc<KeptVersions>) -> PreparedPass {
        let state = files.config.with_file_name("state.json");
        pass_settings(files, Some(state))
            .unwrap()
            .prepare(files, false, kept, 1_000)
            .unwrap()
    }

    fn kept_80() -> Arc<KeptVersions> {
        let version = KeptVersion {
            value: Arc::from(GOOD_80),
            since: 500,
        };
        Arc::new(BTreeMap::from([("10.0.0.100-80".to_owned(), version)]))
    }

    fn service_ports(pass: &PreparedPass) -> Vec<u16> {
        pass.wanted
            .keys()
            .filter_map(|id| match id {
                ServiceId::Inet(key) => Some(key.port),
                ServiceId::Fwmark { .. } => None,
            })
            .collect()
    }

    // Fails if apply/diff build without the state file's versions (the invalid key's services
    // would be missing from the wanted table, i.e. deleted by the pass), or report the key wrong.
    #[test]
    fn an_invalid_key_is_built_from_its_kept_version() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(
            dir.path(),
            &[("10.0.0.100-80", BAD_80), ("10.0.0.100-81", "10.0.1.12:80")],
        );
        let pass = prepared(&files, &kept_80());
        assert_eq!(service_ports(&pass), vec![80, 81]);
        let kept = &pass.last_good.kept;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].key, "10.0.0.100-80");
        assert_eq!(kept[0].version_since, 500);
        assert_eq!(kept[0].from, KeptFrom::StateFile);
        // The invalid value is still reported, and the kept version stays what the file held.
        assert!(
            pass.loaded
                .problems
                .iter()
                .any(|p| p.key == "10.0.0.100-80")
        );
        let versions = &pass.last_good.versions;
        assert_eq!(&*versions["10.0.0.100-80"].value, GOOD_80);
        assert_eq!(versions["10.0.0.100-80"].since, 500);
        // The good key is remembered from now on, with this build's time.
        assert_eq!(&*versions["10.0.0.100-81"].value, "10.0.1.12:80");
        assert_eq!(versions["10.0.0.100-81"].since, 1_000);
    }

    // The control of the test above: without a kept version the invalid key has no services.
    #[test]
    fn without_a_kept_version_an_invalid_key_has_no_services() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(
            dir.path(),
            &[("10.0.0.100-80", BAD_80), ("10.0.0.100-81", "10.0.1.12:80")],
        );
        let pass = prepared(&files, &Arc::default());
        assert_eq!(service_ports(&pass), vec![81]);
        assert!(pass.last_good.kept.is_empty());
        assert!(!pass.last_good.versions.contains_key("10.0.0.100-80"));
    }

    // Fails if a valid key's new value loses to the kept one, or a removed key's kept version
    // outlives it (removing a key is how an operator removes a VIP).
    #[test]
    fn valid_keys_replace_their_kept_version_and_removed_keys_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let removed = files(dir.path(), &[("10.0.0.100-81", "10.0.1.12:80")]);
        let pass = prepared(&removed, &kept_80());
        assert_eq!(service_ports(&pass), vec![81]);
        assert!(pass.last_good.kept.is_empty());
        assert_eq!(
            pass.last_good.versions.keys().collect::<Vec<_>>(),
            vec!["10.0.0.100-81"]
        );
        let edited = files(dir.path(), &[("10.0.0.100-80", "10.0.1.13:80")]);
        let pass = prepared(&edited, &kept_80());
        assert!(pass.last_good.kept.is_empty());
        assert_eq!(
            &*pass.last_good.versions["10.0.0.100-80"].value,
            "10.0.1.13:80"
        );
    }

    // Fails if an unreadable ConfigMap is read as "no keys" (every service would be deleted,
    // or refused by the delete guard) instead of serving every kept version.
    #[test]
    fn an_unreadable_configmap_serves_every_kept_version() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path(), &[]);
        std::fs::write(&files.config, "data: [unclosed\n").unwrap();
        let pass = prepared(&files, &kept_80());
        assert!(pass.last_good.kept_all);
        assert_eq!(service_ports(&pass), vec![80]);
    }
}
