//! The trust boundary between ConfigMap text and the director: what the settings allow an entry
//! to ask for besides VIPs in the managed ranges.
//!
//! Pure. Whoever edits the ConfigMap is not root on the director; the settings, written by the
//! director's administrator, decide which programs a health check may run (`check=exec:`) and
//! which source addresses FullNAT may SNAT to (`pool=`). An entry that asks for more gets a
//! per-key error and contributes nothing; the other keys are not disturbed. The daemon checks
//! the program again on disk before each run (ownership, permissions, symbolic links), which
//! needs I/O and so lives with the checker.

use std::path::{Component, Path};

use ipnetwork::IpNetwork;

use crate::desired::HealthCheckKind;
use crate::entry::Entry;
use crate::model::ForwardMethod;
use crate::problem::{Problem, quoted};
use crate::settings::{ExecCheckSettings, Settings};

/// Whether `path` is absolute and has no `..` components, so that a prefix test on it means
/// what it says (`.` components are no risk: `Path` skips them).
pub fn is_plain_absolute(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// The allowed directory `program` lies in, or why it may not run.
pub fn exec_program_allowed<'a>(
    program: &str,
    settings: &'a ExecCheckSettings,
) -> Result<&'a Path, String> {
    if !settings.enabled {
        return Err(format!(
            "check=exec is disabled on this director (settings: [exec_checks] enabled = false), \
             so {} is not run; use check=tcp or check=http, or ask the director's \
             administrator to allow a directory of check programs",
            quoted(program)
        ));
    }
    let path = Path::new(program);
    if !is_plain_absolute(path) {
        return Err(format!(
            "check=exec needs an absolute program path without '..', found {}",
            quoted(program)
        ));
    }
    settings
        .allowed_directories
        .iter()
        .find(|dir| path.starts_with(dir) && path != dir.as_path())
        .map(|dir| dir.as_path())
        .ok_or_else(|| {
            let dirs: Vec<String> = settings
                .allowed_directories
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!(
                "check=exec program {} is not in a directory the settings allow ({})",
                quoted(program),
                dirs.join(", ")
            )
        })
}

/// Whether every network of `pool` lies inside one of the networks `allowed`.
pub fn pool_allowed<'a>(
    pool: &'a [IpNetwork],
    allowed: impl Iterator<Item = &'a IpNetwork> + Clone,
) -> Result<(), &'a IpNetwork> {
    match pool
        .iter()
        .find(|net| !allowed.clone().any(|a| contains(a, net)))
    {
        Some(outside) => Err(outside),
        None => Ok(()),
    }
}

fn contains(outer: &IpNetwork, inner: &IpNetwork) -> bool {
    outer.is_ipv4() == inner.is_ipv4()
        && outer.prefix() <= inner.prefix()
        && outer.contains(inner.network())
}

/// The errors of an entry that asks for more than the settings allow (empty: allowed).
pub fn entry_policy_problems(entry: &Entry, settings: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(check) = &entry.options.health_check
        && let HealthCheckKind::Exec { command } = &check.kind
    {
        let program = command.first().map(String::as_str).unwrap_or_default();
        if let Err(message) = exec_program_allowed(program, &settings.exec_checks) {
            problems.push(Problem::error(&entry.key, None, message));
        }
    }
    // pool= of an entry that does not end up FullNAT is ignored (with a warning elsewhere).
    let fullnat = entry.forward_method(settings) == ForwardMethod::Fullnat;
    let allowed = settings
        .fullnat_pool
        .iter()
        .chain(settings.allowed_snat_ranges.iter());
    if fullnat && let Err(outside) = pool_allowed(&entry.options.snat_pool, allowed) {
        let mut ranges: Vec<String> = settings
            .fullnat_pool
            .iter()
            .chain(&settings.allowed_snat_ranges)
            .map(ToString::to_string)
            .collect();
        ranges.dedup();
        let allowed_text = if ranges.is_empty() {
            "none: the settings have no fullnat_pool or allowed_snat_ranges".to_owned()
        } else {
            ranges.join(", ")
        };
        problems.push(Problem::error(
            &entry.key,
            None,
            format!(
                "pool= {outside} is outside the SNAT source ranges the settings allow \
                 ({allowed_text})"
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn exec_settings(enabled: bool, dirs: &[&str]) -> ExecCheckSettings {
        ExecCheckSettings {
            enabled,
            allowed_directories: dirs.iter().map(PathBuf::from).collect(),
            user: "nobody".to_owned(),
        }
    }

    #[test]
    fn exec_programs_are_refused_unless_enabled_and_inside_an_allowed_directory() {
        let off = exec_settings(false, &["/usr/lib/lbctl/checks"]);
        let err = exec_program_allowed("/usr/lib/lbctl/checks/ok", &off).unwrap_err();
        assert!(err.contains("disabled"), "{err}");

        let on = exec_settings(true, &["/usr/lib/lbctl/checks"]);
        assert_eq!(
            exec_program_allowed("/usr/lib/lbctl/checks/ok", &on).unwrap(),
            Path::new("/usr/lib/lbctl/checks")
        );
        for refused in [
            "/bin/sh",
            "sh",
            "/usr/lib/lbctl/checks/../../../../bin/sh",
            "/usr/lib/lbctl/checksX/ok",
            "/usr/lib/lbctl/checks",
            "",
        ] {
            assert!(
                exec_program_allowed(refused, &on).is_err(),
                "{refused:?} was allowed"
            );
        }
    }

    #[test]
    fn a_huge_program_name_is_cut_in_the_message() {
        let on = exec_settings(true, &["/opt/checks"]);
        let program = format!("/bin/{}", "é".repeat(5000));
        let err = exec_program_allowed(&program, &on).unwrap_err();
        assert!(err.len() < 400, "{} bytes", err.len());
    }

    #[test]
    fn pools_must_lie_inside_an_allowed_network() {
        let allowed: Vec<IpNetwork> = vec![
            "198.51.100.0/24".parse().unwrap(),
            "2001:db8:5::/64".parse().unwrap(),
        ];
        let ok: Vec<IpNetwork> = vec![
            "198.51.100.250/31".parse().unwrap(),
            "198.51.100.7/32".parse().unwrap(),
            "2001:db8:5::10/128".parse().unwrap(),
        ];
        assert!(pool_allowed(&ok, allowed.iter()).is_ok());
        for bad in [
            "198.51.0.0/16",
            "10.0.0.1/32",
            "0.0.0.0/0",
            "2001:db8::/32",
            "::ffff:198.51.100.7/128",
        ] {
            let pool: Vec<IpNetwork> = vec![bad.parse().unwrap()];
            assert_eq!(
                pool_allowed(&pool, allowed.iter()),
                Err(&pool[0]),
                "{bad} was allowed"
            );
        }
        assert!(pool_allowed(&[], std::iter::empty()).is_ok());
    }

    #[test]
    fn plain_absolute_paths() {
        assert!(is_plain_absolute(Path::new("/usr/lib/x")));
        assert!(!is_plain_absolute(Path::new("usr/lib/x")));
        assert!(!is_plain_absolute(Path::new("/usr/../x")));
        assert!(!is_plain_absolute(Path::new("/usr/x/..")));
    }
}
