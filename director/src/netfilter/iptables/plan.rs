//! Decides whether a table is in sync and writes the `iptables-restore --noflush` input that
//! makes it so: one transaction per table that replaces our chain and fixes our jumps.
//!
//! Pure. Foreign rules are never named in the output: we only declare (and thereby flush) our
//! own chain, append to it, and insert or delete the exact jump rule `-j OURCHAIN`.

use super::render::{TableSpec, jump};
use super::save::TableState;

/// The restore input that brings `current` to `spec`, or `None` when it already matches.
/// A spec without rules means "remove our chain and jumps".
pub fn restore_input(spec: &TableSpec, current: &TableState) -> Option<String> {
    if spec.rules.is_empty() {
        return removal_input(spec, current);
    }
    let jump_rule = jump(spec.chain);
    let hooks_ok = spec.hooks.iter().all(|hook| {
        let count = current.count(hook.builtin, &jump_rule);
        let first_ok = !hook.keep_first
            || current
                .rules_of(hook.builtin)
                .first()
                .is_some_and(|r| *r == jump_rule);
        count == 1 && first_ok
    });
    let chain_ok = current.chains.contains(spec.chain)
        && current.rules_of(spec.chain) == spec.rules.as_slice();
    if hooks_ok && chain_ok {
        return None;
    }
    let mut out = format!("*{}\n:{} - [0:0]\n", spec.table, spec.chain);
    for rule in &spec.rules {
        out.push_str(&format!("-A {} {rule}\n", spec.chain));
    }
    for hook in &spec.hooks {
        let count = current.count(hook.builtin, &jump_rule);
        let is_first = current
            .rules_of(hook.builtin)
            .first()
            .is_some_and(|r| *r == jump_rule);
        let delete = |out: &mut String, n: usize| {
            for _ in 0..n {
                out.push_str(&format!("-D {} {jump_rule}\n", hook.builtin));
            }
        };
        if hook.keep_first && !(count == 1 && is_first) {
            delete(&mut out, count);
            out.push_str(&format!("-I {} 1 {jump_rule}\n", hook.builtin));
        } else if count == 0 {
            out.push_str(&format!("-I {} 1 {jump_rule}\n", hook.builtin));
        } else {
            delete(&mut out, count - 1);
        }
    }
    out.push_str("COMMIT\n");
    Some(out)
}

/// The restore input that removes our jumps and our chain, or `None` when none are present.
pub fn removal_input(spec: &TableSpec, current: &TableState) -> Option<String> {
    let jump_rule = jump(spec.chain);
    let jumps: usize = spec
        .hooks
        .iter()
        .map(|hook| current.count(hook.builtin, &jump_rule))
        .sum();
    let has_chain = current.chains.contains(spec.chain);
    if jumps == 0 && !has_chain {
        return None;
    }
    let mut out = format!("*{}\n", spec.table);
    for hook in &spec.hooks {
        for _ in 0..current.count(hook.builtin, &jump_rule) {
            out.push_str(&format!("-D {} {jump_rule}\n", hook.builtin));
        }
    }
    if has_chain {
        out.push_str(&format!("-F {}\n-X {}\n", spec.chain, spec.chain));
    }
    out.push_str("COMMIT\n");
    Some(out)
}
