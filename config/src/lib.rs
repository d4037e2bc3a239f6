//! The VIP ConfigMap contract, the daemon settings and the desired state.
//!
//! Promise: pure. No I/O, no clock, no randomness, no kube. Every function here maps values to
//! values deterministically, so the same inputs always give the same desired state, whatever
//! order the ConfigMap keys or the endpoints arrive in.

pub mod desired;
pub mod model;

pub use desired::*;
pub use model::*;
