//! The director's controller: the daemon (`lbctl run`) as a library - sources, passes, HTTP, BGP.
//! Promise: an API outage or a bad key never empties the table; the kernel only via lb-director.
//!
//! In detail: one sync path for every caller (`lb_director::sync::sync_director` then
//! `sync_vips_after`, prepared by [`prepare`]); the kernel is reached only through
//! `lb-ipvs-sync` and `lb-director`, the routers only through `lb-bgp-announcer`; an unreachable
//! API server or an invalid key never empties the table. `lbctl` is a thin binary over this crate.

// An I/O room as a whole (see clippy.toml): the daemon watches files, serves sockets, runs
// checks and keeps time.
#![allow(clippy::disallowed_methods)]

pub(crate) mod activity;
pub mod bgp;
pub mod client;
pub mod configmap_check;
pub mod daemon;
pub mod files;
pub mod health;
pub mod kube;
pub(crate) mod log_limit;
pub mod metrics;
pub mod own_addresses;
pub mod prepare;
pub mod webhook;
pub mod writer_lock;
