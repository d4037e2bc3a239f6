//! The rooms of docs/architecture.md keep their walls: each crate depends only on the project
//! crates below it (`config` <- `ipvs-sync` <- `director` <- `controller` <- `lbctl`, and
//! `bgp-announcer` on none of them).
//!
//! Fails when a crate gains a project dependency the architecture does not allow, e.g. adding
//! `lb-ipvs-sync` to bgp-announcer's `[dependencies]`, or `lb-controller` to director's.

// A test may read files: clippy.toml's disallowed-methods guard the pure rooms' code.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// The project crates a manifest's `[dependencies]` section names (dev-dependencies are tests'
/// business: they may reach up for fakes and builders).
fn project_dependencies(crate_dir: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies && line.starts_with("lb") {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if name == "lbctl" || name.starts_with("lb-") {
                found.insert(name);
            }
        }
    }
    found
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn each_crate_depends_only_on_the_rooms_below_it() {
    let allowed: [(&str, &[&str]); 6] = [
        ("config", &[]),
        ("bgp-announcer", &[]),
        ("ipvs-sync", &["lb-config"]),
        ("director", &["lb-config", "lb-ipvs-sync"]),
        (
            "controller",
            &[
                "lb-config",
                "lb-ipvs-sync",
                "lb-director",
                "lb-bgp-announcer",
            ],
        ),
        (
            "lbctl",
            &["lb-config", "lb-ipvs-sync", "lb-director", "lb-controller"],
        ),
    ];
    for (crate_dir, may_use) in allowed {
        let uses = project_dependencies(crate_dir);
        let may_use = set(may_use);
        let extra: Vec<&String> = uses.difference(&may_use).collect();
        assert!(
            extra.is_empty(),
            "{crate_dir}/Cargo.toml depends on {extra:?}, which docs/architecture.md does not allow"
        );
    }
    // The parser sees what is there: a control against a reader that finds nothing.
    assert!(project_dependencies("controller").contains("lb-director"));
}
