//! Which programs an exec check may run, and as whom.
//!
//! The config layer already refused programs outside the settings' allowed directories (a
//! lexical test: pure). Here the program is vetted on disk before each run: its real path
//! (symbolic links resolved) must lie in an allowed directory, and the file and every
//! directory above it must be owned by root and not writable by group or others, so that no
//! unprivileged user can swap it. A world-writable directory with the sticky bit (`/tmp`)
//! passes: others cannot rename or delete root's entries in it. The child runs as the
//! settings' unprivileged user with that user's primary group and no supplementary groups.
//! Changing every user ID away from root clears all capabilities (capabilities(7)), so the
//! child has none; its environment is empty apart from the `LB_*` variables.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lb_config::ExecCheckSettings;
use nix::unistd::User;
use thiserror::Error;

/// Why exec checks cannot be enabled as the settings ask.
#[derive(Debug, Error)]
pub(crate) enum SandboxError {
    /// The settings' user does not exist.
    #[error("exec_checks.user {0:?} does not exist on this director")]
    UnknownUser(String),
    /// The user database could not be read.
    #[error("cannot look up exec_checks.user {user:?}: {cause}")]
    Lookup {
        /// The user.
        user: String,
        /// The cause (in the message, so not a `source()`).
        cause: nix::Error,
    },
    /// The user is root (or has user ID 0 under another name).
    #[error("exec_checks.user {0:?} has user ID 0: exec checks must run unprivileged")]
    RootUser(String),
    /// lbctl cannot switch to the user.
    #[error(
        "exec checks need lbctl to run as root with CAP_SETUID and CAP_SETGID, to run the \
         programs as {user:?}; {detail}"
    )]
    CannotSwitch {
        /// The user.
        user: String,
        /// What is missing.
        detail: String,
    },
}

/// Whether exec checks may run here (from the settings' `[exec_checks]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExecPolicy {
    /// Exec checks are off (the default): every exec check is refused.
    #[default]
    Disabled,
    /// Exec checks run in this sandbox.
    Enabled(ExecSandbox),
}

/// The allowed directories and the user the programs run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSandbox {
    allowed: Vec<PathBuf>,
    user: String,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

impl ExecPolicy {
    /// Resolves the settings: the user must exist, must not be root, and lbctl must be able to
    /// switch to it (root with CAP_SETUID and CAP_SETGID in its effective set).
    pub(crate) fn from_settings(settings: &ExecCheckSettings) -> Result<ExecPolicy, SandboxError> {
        if !settings.enabled {
            return Ok(ExecPolicy::Disabled);
        }
        let user = User::from_name(&settings.user)
            .map_err(|cause| SandboxError::Lookup {
                user: settings.user.clone(),
                cause,
            })?
            .ok_or_else(|| SandboxError::UnknownUser(settings.user.clone()))?;
        if user.uid.is_root() {
            return Err(SandboxError::RootUser(settings.user.clone()));
        }
        let cannot = |detail: String| SandboxError::CannotSwitch {
            user: settings.user.clone(),
            detail,
        };
        if !nix::unistd::geteuid().is_root() {
            return Err(cannot(format!(
                "lbctl runs as user ID {}",
                nix::unistd::geteuid()
            )));
        }
        let status = std::fs::read_to_string("/proc/self/status")
            .map_err(|e| cannot(format!("cannot read /proc/self/status: {e}")))?;
        let missing = missing_switch_capabilities(&status);
        if !missing.is_empty() {
            return Err(cannot(format!("missing {}", missing.join(" and "))));
        }
        Ok(ExecPolicy::Enabled(ExecSandbox {
            allowed: settings.allowed_directories.clone(),
            user: settings.user.clone(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }))
    }
}

impl ExecSandbox {
    /// A sandbox for tests: `allowed` directories, run as `uid`/`gid`.
    #[cfg(test)]
    pub(crate) fn for_tests(allowed: Vec<PathBuf>, uid: u32, gid: u32) -> ExecSandbox {
        ExecSandbox {
            allowed,
            user: format!("uid {uid}"),
            uid,
            gid,
        }
    }

    /// The user the programs run as.
    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// The program's real path, once it passes the checks of the module docs.
    pub(crate) fn vet(&self, program: &str) -> Result<PathBuf, String> {
        let real = std::fs::canonicalize(program)
            .map_err(|e| format!("cannot resolve the program path: {e}"))?;
        let inside = self.allowed.iter().any(|dir| {
            std::fs::canonicalize(dir).is_ok_and(|dir| real.starts_with(&dir) && real != dir)
        });
        if !inside {
            return Err(format!(
                "resolves to {} outside the allowed directories",
                real.display()
            ));
        }
        let meta =
            std::fs::metadata(&real).map_err(|e| format!("cannot stat {}: {e}", real.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", real.display()));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("{} is not executable", real.display()));
        }
        check_owner_and_mode(&real, &meta, false)?;
        for dir in real.ancestors().skip(1) {
            let meta = std::fs::metadata(dir)
                .map_err(|e| format!("cannot stat {}: {e}", dir.display()))?;
            check_owner_and_mode(dir, &meta, true)?;
        }
        Ok(real)
    }
}

/// Root-owned, and not writable by group or others (a sticky directory may be).
fn check_owner_and_mode(path: &Path, meta: &std::fs::Metadata, dir: bool) -> Result<(), String> {
    let mode = meta.permissions().mode();
    if meta.uid() != 0 {
        return Err(format!(
            "{} is owned by user ID {}, not root",
            path.display(),
            meta.uid()
        ));
    }
    let sticky = dir && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Which of CAP_SETUID and CAP_SETGID the `CapEff:` line of `/proc/self/status` lacks.
fn missing_switch_capabilities(status: &str) -> Vec<&'static str> {
    const CAP_SETGID: u32 = 6;
    const CAP_SETUID: u32 = 7;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    [(CAP_SETUID, "CAP_SETUID"), (CAP_SETGID, "CAP_SETGID")]
        .into_iter()
        .filter(|(bit, _)| effective & (1 << bit) == 0)
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_effective_set_must_hold_both_switch_capabilities() {
        let full = "Name:\tlbctl\nCapEff:\t000001ffffffffff\n";
        assert!(missing_switch_capabilities(full).is_empty());
        let net_admin_only = "CapEff:\t0000000000001000\n";
        assert_eq!(
            missing_switch_capabilities(net_admin_only),
            vec!["CAP_SETUID", "CAP_SETGID"]
        );
        assert_eq!(
            missing_switch_capabilities("CapEff:\t0000000000000040\n"),
            vec!["CAP_SETUID"]
        );
        assert_eq!(missing_switch_capabilities("garbage").len(), 2);
    }

    #[test]
    fn a_disabled_policy_resolves_nothing() {
        let settings = ExecCheckSettings {
            user: "no-such-user-anywhere".to_owned(),
            ..ExecCheckSettings::default()
        };
        assert_eq!(
            ExecPolicy::from_settings(&settings).unwrap(),
            ExecPolicy::Disabled
        );
        let enabled = ExecCheckSettings {
            enabled: true,
            ..settings
        };
        let err = ExecPolicy::from_settings(&enabled).unwrap_err();
        assert!(matches!(err, SandboxError::UnknownUser(_)), "{err}");
    }

    /// A root-owned directory of check programs in a fresh temporary directory (below /tmp,
    /// which is sticky), as the tests run as root in CI and in the lab.
    fn check_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn script(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn vetting_refuses_writable_files_and_directories_and_escaping_links() {
        if !nix::unistd::geteuid().is_root() {
            // Files we create are then not root-owned: everything is refused, which the
            // owner check below also shows.
            let dir = check_dir();
            let ok = script(dir.path(), "ok", 0o755);
            let sandbox = ExecSandbox::for_tests(vec![dir.path().to_owned()], 65534, 65534);
            let err = sandbox.vet(ok.to_str().unwrap()).unwrap_err();
            assert!(err.contains("not root"), "{err}");
            return;
        }
        let dir = check_dir();
        let sandbox = ExecSandbox::for_tests(vec![dir.path().to_owned()], 65534, 65534);
        let ok = script(dir.path(), "ok", 0o755);
        assert_eq!(
            sandbox.vet(ok.to_str().unwrap()).unwrap(),
            std::fs::canonicalize(&ok).unwrap()
        );

        let writable = script(dir.path(), "writable", 0o757);
        let err = sandbox.vet(writable.to_str().unwrap()).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");

        let not_exec = script(dir.path(), "plain", 0o644);
        assert!(sandbox.vet(not_exec.to_str().unwrap()).is_err());

        let link = dir.path().join("sh");
        std::os::unix::fs::symlink("/bin/sh", &link).unwrap();
        let err = sandbox.vet(link.to_str().unwrap()).unwrap_err();
        assert!(err.contains("outside the allowed directories"), "{err}");

        let owned = script(dir.path(), "owned", 0o755);
        std::os::unix::fs::chown(&owned, Some(65534), None).unwrap();
        let err = sandbox.vet(owned.to_str().unwrap()).unwrap_err();
        assert!(err.contains("not root"), "{err}");

        // The directory itself made world-writable without the sticky bit.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = sandbox.vet(ok.to_str().unwrap()).unwrap_err();
        assert!(err.contains("writable by group or others"), "{err}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        sandbox.vet(ok.to_str().unwrap()).unwrap();
    }
}
