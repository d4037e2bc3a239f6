//! The director's own addresses (rtnetlink), so that `lbctl run` and `lbctl apply` refuse
//! managed VIP ranges that hold one of them (the rule itself is
//! [`lb_config::check_director_addresses`], pure).

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use lb_config::{Settings, check_director_addresses};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;

use crate::files::UsageError;

/// Refuses (as a usage error) settings whose managed ranges hold an address of this host on
/// an interface other than the VIP interface; for a command's start, outside any runtime.
/// Listing the addresses needs rtnetlink; when that fails nothing is started either: an
/// unchecked range is not assumed safe.
pub fn refuse_ranges_holding_own_addresses(settings: &Settings) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for rtnetlink")?;
    let addresses = runtime.block_on(list())?;
    refuse(settings, &addresses)?;
    Ok(())
}

/// The check itself, on addresses listed already.
pub fn refuse(settings: &Settings, addresses: &[(String, IpAddr)]) -> Result<(), UsageError> {
    check_director_addresses(
        &settings.managed_vip_ranges,
        &settings.vip_interface,
        addresses,
    )
    .map_err(|e| UsageError(anyhow::Error::new(e)))
}

/// Every address of every interface, as `(interface name, address)`. For point-to-point
/// links both the local and the peer address are listed (the check errs on the safe side).
pub async fn list() -> Result<Vec<(String, IpAddr)>> {
    list_all()
        .await
        .context("cannot list this director's addresses to check managed_vip_ranges")
}

async fn list_all() -> Result<Vec<(String, IpAddr)>> {
    let (connection, handle, _) =
        rtnetlink::new_connection().context("cannot open an rtnetlink socket")?;
    let connection = tokio::spawn(connection);
    let mut names = HashMap::new();
    let mut links = handle.link().get().execute();
    while let Some(link) = links
        .try_next()
        .await
        .context("cannot list the interfaces")?
    {
        let name = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        });
        if let Some(name) = name {
            names.insert(link.header.index, name);
        }
    }
    let mut found = Vec::new();
    let mut addresses = handle.address().get().execute();
    while let Some(message) = addresses
        .try_next()
        .await
        .context("cannot list the addresses")?
    {
        let index = message.header.index;
        let interface = names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("interface #{index}"));
        for attribute in message.attributes {
            if let AddressAttribute::Address(ip) | AddressAttribute::Local(ip) = attribute {
                found.push((interface.clone(), ip));
            }
        }
    }
    connection.abort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every host, lab VM and CI container has a loopback address.
    #[tokio::test]
    async fn lists_the_loopback_address() {
        let addresses = list().await.unwrap();
        assert!(
            addresses
                .iter()
                .any(|(_, ip)| *ip == IpAddr::from([127, 0, 0, 1])),
            "{addresses:?}"
        );
    }

    #[test]
    fn a_range_holding_loopback_is_refused_as_a_usage_error() {
        let settings = Settings::from_toml_str("managed_vip_ranges = [\"127.0.0.0/8\"]").unwrap();
        let error = refuse_ranges_holding_own_addresses(&settings).unwrap_err();
        assert!(error.downcast_ref::<UsageError>().is_some(), "{error:#}");
        assert!(
            format!("{error:#}").contains("127.0.0.0/8 holds 127.0.0.1"),
            "{error:#}"
        );
        let fine = Settings::from_toml_str("managed_vip_ranges = [\"203.0.113.0/28\"]").unwrap();
        refuse_ranges_holding_own_addresses(&fine).unwrap();
    }
}
