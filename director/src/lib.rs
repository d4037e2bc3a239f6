//! The one sync of a director ([`sync::sync_director`]): netfilter, sysctls, IPVS, state, VIPs.
//! Promise: one policy for partial failures; nothing outside our own rules, sysctls and ranges.
//!
//! In detail: rendering and planning are pure; all netfilter I/O goes through the
//! [`netfilter::Netfilter`] trait and all sysctl I/O through files below a root passed in, so
//! tests run against temporary directories and scripted tools. Nothing here touches a rule,
//! chain or sysctl it does not own (see [`sysctl::ownership`]).

pub mod atomic_file;
pub mod error_text;
pub mod netfilter;
pub mod sync;
pub mod sysctl;
