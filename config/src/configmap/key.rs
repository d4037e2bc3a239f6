//! The key grammar: `VIP[-PORT][-PROTOCOL]`, with IPv6 colons written as `_`.
//!
//! Pure. Kubernetes keys may only contain `[-._a-zA-Z0-9]`, so an IPv6 VIP is written with every
//! `:` replaced by `_` (`2001:db8::10` -> `2001_db8__10`). Neither address form contains `-`, so
//! splitting on `-` is unambiguous.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::text::{Piece, column};
use crate::model::Protocol;
use crate::problem::{Position, Problem, quoted};

/// Kubernetes' maximum ConfigMap key length.
const MAX_KEY_LEN: usize = 253;

/// What a key says: the VIP, and optionally a port and a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyParts {
    pub(crate) vip: IpAddr,
    pub(crate) port: Option<u16>,
    pub(crate) protocol: Option<Protocol>,
}

/// Parses a key, pushing every problem found; `None` if the key is unusable.
pub(crate) fn parse_key(key: &str, problems: &mut Vec<Problem>) -> Option<KeyParts> {
    let at = |offset: usize| {
        Some(Position::Key {
            column: column(key, offset),
        })
    };
    if key.is_empty() {
        problems.push(Problem::error(
            key,
            None,
            "the key is empty: expected VIP or VIP-PORT",
        ));
        return None;
    }
    if key.len() > MAX_KEY_LEN {
        problems.push(Problem::error(
            key,
            None,
            format!("the key is longer than Kubernetes allows ({MAX_KEY_LEN} characters)"),
        ));
        return None;
    }
    if let Some((i, c)) = key
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        let hint = if c == ':' {
            " (write IPv6 colons as '_', e.g. 2001_db8__10-443)"
        } else {
            ""
        };
        problems.push(Problem::error(
            key,
            at(i),
            format!("keys may only contain letters, digits, '-', '_' and '.', found {c:?}{hint}"),
        ));
        return None;
    }

    let parts = Piece::whole(key).split('-');
    let vip = parse_vip(key, parts[0], problems)?;
    let mut port = None;
    let mut protocol = None;
    let rest = &parts[1..];
    if rest.len() > 2 {
        problems.push(Problem::error(
            key,
            at(rest[2].offset),
            format!(
                "expected at most VIP-PORT-PROTOCOL, found an extra part {}",
                quoted(rest[2].text)
            ),
        ));
        return None;
    }
    for (i, part) in rest.iter().enumerate() {
        let is_last = i + 1 == rest.len();
        if part.text.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() && i == 0 {
            match part.text.parse::<u16>() {
                Ok(p) if p > 0 => port = Some(p),
                _ => {
                    problems.push(Problem::error(
                        key,
                        at(part.offset),
                        format!(
                            "expected a port number 1-65535, found {}",
                            quoted(part.text)
                        ),
                    ));
                    return None;
                }
            }
        } else if is_last && let Ok(p) = part.text.parse::<Protocol>() {
            protocol = Some(p);
        } else {
            let expected = if i == 0 && is_last {
                "a port number 1-65535 or a protocol (tcp, udp, sctp)"
            } else if i == 0 {
                "a port number 1-65535"
            } else {
                "a protocol (tcp, udp, sctp)"
            };
            problems.push(Problem::error(
                key,
                at(part.offset),
                format!("expected {expected}, found {}", quoted(part.text)),
            ));
            return None;
        }
    }
    Some(KeyParts {
        vip,
        port,
        protocol,
    })
}

fn parse_vip(key: &str, part: Piece<'_>, problems: &mut Vec<Problem>) -> Option<IpAddr> {
    let text = part.text;
    let parsed = if text.contains('_') {
        text.replace('_', ":")
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    };
    if parsed.is_none() {
        problems.push(Problem::error(
            key,
            Some(Position::Key {
                column: column(key, part.offset),
            }),
            format!(
                "expected an IPv4 VIP (203.0.113.10) or an IPv6 VIP with ':' written as '_' \
                 (2001_db8__10), found {}",
                quoted(text)
            ),
        ));
    }
    parsed
}

/// The canonical key for a VIP, port and protocol (TCP is left implicit for static entries).
pub(crate) fn render_key(vip: IpAddr, port: Option<u16>, protocol: Option<Protocol>) -> String {
    let mut key = match vip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => a.to_string().replace(':', "_"),
    };
    if let Some(port) = port {
        key.push('-');
        key.push_str(&port.to_string());
    }
    if let Some(protocol) = protocol {
        key.push('-');
        key.push_str(protocol.as_str());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(key: &str) -> KeyParts {
        let mut problems = Vec::new();
        let parts = parse_key(key, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        parts.unwrap()
    }

    fn err(key: &str) -> String {
        let mut problems = Vec::new();
        assert!(parse_key(key, &mut problems).is_none());
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].to_string()
    }

    #[test]
    fn spellings() {
        let k = ok("203.0.113.225-80");
        assert_eq!((k.port, k.protocol), (Some(80), None));
        assert_eq!(k.vip, "203.0.113.225".parse::<IpAddr>().unwrap());
        let k = ok("203.0.113.226");
        assert_eq!((k.port, k.protocol), (None, None));
        let k = ok("203.0.113.1-53-udp");
        assert_eq!((k.port, k.protocol), (Some(53), Some(Protocol::Udp)));
        let k = ok("203.0.113.1-SCTP");
        assert_eq!((k.port, k.protocol), (None, Some(Protocol::Sctp)));
        let k = ok("2001_db8__10-443");
        assert_eq!(k.vip, "2001:db8::10".parse::<IpAddr>().unwrap());
        assert_eq!(k.port, Some(443));
        assert_eq!(ok("__ffff_203.0.113.1-80").port, Some(80));
    }

    #[test]
    fn errors_name_the_key_column() {
        assert_eq!(
            err("203.0.113.1-8o"),
            "203.0.113.1-8o: key column 13: expected a port number 1-65535 or a protocol \
             (tcp, udp, sctp), found \"8o\""
        );
        assert_eq!(
            err("203.0.113.1-0"),
            "203.0.113.1-0: key column 13: expected a port number 1-65535, found \"0\""
        );
        assert_eq!(
            err("203.0.113.1-70000-udp"),
            "203.0.113.1-70000-udp: key column 13: expected a port number 1-65535, \
             found \"70000\""
        );
        assert_eq!(
            err("203.0.113.1-80-icmp"),
            "203.0.113.1-80-icmp: key column 16: expected a protocol (tcp, udp, sctp), \
             found \"icmp\""
        );
        assert_eq!(
            err("203.0.113.1-udp-80"),
            "203.0.113.1-udp-80: key column 13: expected a port number 1-65535, found \"udp\""
        );
        assert!(err("203.0.113.1-80-udp-x").contains("key column 20: expected at most"));
        assert!(err("203.0.113.300-80").contains("key column 1: expected an IPv4 VIP"));
        assert!(err("2001_db8__zz-80").contains("found \"2001_db8__zz\""));
        assert!(err("2001:db8::1-80").contains("key column 5: keys may only contain"));
        assert!(err("2001:db8::1-80").contains("write IPv6 colons as '_'"));
        assert!(err("").contains("the key is empty"));
        assert!(err(&"1".repeat(254)).contains("longer than Kubernetes allows"));
    }

    #[test]
    fn render_is_canonical() {
        let v6: IpAddr = "2001:db8:0:0::10".parse().unwrap();
        assert_eq!(render_key(v6, Some(443), None), "2001_db8__10-443");
        let v4: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(
            render_key(v4, Some(53), Some(Protocol::Udp)),
            "203.0.113.1-53-udp"
        );
        assert_eq!(render_key(v4, None, Some(Protocol::Tcp)), "203.0.113.1-tcp");
    }
}
