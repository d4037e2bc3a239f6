//! Validation findings: what is wrong with a ConfigMap key, where, and how bad it is.
//!
//! Pure data. Problems are collected (never thrown) so that one bad key never hides the others
//! and never stops the good keys from being used. They sort deterministically and serialize to
//! JSON for `lbctl validate --output json`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The key used for problems that concern the whole document rather than one key.
pub const DOCUMENT_KEY: &str = "(configmap)";

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The key is rejected: it contributes nothing to the desired state (the daemon may keep
    /// the key's last good version instead).
    Error,
    /// The key is used, but something about it deserves attention.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// Where in a key, a value or the document a problem sits, so operators find it quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "in")]
pub enum Position {
    /// A 1-based character column in the key.
    Key {
        /// 1-based character column.
        column: usize,
    },
    /// A 1-based character column in the value.
    Column {
        /// 1-based character column.
        column: usize,
    },
    /// The n-th (1-based) real server of a static entry.
    Item {
        /// 1-based index in the real-server list.
        index: usize,
    },
    /// A line and column of the whole document (syntax errors before keys are known).
    Line {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Key { column } => write!(f, "key column {column}"),
            Position::Column { column } => write!(f, "column {column}"),
            Position::Item { index } => write!(f, "real server {index}"),
            Position::Line { line, column } => write!(f, "line {line} column {column}"),
        }
    }
}

/// One finding about one ConfigMap key (or the whole document, key [`DOCUMENT_KEY`]).
///
/// Displays as `key: position: message`, e.g.
/// `203.0.113.225-80: column 16: expected a port number 1-65535, found "8o"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Problem {
    /// The ConfigMap key concerned.
    pub key: String,
    /// Where in the key or value, when known.
    pub position: Option<Position>,
    /// Error (key rejected) or warning (key used).
    pub severity: Severity,
    /// What was expected and what was found.
    pub message: String,
}

impl Problem {
    /// A problem that rejects the key.
    pub fn error(key: &str, position: Option<Position>, message: impl Into<String>) -> Self {
        Problem {
            key: key.to_owned(),
            position,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A problem that leaves the key in use.
    pub fn warning(key: &str, position: Option<Position>, message: impl Into<String>) -> Self {
        Problem {
            key: key.to_owned(),
            position,
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    /// Whether this problem rejects its key.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.position {
            Some(position) => write!(f, "{}: {position}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Quotes user text for a message, shortened so a huge value cannot flood the output.
pub(crate) fn quoted(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    if text.chars().count() <= MAX_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_CHARS).collect();
        format!("{:?}...", head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_key_position_message() {
        let p = Problem::error(
            "203.0.113.225-80",
            Some(Position::Column { column: 18 }),
            "expected a port number 1-65535, found \"8o\"",
        );
        assert_eq!(
            p.to_string(),
            "203.0.113.225-80: column 18: expected a port number 1-65535, found \"8o\""
        );
        let q = Problem::warning("k", None, "m");
        assert_eq!(q.to_string(), "k: m");
        assert!(p.is_error() && !q.is_error());
    }

    #[test]
    fn serializes_to_json_with_tagged_position() {
        let p = Problem::error("k", Some(Position::Item { index: 2 }), "m");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"key":"k","position":{"in":"item","index":2},"severity":"error","message":"m"}"#
        );
    }

    #[test]
    fn quoted_shortens_long_text() {
        assert_eq!(quoted("8o"), "\"8o\"");
        let long = "x".repeat(100);
        assert!(quoted(&long).ends_with("\"..."));
        assert!(quoted(&long).len() < 70);
    }
}
