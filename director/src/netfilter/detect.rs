//! Chooses the backend from the settings, detecting one for `auto`.
//!
//! Contract: `auto` on a director prefers native nftables (our own table, independent of
//! whatever else the host runs) and falls back to the system's iptables; on a node it prefers
//! iptables, because the FORWARD ACCEPT must live in the same filter table as the CNI's chains to
//! take effect (see the nft module docs). Detection runs the tools' harmless read commands.

use lb_config::NetfilterBackend;
use tracing::debug;

use super::Netfilter;
use super::error::NetfilterError;
use super::iptables::{IptablesBackend, IptablesVariant};
use super::nft::NftBackend;
use super::ruleset::Owner;
use super::runner::ToolRunner;

/// The backend for `choice`, or `None` for `none` (the operator manages these rules).
pub fn backend_for(
    choice: NetfilterBackend,
    owner: Owner,
    runner: ToolRunner,
) -> Result<Option<Box<dyn Netfilter + Send>>, NetfilterError> {
    let backend: Box<dyn Netfilter + Send> = match choice {
        NetfilterBackend::Disabled => return Ok(None),
        NetfilterBackend::Iptables => {
            Box::new(IptablesBackend::new(IptablesVariant::System, runner))
        }
        NetfilterBackend::IptablesLegacy => {
            Box::new(IptablesBackend::new(IptablesVariant::Legacy, runner))
        }
        NetfilterBackend::Nftables => Box::new(NftBackend::new(runner)),
        NetfilterBackend::Auto => detect(owner, runner)?,
    };
    Ok(Some(backend))
}

/// Detects a working backend for `owner` (see the module docs for the order).
pub fn detect(
    owner: Owner,
    runner: ToolRunner,
) -> Result<Box<dyn Netfilter + Send>, NetfilterError> {
    let nft = runner.run("nft", &["list", "tables"], None);
    let iptables = runner.run("iptables-restore", &["--version"], None);
    debug!(
        nft_ok = nft.is_ok(),
        iptables_ok = iptables.is_ok(),
        ?owner,
        "netfilter backend detection"
    );
    let prefer_nft = owner == Owner::Director;
    match (prefer_nft, nft, iptables) {
        (true, Ok(_), _) | (false, Ok(_), Err(_)) => Ok(Box::new(NftBackend::new(runner))),
        (_, _, Ok(_)) => Ok(Box::new(IptablesBackend::new(
            IptablesVariant::System,
            runner,
        ))),
        (_, Err(nft), Err(iptables)) => Err(NetfilterError::NoBackend {
            detail: format!("nft: {nft}; iptables-restore: {iptables}"),
        }),
    }
}
