//! The reconciler: compares the wanted table with a kernel dump and plans the writes that make
//! the managed part of the kernel equal to it, then applies them through [`IpvsKernel`].
//!
//! Contract: everything here except the `sync_*` functions is pure (no I/O, no
//! clock, no randomness): time is a parameter (`now`, seconds since the Unix epoch) and every
//! iteration runs over ordered maps, so the same inputs always give the same plan. The two sync
//! functions perform I/O only through the [`IpvsKernel`] they are given.
//!
//! Safety rules enforced here: services outside the [`Scope`] are never planned, edited or
//! deleted; leaving destinations and services drain before they are deleted; settings are edited
//! in place, never deleted and re-added; a plan that would remove too many services is refused
//! by [`guard`] unless forced.
//!
//! [`IpvsKernel`]: crate::IpvsKernel

mod compare;
mod drain;
pub(crate) mod errno;
mod focus;
mod guard;
mod plan;
mod predict;
mod render;
pub use render::{render_operation, utc_timestamp};
mod scope;
mod sync;

pub use compare::{same_destination, same_service};
pub use drain::{DrainBook, DrainBookError, DrainStatus};
pub use focus::{Focus, sync_focused, sync_focused_observed};
pub use guard::{GuardRefusal, Guarded, MAX_FREE_REAL_SERVER_REMOVALS, guard};
pub use plan::{Plan, PlanOptions, Refusal, RefusalReason, plan};
pub use predict::{predict, read_back_differences, written_services};
pub use scope::Scope;
pub use sync::{
    FailedOperation, OperationCounts, SyncError, SyncReport, Synced, sync_once, sync_once_observed,
};
