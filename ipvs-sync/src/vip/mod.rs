//! The director's VIP addresses: which to add to and remove from the VIP interface.
//!
//! [`plan_vips`] is pure; [`VipInterface`] applies the result over rtnetlink. Only addresses
//! inside the managed VIP ranges are ever removed, so addresses an operator put on the same
//! interface by hand survive.

mod plan;
mod rtnl;

pub use plan::{VipPlan, plan_vips};
pub use rtnl::{VipError, VipInterface};
