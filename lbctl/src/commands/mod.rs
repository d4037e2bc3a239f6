//! One module per operator command.

pub(crate) mod apply;
pub(crate) mod diff;
pub(crate) mod plan;
pub(crate) mod validate;
