//! The problem collector for one key's value: turns byte offsets into value columns.
//!
//! Pure. Parsers of the value report through this so that every problem carries the key and
//! a 1-based character column in the value.

use std::net::IpAddr;

use super::text::{ColumnCursor, Piece};
use crate::problem::{Position, Problem};

/// Collects the problems of one value.
pub(crate) struct ValueCtx<'a> {
    /// The ConfigMap key (named in every problem).
    pub(crate) key: &'a str,
    /// The whole value (columns are counted in it).
    pub(crate) value: &'a str,
    /// The VIP from the key, when the key parsed (some checks depend on its family).
    pub(crate) vip: Option<IpAddr>,
    /// Problems found so far.
    pub(crate) problems: Vec<Problem>,
    /// Where the last problem was, so columns cost one walk over the value in all.
    columns: ColumnCursor,
}

impl<'a> ValueCtx<'a> {
    /// A collector for `value` of `key`.
    pub(crate) fn new(key: &'a str, value: &'a str, vip: Option<IpAddr>) -> Self {
        ValueCtx {
            key,
            value,
            vip,
            problems: Vec::new(),
            columns: ColumnCursor::default(),
        }
    }

    /// Records an error at the start of `piece`.
    pub(crate) fn error(&mut self, piece: Piece<'_>, message: impl Into<String>) {
        let position = Position::Column {
            column: self.columns.column(self.value, piece.offset),
        };
        self.problems
            .push(Problem::error(self.key, Some(position), message));
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// Parses a decimal number in `min..=max`; `Err` carries the message to report.
pub(crate) fn parse_number(text: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "expected {what} {min}-{max}, found {}",
            crate::problem::quoted(text)
        )
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// Parses a port number 1-65535.
pub(crate) fn parse_port(text: &str) -> Result<u16, String> {
    parse_number(text, 1, u64::from(u16::MAX), "a port number")
        .and_then(|n| u16::try_from(n).map_err(|e| e.to_string()))
}

/// Parses a `u32` in `min..=max`.
pub(crate) fn parse_u32(text: &str, min: u32, max: u32, what: &str) -> Result<u32, String> {
    parse_number(text, u64::from(min), u64::from(max), what)
        .and_then(|n| u32::try_from(n).map_err(|e| e.to_string()))
}
