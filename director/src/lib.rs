//! The director's kernel state beside the IPVS writes themselves: netfilter rules (NOTRACK,
//! FullNAT SNAT, node bypass), conntrack statistics, the IPVS sysctls, atomic writes of the
//! state files, and [`sync::sync_director`], the one pass from a target to the kernel.
//!
//! Promise: rendering and planning are pure; all netfilter I/O goes through the
//! [`netfilter::Netfilter`] trait and all sysctl I/O through files below a root passed in, so
//! tests run against temporary directories and scripted tools. Nothing here touches a rule,
//! chain or sysctl it does not own (see [`sysctl::ownership`]).

pub mod atomic_file;
pub mod netfilter;
pub mod sync;
pub mod sysctl;
