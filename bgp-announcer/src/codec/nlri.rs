//! NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5): length in bits, then the minimum number
//! of octets. Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};

/// Why a prefix list failed to decode; the caller maps it to its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPrefix;

/// The network address of `net` (host bits cleared), as on the wire.
pub(crate) fn canonical(net: &IpNetwork) -> IpNetwork {
    match net {
        IpNetwork::V4(v4) => {
            IpNetwork::V4(Ipv4Network::new(v4.network(), v4.prefix()).unwrap_or(*v4))
        }
        IpNetwork::V6(v6) => {
            IpNetwork::V6(Ipv6Network::new(v6.network(), v6.prefix()).unwrap_or(*v6))
        }
    }
}

/// Octets `net` takes on the wire (1 length octet plus the significant address octets).
pub(crate) fn encoded_len(net: &IpNetwork) -> usize {
    1 + usize::from(net.prefix()).div_ceil(8)
}

/// Appends one prefix.
pub(crate) fn encode_prefix(net: &IpNetwork, out: &mut Vec<u8>) {
    let prefix = net.prefix();
    let octets = usize::from(prefix).div_ceil(8);
    out.push(prefix);
    match canonical(net).ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()[..octets]),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()[..octets]),
    }
}

/// Decodes a run of prefixes of one family. Rejects a length beyond the address size and a
/// truncated prefix; host bits beyond the length are cleared.
pub(crate) fn decode_prefixes(mut buf: &[u8], ipv6: bool) -> Result<Vec<IpNetwork>, BadPrefix> {
    let max_bits: u8 = if ipv6 { 128 } else { 32 };
    let mut out = Vec::new();
    while let Some((&bits, rest)) = buf.split_first() {
        if bits > max_bits {
            return Err(BadPrefix);
        }
        let octets = usize::from(bits).div_ceil(8);
        if rest.len() < octets {
            return Err(BadPrefix);
        }
        let (addr, tail) = rest.split_at(octets);
        buf = tail;
        let net = if ipv6 {
            let mut full = [0u8; 16];
            full[..octets].copy_from_slice(addr);
            Ipv6Network::new(Ipv6Addr::from(full), bits)
                .map(IpNetwork::V6)
                .map_err(|_| BadPrefix)?
        } else {
            let mut full = [0u8; 4];
            full[..octets].copy_from_slice(addr);
            Ipv4Network::new(Ipv4Addr::from(full), bits)
                .map(IpNetwork::V4)
                .map_err(|_| BadPrefix)?
        };
        out.push(canonical(&net));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_clears_host_bits() {
        let nets: Vec<IpNetwork> = vec![
            "10.1.2.3/32".parse().unwrap(),
            "10.1.2.0/23".parse().unwrap(),
            "0.0.0.0/0".parse().unwrap(),
        ];
        let mut buf = Vec::new();
        for net in &nets {
            encode_prefix(net, &mut buf);
        }
        assert_eq!(buf, [32, 10, 1, 2, 3, 23, 10, 1, 2, 0]);
        let back = decode_prefixes(&buf, false).unwrap();
        assert_eq!(back[1], "10.1.2.0/23".parse::<IpNetwork>().unwrap());
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn rejects_too_long_and_truncated() {
        assert_eq!(decode_prefixes(&[33, 1, 2, 3, 4, 5], false), Err(BadPrefix));
        assert_eq!(decode_prefixes(&[24, 10, 0], false), Err(BadPrefix));
        assert_eq!(decode_prefixes(&[129], true), Err(BadPrefix));
        assert!(decode_prefixes(&[128; 17], true).is_ok());
    }
}
