//! The few Linux errno values the reconciler and the fake kernel reason about
//! (`asm-generic/errno-base.h`). Kept here so the pure code needs no libc.

/// No such file or directory: SET/DEL of a missing destination, unknown scheduler.
pub(crate) const ENOENT: i32 = 2;
/// No such process: SET/DEL (or a destination write) on a missing service.
pub(crate) const ESRCH: i32 = 3;
/// File exists: NEW of an existing service or destination.
pub(crate) const EEXIST: i32 = 17;
