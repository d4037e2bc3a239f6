//! One module per operator command.

pub(crate) mod apply;
pub(crate) mod cleanup;
pub(crate) mod daemon_client;
pub(crate) mod diff;
pub(crate) mod drain;
pub(crate) mod node_bypass;
pub(crate) mod plan;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod validate;
