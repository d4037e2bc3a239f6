//! An error with its causes on one line, the way anyhow's `{:#}` prints it: for causes kept as
//! text inside a typed error (so they print once) and for log fields.

use std::fmt;

/// Displays `error: cause: cause of the cause ...`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The error and its causes as one line of text.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    Chain(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    /// Mutation: stop following `source()` and the inner cause is lost.
    #[test]
    fn prints_every_cause_once_in_order() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&error), "outer: inner");
        assert_eq!(
            chain(&error),
            format!(
                "{:#}",
                anyhow::Error::new(Outer(std::io::Error::other("inner")))
            )
        );
    }
}
