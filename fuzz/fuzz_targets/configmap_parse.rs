//! Fuzz target: the ConfigMap parser never panics on any text, and every entry it accepts
//! renders to text that parses back to the same entry.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = lb_config::parse_configmap(text);
    for problem in &parsed.problems {
        let _ = problem.to_string();
    }
    for entry in &parsed.entries {
        let (key, value) = lb_config::render_entry(entry);
        let (again, problems) = lb_config::parse_entry(&key, &value);
        assert!(problems.is_empty(), "{key}: {value}: {problems:?}");
        let again = again.map(|e| lb_config::render_entry(&e));
        assert_eq!(again, Some((key, value)));
    }
});
