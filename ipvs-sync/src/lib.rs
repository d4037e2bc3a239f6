//! IPVS over generic netlink, the reconciler (wanted vs kernel -> fewest writes), VIP addresses.
//! Promise: the reconciler is pure; the kernel is reached only through [`IpvsKernel`] and [`vip`].
//!
//! In detail: the reconciler ([`reconcile`]) is pure: no I/O, no clock (time is a parameter).
//! All kernel access goes through the [`IpvsKernel`] trait, implemented by the netlink client
//! ([`netlink::IpvsClient`]) and by an in-memory fake for unit tests. Nothing in this crate ever
//! flushes the IPVS table or touches a virtual service outside the managed VIP ranges.

pub mod error;
pub mod kernel;
pub mod model;

pub use error::IpvsError;
pub use kernel::IpvsKernel;
pub use model::*;
pub mod vip;

#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod netlink;
pub mod reconcile;
pub mod sync_daemon;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod wanted;
