//! One module per operator command.

pub(crate) mod apply;
pub(crate) mod cleanup;
pub(crate) mod completions;
pub(crate) mod diff;
pub(crate) mod import;
pub(crate) mod node_bypass;
pub(crate) mod plan;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod validate;
pub(crate) mod webhook;
pub(crate) mod withdraw;

/// Prints problems on stderr, one per line, prefixed with their severity.
pub(crate) fn report_problems(problems: &[lb_config::Problem]) {
    for p in problems {
        eprintln!("{}: {p}", p.severity);
    }
}

/// Prints on stderr which invalid keys a pass serves from the state file's kept versions
/// (`doing`: "applying", "planning"), and the kept versions it could not use.
pub(crate) fn report_last_good(last_good: &lb_controller::prepare::LastGood, doing: &str) {
    for line in last_good_lines(last_good, doing) {
        eprintln!("{line}");
    }
}

/// The lines of [`report_last_good`].
fn last_good_lines(last_good: &lb_controller::prepare::LastGood, doing: &str) -> Vec<String> {
    use lb_ipvs_sync::reconcile::utc_timestamp;
    let mut lines = Vec::new();
    if last_good.kept_all {
        lines.push(format!(
            "warning: the ConfigMap is unreadable: {doing} the last good version of each of its \
             {} key(s) kept in the state file",
            last_good.versions.len()
        ));
    }
    for k in &last_good.kept {
        lines.push(format!(
            "warning: key {}: invalid now, {doing} its last good version from the state file \
             (version of {}); fix the key to change its services",
            k.key,
            utc_timestamp(k.version_since)
        ));
    }
    for (key, problems) in &last_good.unusable {
        let why = problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        lines.push(format!(
            "warning: key {key}: the state file's last good version does not parse with this \
             lbctl ({why}): not used"
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use lb_controller::daemon::{KeptFrom, KeptKey};
    use lb_controller::prepare::LastGood;

    use super::last_good_lines;

    // Fails if a kept key or an unusable kept version goes unreported: an operator applying
    // an invalid key must learn that the kernel runs an older version of it.
    #[test]
    fn kept_and_unusable_keys_are_each_one_line() {
        let last_good = LastGood {
            kept: vec![KeptKey {
                key: "10.0.0.100-80".into(),
                kept_since: 10,
                version_since: 0,
                from: KeptFrom::StateFile,
            }],
            kept_all: false,
            unusable: vec![("10.0.0.101-80".into(), Vec::new())],
            versions: Arc::new(BTreeMap::new()),
        };
        let lines = last_good_lines(&last_good, "applying");
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "warning: key 10.0.0.100-80: invalid now, applying its last good version from the \
             state file (version of 1970-01-01T00:00:00Z); fix the key to change its services"
        );
        assert!(lines[1].starts_with("warning: key 10.0.0.101-80: the state file's last good"));
        assert!(last_good_lines(&LastGood::default(), "applying").is_empty());
    }
}
