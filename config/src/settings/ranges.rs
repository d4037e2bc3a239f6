//! What managed VIP ranges may cover: never the whole address space, never an address the
//! director itself holds.
//!
//! Pure. Whoever edits the ConfigMap may program any address inside the managed ranges; a
//! range that holds the director's own addresses lets a ConfigMap entry take over the
//! director's own traffic (an IPVS service on its SSH or BGP address and port). The caller
//! lists the director's addresses (rtnetlink, in `lb-controller`) and passes them in.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::error::SettingsError;

/// Shortest IPv4 prefix a managed range may have: /8 already holds 16 million addresses, and
/// nothing shorter is a VIP range.
pub const MIN_IPV4_PREFIX: u8 = 8;
/// Shortest IPv6 prefix a managed range may have.
pub const MIN_IPV6_PREFIX: u8 = 16;

/// Refuses ranges shorter than [`MIN_IPV4_PREFIX`] / [`MIN_IPV6_PREFIX`] (`0.0.0.0/0`, `::/0`).
pub(crate) fn check_prefixes(ranges: &[IpNetwork]) -> Result<(), SettingsError> {
    for range in ranges {
        let min = match range {
            IpNetwork::V4(_) => MIN_IPV4_PREFIX,
            IpNetwork::V6(_) => MIN_IPV6_PREFIX,
        };
        if range.prefix() < min {
            return Err(SettingsError::Invalid {
                field: "managed_vip_ranges",
                message: format!(
                    "{range} is too wide: a managed range lets ConfigMap editors program any \
                     address in it; list the VIP ranges themselves (at least /{MIN_IPV4_PREFIX} \
                     for IPv4, /{MIN_IPV6_PREFIX} for IPv6)"
                ),
            });
        }
    }
    Ok(())
}

/// Refuses managed ranges that hold one of `addresses` (the director's own, as
/// `(interface, address)`), except those on `vip_interface`, which carries the VIPs.
pub fn check_director_addresses(
    ranges: &[IpNetwork],
    vip_interface: &str,
    addresses: &[(String, IpAddr)],
) -> Result<(), SettingsError> {
    let mut clashes = addresses
        .iter()
        .filter(|(interface, _)| interface != vip_interface);
    let clash = clashes.find_map(|(interface, addr)| {
        ranges
            .iter()
            .find(|range| range.contains(*addr))
            .map(|range| (range, interface, addr))
    });
    let Some((range, interface, addr)) = clash else {
        return Ok(());
    };
    Err(SettingsError::Invalid {
        field: "managed_vip_ranges",
        message: format!(
            "{range} holds {addr}, an address of this director on {interface}: a ConfigMap entry \
             could take over the director's own traffic; narrow the range to the VIPs (only \
             addresses on the VIP interface {vip_interface} may lie in a managed range)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(texts: &[&str]) -> Vec<IpNetwork> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn on(interface: &str, addr: &str) -> (String, IpAddr) {
        (interface.to_owned(), addr.parse().unwrap())
    }

    #[test]
    fn the_whole_space_and_very_short_prefixes_are_refused() {
        for wide in ["0.0.0.0/0", "::/0", "10.0.0.0/7", "2001::/15"] {
            let error = check_prefixes(&nets(&["203.0.113.0/24", wide])).unwrap_err();
            assert!(error.to_string().contains(wide), "{error}");
            assert!(error.to_string().contains("too wide"), "{error}");
        }
        assert!(check_prefixes(&nets(&["10.0.0.0/8", "2001:db8::/16"])).is_ok());
    }

    /// The lab's director: 10.0.0.1 (client side), 10.0.1.1 (servers), 10.0.9.1 (router),
    /// VIPs on lbvip0, with the managed range 10.0.0.96/28.
    #[test]
    fn a_range_holding_a_director_address_is_refused_unless_on_the_vip_interface() {
        let lab = [
            on("lo", "127.0.0.1"),
            on("lo", "::1"),
            on("dc0", "10.0.0.1"),
            on("br0", "10.0.1.1"),
            on("dr0", "10.0.9.1"),
            on("lbvip0", "10.0.0.100"),
        ];
        assert!(check_director_addresses(&nets(&["10.0.0.96/28"]), "lbvip0", &lab).is_ok());
        let error =
            check_director_addresses(&nets(&["10.0.0.96/28", "10.0.1.0/24"]), "lbvip0", &lab)
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid settings: managed_vip_ranges: 10.0.1.0/24 holds 10.0.1.1, an address of \
             this director on br0: a ConfigMap entry could take over the director's own \
             traffic; narrow the range to the VIPs (only addresses on the VIP interface lbvip0 \
             may lie in a managed range)"
        );
        assert!(check_director_addresses(&nets(&["::/8"]), "lbvip0", &lab).is_err());
        // The same address on another VIP interface name is the director's own.
        assert!(check_director_addresses(&nets(&["10.0.0.96/28"]), "lbvip1", &lab).is_err());
    }
}
