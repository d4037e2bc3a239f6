//! The validating admission webhook (`lbctl webhook`): the API server sends every write of the
//! VIP ConfigMap here first, and a write with a key the directors would reject is refused
//! with the same per-key messages as `lbctl validate` (one check, [`ConfigMapChecks`]).
//!
//! [`review`] is the pure part (an AdmissionReview in, the answer out), [`tls`] the reloading
//! server certificate, [`server`] the HTTPS listener. Operators' guide: docs/webhook.md.
//!
//! [`ConfigMapChecks`]: crate::configmap_check::ConfigMapChecks

pub mod review;
pub mod server;
pub mod tls;

#[cfg(test)]
mod review_tests;

pub use review::{GuardedConfigMap, ReviewAnswer, ReviewError, ReviewSummary, answer_review};
pub use server::{
    BoundWebhook, HEALTH_PATH, VALIDATE_PATH, WebhookConfig, WebhookError, WebhookLimits, bind,
};
pub use tls::{CertError, ReloadingCert, TlsFiles};
