//! The VIP ConfigMap contract, the daemon settings and the desired state (docs/architecture.md).
//! Promise: pure - no I/O, no clock; the same inputs always give the same desired state.
//!
//! In detail: pure. No I/O, no clock, no randomness, no kube. Every function here maps values to
//! values deterministically, so the same inputs always give the same desired state, whatever
//! order the ConfigMap keys or the endpoints arrive in.

pub mod build;
pub mod configmap;
pub mod desired;
pub mod endpoints;
pub mod entry;
pub mod error;
pub mod health;
pub mod import;
pub mod model;
pub mod policy;
pub mod problem;
pub mod serde_map;
pub mod settings;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use build::{BuildCache, DesiredOutcome, build_desired_state, build_desired_state_shared};
pub use configmap::{
    ParsedConfigMap, parse_configmap, parse_entry, read_configmap_data, render_entry,
};
pub use desired::*;
pub use endpoints::*;
pub use entry::*;
pub use error::{EndpointsError, SettingsError};
pub use health::HealthResults;
pub use model::*;
pub use problem::*;
pub use settings::*;
