//! Fuzz target: the import parsers (`ipvsadm -Sn` text, keepalived.conf with includes) never
//! panic on any text, and every import that succeeds writes a ConfigMap whose entries parse
//! back without an error.

#![no_main]

use lb_config::import::{
    ImportOutput, MemoryFiles, parse_ipvsadm_save, parse_keepalived, render_configmap_yaml,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut results = vec![parse_ipvsadm_save("dump", text)];
    // The text as the main file, which may include itself or a second copy of it.
    let files = MemoryFiles::new()
        .with("/k/keepalived.conf", text)
        .with("/k/conf.d/a.conf", text);
    results.push(parse_keepalived("/k/keepalived.conf", &files));
    for result in results {
        match result {
            Ok((table, notes)) => {
                let out = ImportOutput::new(table, notes);
                let yaml = render_configmap_yaml(&out.entries, "ns", "cm", "fuzz");
                let parsed = lb_config::parse_configmap(&yaml);
                assert!(
                    parsed.problems.iter().all(|p| !p.is_error()),
                    "{yaml}: {:?}",
                    parsed.problems
                );
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
});
