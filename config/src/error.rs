//! Errors of the files this crate reads as whole documents: settings and endpoint snapshots.
//!
//! ConfigMap problems are not errors but collected [`Problem`](crate::Problem)s, because a bad
//! key must never stop the good ones; these errors reject a whole file, keeping their cause.
//!
//! Each cause is printed once: the message carries it, and `source()` does not repeat it (an
//! anyhow `{:#}` would print it twice). The cause stays a typed field for code that inspects it.

use thiserror::Error;

/// The daemon settings could not be used.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// Not valid TOML, an unknown key (typo), or a value of the wrong type; the message names
    /// the field and the line.
    #[error("invalid settings: {cause}")]
    Toml {
        /// The TOML error (carries the field path and position).
        cause: toml::de::Error,
    },
    /// A value of the right type but outside what makes sense.
    #[error("invalid settings: {field}: {message}")]
    Invalid {
        /// The settings key, e.g. `max_delete_share` or `health_check.rise`.
        field: &'static str,
        /// What is expected.
        message: String,
    },
}

/// The endpoint snapshot could not be used.
#[derive(Debug, Error)]
pub enum EndpointsError {
    /// Not valid YAML/JSON or not the documented shape.
    #[error("invalid endpoint snapshot: {cause}")]
    Yaml {
        /// The parser error (carries line and column).
        cause: serde_saphyr::Error,
    },
    /// The shape is right but the content is inconsistent.
    #[error("invalid endpoint snapshot: service {service}: {message}")]
    Invalid {
        /// `namespace/name` of the Service concerned.
        service: String,
        /// What is wrong.
        message: String,
    },
}

impl From<toml::de::Error> for SettingsError {
    fn from(cause: toml::de::Error) -> Self {
        SettingsError::Toml { cause }
    }
}

impl From<serde_saphyr::Error> for EndpointsError {
    fn from(cause: serde_saphyr::Error) -> Self {
        EndpointsError::Yaml { cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What anyhow's `{:#}` prints: the message, then each `source()` after a colon.
    fn alternate(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut next = error.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }

    /// Fails if the parser error is both interpolated and returned by `source()` again.
    #[test]
    fn each_cause_prints_once() {
        let toml_error = toml::from_str::<toml::Table>("a = ").unwrap_err();
        let cause = toml_error.to_string();
        let text = alternate(&SettingsError::from(toml_error));
        assert_eq!(text.matches(cause.as_str()).count(), 1, "{text}");

        let yaml_error = serde_saphyr::from_str::<Vec<u32>>("[1, x]").unwrap_err();
        let cause = yaml_error.to_string();
        let text = alternate(&EndpointsError::from(yaml_error));
        assert_eq!(text.matches(cause.as_str()).count(), 1, "{text}");
    }
}
