//! A fast reader for the plain shape of a ConfigMap that large generated files have: top-level
//! `NAME: VALUE` lines, a `metadata` block or flow map of plain pairs, and a `data:` block of
//! `KEY: VALUE` lines with one indentation. The general YAML parser reads 10,000 keys in about
//! 20 ms per pass, and [`super::document`] needed two passes (38 ms in all on the bench host);
//! this reader, data map included, takes about 4 ms (`bench/README.md`).
//!
//! Pure. It answers only for documents whose every line it understands, and where its answer is
//! what the YAML parser gives: plain scalars of a safe alphabet (no quotes, comments, anchors,
//! tags, flow collections as values, continuation lines or null-like words). Anything else,
//! and every error, is `None`, and the caller reads the document with the YAML parser, so
//! results and problem messages never depend on which reader answered. A property test
//! compares the two readers on generated documents.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::document::DataMap;

/// The most text read here: far below the YAML parser's limits on input (256 MiB) and on
/// scalar text (64 MiB), so it never accepts what the parser would refuse as too large.
const MAX_TEXT_BYTES: usize = 8 * 1024 * 1024;

/// The most `KEY: VALUE` pairs read here: two scalar nodes each stays below the YAML parser's
/// limit of 250,000 nodes (and 1,000,000 events) per document.
const MAX_PAIRS: usize = 100_000;

/// The longest key read here: the YAML parser looks at most 1,024 characters ahead for the
/// `:` of a key on one line.
const MAX_KEY_BYTES: usize = 256;

/// What the document says: whether it is a manifest (has `kind`, `apiVersion` or `data`), its
/// `kind`, and its `data` (a manifest's `data`, or the whole map of a bare data document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SimpleDocument<'a> {
    /// Whether a top-level `kind`, `apiVersion` or `data` key is present.
    pub(crate) is_manifest: bool,
    /// The manifest's `kind`.
    pub(crate) kind: Option<String>,
    /// The data map (`None`: a manifest without `data`).
    pub(crate) data: Option<DataMap<'a>>,
}

/// Reads `text` when it has the plain shape, `None` otherwise (then use the YAML parser).
pub(crate) fn read(text: &str) -> Option<SimpleDocument<'_>> {
    if text.len() > MAX_TEXT_BYTES || !text.is_ascii() || text.contains(['\t', '\r']) {
        return None;
    }
    let mut pairs = 0_usize;
    let mut top: BTreeMap<&str, TopValue<'_>> = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if is_blank_or_comment(line) {
            continue;
        }
        if line.starts_with(' ') {
            return None;
        }
        let (name, value) = split_pair(line)?;
        pairs += 1;
        if !is_plain_key(name) || pairs > MAX_PAIRS {
            return None;
        }
        let parsed = if value.is_empty() {
            // A block of `KEY: VALUE` lines with one indentation (or an empty value: unsure).
            let mut block: Vec<(&str, &str)> = Vec::new();
            let mut indent = None;
            while let Some(next) = lines.peek() {
                if is_blank_or_comment(next) {
                    lines.next();
                    continue;
                }
                let width = next.len() - next.trim_start_matches(' ').len();
                if width == 0 {
                    break;
                }
                if *indent.get_or_insert(width) != width {
                    return None;
                }
                let (key, value) = split_pair(&next[width..])?;
                pairs += 1;
                if !is_plain_key(key) || !is_plain_value(value) || pairs > MAX_PAIRS {
                    return None;
                }
                block.push((key, value));
                lines.next();
            }
            indent?;
            let block = sorted_map(block)?;
            TopValue::Block(block)
        } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            let mut keys = Vec::new();
            for pair in inner.split(',') {
                let (key, value) = split_pair(pair.trim())?;
                pairs += 1;
                if pairs > MAX_PAIRS
                    || !is_plain_key(key)
                    || !is_plain_flow_value(value)
                    || keys.contains(&key)
                {
                    return None;
                }
                keys.push(key);
            }
            TopValue::Flow
        } else if is_plain_value(value) {
            TopValue::Scalar(value)
        } else {
            return None;
        };
        if top.insert(name, parsed).is_some() {
            return None;
        }
    }
    if top.is_empty() {
        return None;
    }
    let is_manifest = ["kind", "apiVersion", "data"]
        .iter()
        .any(|k| top.contains_key(*k));
    if !is_manifest {
        let mut data = BTreeMap::new();
        for (name, value) in top {
            let TopValue::Scalar(value) = value else {
                return None;
            };
            data.insert(Cow::Borrowed(name), Some(Cow::Borrowed(value)));
        }
        return Some(SimpleDocument {
            is_manifest,
            kind: None,
            data: Some(data),
        });
    }
    let kind = match top.remove("kind") {
        None => None,
        Some(TopValue::Scalar(kind)) => Some(kind.to_owned()),
        Some(_) => return None,
    };
    let data = match top.remove("data") {
        None => None,
        Some(TopValue::Block(data)) => Some(data),
        Some(_) => return None,
    };
    Some(SimpleDocument {
        is_manifest,
        kind,
        data,
    })
}

/// The map of `pairs`, or `None` when a key repeats (the YAML parser refuses the document).
/// Sorted first and built in one go: 10,000 inserts, each a dozen key comparisons, cost more
/// than one sort.
fn sorted_map<'a>(mut pairs: Vec<(&'a str, &'a str)>) -> Option<DataMap<'a>> {
    pairs.sort_unstable_by_key(|&(key, _)| key);
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(
        pairs
            .into_iter()
            .map(|(key, value)| (Cow::Borrowed(key), Some(Cow::Borrowed(value))))
            .collect(),
    )
}

/// A top-level value: a plain scalar, a block of plain pairs, or a flow map of plain pairs
/// (only ever ignored: `metadata`).
enum TopValue<'a> {
    Scalar(&'a str),
    Block(DataMap<'a>),
    Flow,
}

fn is_blank_or_comment(line: &str) -> bool {
    let rest = line.trim_start_matches(' ');
    rest.is_empty() || rest.starts_with('#')
}

/// `NAME: VALUE` or `NAME:` (value empty); the separator is the first `:` followed by a space
/// or the end.
fn split_pair(line: &str) -> Option<(&str, &str)> {
    if let Some(name) = line.strip_suffix(':') {
        return (!name.contains(':')).then_some((name, ""));
    }
    let (name, value) = line.split_once(": ")?;
    (!name.contains(':')).then_some((name, value))
}

/// A key the YAML parser reads as the same plain string: letters, digits, `-`, `.`, `_`,
/// starting with a letter or digit, not a null-like word, at most [`MAX_KEY_BYTES`] long.
fn is_plain_key(key: &str) -> bool {
    key.len() <= MAX_KEY_BYTES
        && key
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !is_null_like(key)
}

/// A block-context plain scalar the YAML parser keeps as written: starts with a letter or
/// digit, no `#`, quotes, braces, `&`, `*`, `!`, `|`, `>`, `%`, `@` or backquote, no `: `
/// inside, no trailing `:` or space, not a null-like word.
fn is_plain_value(value: &str) -> bool {
    value
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphanumeric)
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b' ' | b'.' | b',' | b':' | b'_' | b'/' | b'=' | b';' | b'-' | b'[' | b']'
                )
        })
        && !value.contains(": ")
        && !value.ends_with([':', ' '])
        && !is_null_like(value)
}

/// A plain scalar inside a flow map: also without `,`, `[` or `]` (flow indicators).
fn is_plain_flow_value(value: &str) -> bool {
    is_plain_value(value) && !value.contains([',', '[', ']'])
}

/// YAML's null words (an empty value is never accepted here).
fn is_null_like(text: &str) -> bool {
    matches!(text, "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests;
