//! Addresses, families and persistence netmasks on the wire (pure: no I/O).
//!
//! ADDR is a 16-byte `union nf_inet_addr` (IPv4 in the first 4 bytes, the rest zero). NETMASK is
//! a be32 mask for IPv4 (prefix 24 -> bytes ff ff ff 00) but a native prefix length for IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::decode_error;
use crate::IpvsError;
use crate::model::Family;
use crate::netlink::constants::{AF_INET, AF_INET6, NF_INET_ADDR_LEN};

/// The kernel's AF number for a family.
pub fn family_to_raw(family: Family) -> u16 {
    match family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    }
}

/// The family for a kernel AF number; other numbers are a decode error.
pub fn family_from_raw(context: &'static str, raw: u16) -> Result<Family, IpvsError> {
    match raw {
        AF_INET => Ok(Family::Inet),
        AF_INET6 => Ok(Family::Inet6),
        other => Err(decode_error(
            context,
            format!("unknown address family {other}"),
        )),
    }
}

/// 16-byte ADDR payload, IPv4 zero-padded (what the kernel itself sends back).
pub(crate) fn addr_to_wire(addr: &IpAddr) -> Vec<u8> {
    let mut bytes = vec![0u8; NF_INET_ADDR_LEN];
    match addr {
        IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => bytes.copy_from_slice(&v6.octets()),
    }
    bytes
}

/// Reads an ADDR payload of the given family (4 or 16 bytes for IPv4, 16 for IPv6).
pub(crate) fn addr_from_wire(
    context: &'static str,
    family: Family,
    bytes: &[u8],
) -> Result<IpAddr, IpvsError> {
    match family {
        Family::Inet if bytes.len() == 4 || bytes.len() == NF_INET_ADDR_LEN => {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(&bytes[..4]);
            Ok(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        Family::Inet6 if bytes.len() == NF_INET_ADDR_LEN => {
            let mut octets = [0u8; NF_INET_ADDR_LEN];
            octets.copy_from_slice(bytes);
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => Err(decode_error(
            context,
            format!("{family:?} address of {} bytes", bytes.len()),
        )),
    }
}

/// The largest prefix of a family (32 / 128).
pub(crate) fn max_prefix(family: Family) -> u8 {
    match family {
        Family::Inet => 32,
        Family::Inet6 => 128,
    }
}

/// The raw NETMASK u32 for a prefix; `None` when the prefix is too long for the family.
pub(crate) fn netmask_to_wire(family: Family, prefix: u8) -> Option<u32> {
    if prefix > max_prefix(family) {
        return None;
    }
    Some(match family {
        Family::Inet => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            // The kernel stores a __be32: its memory holds the mask in network order.
            u32::from_ne_bytes(mask.to_be_bytes())
        }
        Family::Inet6 => u32::from(prefix),
    })
}

/// The prefix length for a raw NETMASK. A non-contiguous IPv4 mask (possible from other tools)
/// is read as its leading ones and logged, so one odd foreign service cannot fail a whole dump.
pub(crate) fn netmask_from_wire(
    context: &'static str,
    family: Family,
    raw: u32,
) -> Result<u8, IpvsError> {
    match family {
        Family::Inet => {
            let mask = u32::from_be_bytes(raw.to_ne_bytes());
            let prefix = mask.leading_ones();
            if mask.checked_shl(prefix).unwrap_or(0) != 0 {
                tracing::warn!(
                    mask = format_args!("{mask:#010x}"),
                    prefix,
                    "non-contiguous IPv4 persistence netmask"
                );
            }
            u8::try_from(prefix).map_err(|_| decode_error(context, "netmask prefix overflow"))
        }
        Family::Inet6 => u8::try_from(raw)
            .ok()
            .filter(|p| *p <= 128)
            .ok_or_else(|| decode_error(context, format!("IPv6 netmask prefix {raw} > 128"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_netmask_is_be32_bytes() {
        let raw = netmask_to_wire(Family::Inet, 24).unwrap_or_default();
        assert_eq!(raw.to_ne_bytes(), [0xff, 0xff, 0xff, 0x00]);
        assert_eq!(netmask_to_wire(Family::Inet, 0), Some(0));
        assert_eq!(netmask_to_wire(Family::Inet, 33), None);
        for p in 0..=32u8 {
            let raw = netmask_to_wire(Family::Inet, p).unwrap_or_default();
            assert_eq!(netmask_from_wire("t", Family::Inet, raw).ok(), Some(p));
        }
    }

    #[test]
    fn ipv6_netmask_is_prefix_length() {
        assert_eq!(netmask_to_wire(Family::Inet6, 64), Some(64));
        assert_eq!(netmask_to_wire(Family::Inet6, 129), None);
        assert!(netmask_from_wire("t", Family::Inet6, 129).is_err());
    }

    #[test]
    fn ipv4_addresses_are_padded_to_16_bytes() {
        let a: IpAddr = "10.0.0.1"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let wire = addr_to_wire(&a);
        assert_eq!(wire.len(), 16);
        assert_eq!(&wire[..4], &[10, 0, 0, 1]);
        assert_eq!(addr_from_wire("t", Family::Inet, &wire).ok(), Some(a));
        assert_eq!(addr_from_wire("t", Family::Inet, &wire[..4]).ok(), Some(a));
        assert!(addr_from_wire("t", Family::Inet6, &wire[..4]).is_err());
        assert!(addr_from_wire("t", Family::Inet, &wire[..7]).is_err());
    }
}
