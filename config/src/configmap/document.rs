//! From ConfigMap text (a whole manifest or the bare `data` map, YAML or JSON) to key/value text.
//!
//! Pure. Values are kept as the text the operator wrote: YAML scalars that look like numbers or
//! booleans are not converted. A document that cannot be read at all becomes one problem on the
//! key [`DOCUMENT_KEY`] with the line and column the YAML parser reports.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::simple_yaml;
use crate::problem::{DOCUMENT_KEY, Position, Problem, quoted};

/// The fields of a ConfigMap manifest we look at (others, like `metadata`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    kind: Option<String>,
    data: Option<BTreeMap<String, Option<String>>>,
}

/// The `data` of a document: keys and values (`None` stands for a YAML null), borrowed from the
/// document text where the fast reader could (no copy of 20,000 strings for 10,000 keys), owned
/// where the YAML parser read them.
pub(crate) type DataMap<'a> = BTreeMap<Cow<'a, str>, Option<Cow<'a, str>>>;

/// The `data` of the document, or `None` when unreadable.
pub(crate) fn read_data<'a>(text: &'a str, problems: &mut Vec<Problem>) -> Option<DataMap<'a>> {
    if text.trim().is_empty() {
        problems.push(Problem::warning(
            DOCUMENT_KEY,
            None,
            "the document is empty: no entries",
        ));
        return Some(BTreeMap::new());
    }
    match simple_yaml::read(text) {
        Some(doc) if doc.is_manifest => manifest_data(doc.kind.as_deref(), doc.data, problems),
        Some(doc) => doc.data,
        None => read_data_with_parser(text, problems),
    }
}

/// [`read_data`] of a non-empty document by the YAML parser alone (the general path).
pub(crate) fn read_data_with_parser(
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<DataMap<'static>> {
    let top: BTreeMap<String, IgnoredAny> = match serde_saphyr::from_str(text) {
        Ok(top) => top,
        Err(error) => {
            problems.push(document_problem(&error));
            return None;
        }
    };
    let is_manifest = ["kind", "apiVersion", "data"]
        .iter()
        .any(|k| top.contains_key(*k));
    if !is_manifest {
        return match serde_saphyr::from_str::<BTreeMap<String, Option<String>>>(text) {
            Ok(data) => Some(owned(data)),
            Err(error) => {
                problems.push(document_problem(&error));
                None
            }
        };
    }
    let manifest = match serde_saphyr::from_str::<Manifest>(text) {
        Ok(manifest) => manifest,
        Err(error) => {
            problems.push(document_problem(&error));
            return None;
        }
    };
    manifest_data(manifest.kind.as_deref(), manifest.data.map(owned), problems)
}

/// The parser's map as a [`DataMap`].
fn owned(data: BTreeMap<String, Option<String>>) -> DataMap<'static> {
    data.into_iter()
        .map(|(key, value)| (Cow::Owned(key), value.map(Cow::Owned)))
        .collect()
}

/// The `data` of a manifest of `kind`, or `None` (and an error) when it is not a ConfigMap.
fn manifest_data<'a>(
    kind: Option<&str>,
    data: Option<DataMap<'a>>,
    problems: &mut Vec<Problem>,
) -> Option<DataMap<'a>> {
    if let Some(kind) = kind
        && kind != "ConfigMap"
    {
        problems.push(Problem::error(
            DOCUMENT_KEY,
            None,
            format!(
                "expected a manifest of kind ConfigMap, found kind {}",
                quoted(kind)
            ),
        ));
        return None;
    }
    if data.as_ref().is_none_or(BTreeMap::is_empty) {
        problems.push(Problem::warning(
            DOCUMENT_KEY,
            None,
            "the ConfigMap has no data: no entries",
        ));
    }
    Some(data.unwrap_or_default())
}

fn document_problem(error: &serde_saphyr::Error) -> Problem {
    let position = error.location().map(|l| Position::Line {
        line: usize::try_from(l.line()).unwrap_or(usize::MAX),
        column: usize::try_from(l.column()).unwrap_or(usize::MAX),
    });
    Problem::error(
        DOCUMENT_KEY,
        position,
        format!(
            "expected a ConfigMap manifest or a map of keys to text values: {}",
            first_line(&error.to_string())
        ),
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
