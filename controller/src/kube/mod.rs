//! Kubernetes: the client, the watchers that feed the daemon, the pure conversion of
//! Services and EndpointSlices into the endpoint snapshot, and Events for ConfigMap problems.

mod cache;
mod client;
mod convert;
mod events;
mod slice_index;
mod source;

pub use client::KubeClientError;
pub(crate) use client::client;
pub use events::EventSink;
pub use source::{KubeOutputs, run};
