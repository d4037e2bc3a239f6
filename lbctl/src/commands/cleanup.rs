//! `lbctl cleanup`: removes every netfilter rule lbctl installed (director and node-bypass
//! chains, our nftables tables) from every backend, and nothing else.
//!
//! Why every backend: after a change of `netfilter_backend` the old backend may still hold our
//! rules; cleanup must find them wherever they are. Tools that are not installed are skipped.

use anyhow::Result;
use lb_director::netfilter::{
    IptablesBackend, IptablesVariant, Netfilter, NetfilterError, NftBackend, Owner, SyncOutcome,
    ToolRunner,
};
use serde_json::json;
use tracing::warn;

use crate::cli::Output;

/// Runs the cleanup; returns the exit code (1 when some backend failed).
pub(crate) fn run(output: Output) -> Result<i32> {
    let mut backends: Vec<Box<dyn Netfilter>> = vec![
        Box::new(NftBackend::new(ToolRunner::direct())),
        Box::new(IptablesBackend::new(
            IptablesVariant::System,
            ToolRunner::direct(),
        )),
        Box::new(IptablesBackend::new(
            IptablesVariant::Legacy,
            ToolRunner::direct(),
        )),
    ];
    let mut removed: Vec<SyncOutcome> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for backend in &mut backends {
        for owner in Owner::ALL {
            match backend.remove(owner) {
                Ok(outcome) => removed.push(outcome),
                Err(NetfilterError::Spawn { program, .. }) => {
                    warn!(program, "not installed; nothing of ours can be there");
                }
                Err(error) => errors.push(format!("{}: {error}", backend.name())),
            }
        }
    }
    match output {
        Output::Json => {
            let doc = json!({"removed": removed, "errors": errors});
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Text => {
            for outcome in &removed {
                for table in outcome
                    .tables
                    .iter()
                    .filter(|t| t.change != lb_director::netfilter::Change::Unchanged)
                {
                    let family = table.family.map(|f| format!("{f:?} ")).unwrap_or_default();
                    println!("removed: {} {family}{}", outcome.backend, table.table);
                }
            }
            if removed.iter().all(|o| !o.changed()) {
                println!("nothing of ours was installed");
            }
            for error in &errors {
                println!("FAILED: {error}");
            }
        }
    }
    Ok(i32::from(!errors.is_empty()))
}
