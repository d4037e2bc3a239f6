//! The director's own addresses (rtnetlink), so that `lbctl run` and `lbctl apply` refuse
//! managed VIP ranges that hold one of them (the rule itself is
//! [`lb_config::check_director_addresses`], pure).

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use lb_config::{Settings, check_director_addresses};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::LinkAttribute;

use crate::files::UsageError;

/// Why a command or the daemon does not start over its managed ranges: the ranges hold an
/// address of this host (a usage error), or the addresses could not be listed (then nothing
/// is started either: an unchecked range is not assumed safe).
#[derive(Debug, thiserror::Error)]
pub enum OwnAddressError {
    /// No runtime to run the rtnetlink requests on.
    #[error("cannot start the async runtime for rtnetlink")]
    Runtime(#[source] std::io::Error),
    /// Listing the addresses failed.
    #[error("cannot list this director's addresses to check managed_vip_ranges")]
    List(#[source] ListError),
    /// A managed range holds one of this host's addresses.
    #[error(transparent)]
    Refused(#[from] UsageError),
}

impl OwnAddressError {
    /// Whether the input is at fault (exit code 64) rather than the host.
    pub fn is_usage(&self) -> bool {
        matches!(self, OwnAddressError::Refused(_))
    }
}

/// Which rtnetlink step failed while listing the addresses.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// No rtnetlink socket.
    #[error("cannot open an rtnetlink socket")]
    Socket(#[source] std::io::Error),
    /// The interface dump failed.
    #[error("cannot list the interfaces")]
    Links(#[source] rtnetlink::Error),
    /// The address dump failed.
    #[error("cannot list the addresses")]
    Addresses(#[source] rtnetlink::Error),
}

/// Refuses (as a usage error) settings whose managed ranges hold an address of this host on
/// an interface other than the VIP interface; for a command's start, outside any runtime.
/// Listing the addresses needs rtnetlink; when that fails nothing is started either: an
/// unchecked range is not assumed safe.
pub fn refuse_ranges_holding_own_addresses(settings: &Settings) -> Result<(), OwnAddressError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OwnAddressError::Runtime)?;
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
    .map_err(|e| UsageError::Refused(lb_director::error_text::chain(&e)))
}

/// Every address of every interface, as `(interface name, address)`. For point-to-point
/// links both the local and the peer address are listed (the check errs on the safe side).
pub async fn list() -> Result<Vec<(String, IpAddr)>, OwnAddressError> {
    list_all().await.map_err(OwnAddressError::List)
}

async fn list_all() -> Result<Vec<(String, IpAddr)>, ListError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(ListError::Socket)?;
    let connection = tokio::spawn(connection);
    let mut names = HashMap::new();
    let mut links = handle.link().get().execute();
    while let Some(link) = links.try_next().await.map_err(ListError::Links)? {
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
    while let Some(message) = addresses.try_next().await.map_err(ListError::Addresses)? {
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
        assert!(error.is_usage(), "{error}");
        let text = format!("{:#}", anyhow::Error::new(error));
        assert!(text.contains("127.0.0.0/8 holds 127.0.0.1"), "{text}");
        let fine = Settings::from_toml_str("managed_vip_ranges = [\"203.0.113.0/28\"]").unwrap();
        refuse_ranges_holding_own_addresses(&fine).unwrap();
    }
}
