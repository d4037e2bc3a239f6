//! Errors of the files this crate reads as whole documents: settings and endpoint snapshots.
//!
//! ConfigMap problems are not errors but collected [`Problem`](crate::Problem)s, because a bad
//! key must never stop the good ones; these errors reject a whole file, keeping their cause.

use thiserror::Error;

/// The daemon settings could not be used.
#[derive(Debug, Error)]
pub enum SettingsError {
    /// Not valid TOML, an unknown key (typo), or a value of the wrong type; the message names
    /// the field and the line.
    #[error("invalid settings: {source}")]
    Toml {
        /// The TOML error (carries the field path and position).
        #[from]
        source: toml::de::Error,
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
    #[error("invalid endpoint snapshot: {source}")]
    Yaml {
        /// The parser error (carries line and column).
        #[from]
        source: serde_saphyr::Error,
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
