//! Routing-daemon mode: instead of speaking BGP, write the prefixes to announce as BIRD static
//! routes and let BIRD (with its OSPF/BGP setup) distribute them.
//!
//! `render` is pure; `apply` does the I/O (atomic file replace, then `birdc configure`).

mod apply;
mod render;

pub use self::apply::{BirdOptions, apply};
pub use self::render::render;
