//! Property: the ConfigMap parser never panics, whatever the text (the fuzz target in fuzz/
//! explores further), and accepted entries render back to the same text.

use lb_config::{parse_configmap, parse_entry, render_entry};
use proptest::prelude::*;

/// Text built from the grammar's own characters, so that it often gets deep into the parser.
fn grammar_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("203.0.113.1".to_owned()),
            Just("2001_db8__1".to_owned()),
            Just("[2001:db8::5]".to_owned()),
            Just("198.51.100.1".to_owned()),
            "[-_.:/;,=\\[\\] a-z0-9]{1,6}",
            Just("; scheduler=mh mh-fallback".to_owned()),
            Just("; method=tunnel:gue:".to_owned()),
            Just("; check=http:/".to_owned()),
            Just("a/b:s".to_owned()),
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn entries_never_panic(key in grammar_soup(), value in grammar_soup()) {
        let (entry, problems) = parse_entry(&key, &value);
        for p in &problems {
            let _ = p.to_string();
        }
        if let Some(entry) = entry {
            let (k, v) = render_entry(&entry);
            let (again, problems) = parse_entry(&k, &v);
            prop_assert!(problems.is_empty(), "{k}: {v}: {problems:?}");
            prop_assert_eq!(again.map(|e| render_entry(&e)), Some((k, v)));
        }
    }

    #[test]
    fn documents_never_panic(text in "\\PC{0,200}") {
        let _ = parse_configmap(&text);
    }
}
