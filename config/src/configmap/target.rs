//! The part of a value before the first `;`: a real-server list or a Service reference.
//!
//! Pure. `ADDR[:PORT] [weight=N] [upper-threshold=N] [lower-threshold=N], ...` or
//! `NAMESPACE/SERVICE:s|PORTNAME|PORTNUMBER`. A `/` tells the two apart (addresses have none).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ctx::{ValueCtx, parse_port, parse_u32};
use super::text::Piece;
use crate::entry::{PortSelector, ServiceRef};
use crate::problem::quoted;

/// Highest weight ipvsadm accepts.
pub(crate) const MAX_WEIGHT: u32 = 65_535;

/// A real server as written; the port may be left to the virtual port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenRealServer {
    pub(crate) addr: IpAddr,
    pub(crate) port: Option<u16>,
    pub(crate) weight: Option<u32>,
    pub(crate) upper_threshold: Option<u32>,
    pub(crate) lower_threshold: Option<u32>,
}

/// The target as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WrittenTarget {
    Static(Vec<WrittenRealServer>),
    Service(ServiceRef),
}

/// Parses the target part; `None` when it has errors (already reported).
pub(crate) fn parse_target(ctx: &mut ValueCtx<'_>, part: Piece<'_>) -> Option<WrittenTarget> {
    let part = part.trim();
    if part.is_empty() {
        ctx.error(
            part,
            "expected real servers (ADDR:PORT, ADDR:PORT) or a Service reference \
             (NAMESPACE/SERVICE:s)",
        );
        return None;
    }
    if part.text.contains('/') {
        parse_service_ref(ctx, part).map(WrittenTarget::Service)
    } else {
        parse_real_servers(ctx, part).map(WrittenTarget::Static)
    }
}

/// Lists up to this long are checked for a repeated real server by a scan of the items before;
/// longer ones by a map (a scan of ten items is faster than hashing one, and a map keeps a list
/// of tens of thousands of real servers from a quadratic scan).
const SCAN_LIMIT: usize = 32;

fn parse_real_servers(ctx: &mut ValueCtx<'_>, part: Piece<'_>) -> Option<Vec<WrittenRealServer>> {
    let mut servers: Vec<WrittenRealServer> = Vec::new();
    // Address and port as written -> 1-based item number, filled once the list passes
    // `SCAN_LIMIT` items.
    let mut listed: HashMap<(IpAddr, Option<u16>), usize> = HashMap::new();
    let mut ok = true;
    for item in part.split_iter(',') {
        let item = item.trim();
        if item.is_empty() {
            ctx.error(
                item,
                "expected a real server (ADDR:PORT) between the commas",
            );
            ok = false;
            continue;
        }
        match parse_real_server(ctx, item) {
            Some(rs) => {
                if let Some(first) = first_listed(&servers, &mut listed, &rs) {
                    ctx.error(
                        item,
                        format!(
                            "real server {} is already listed as item {first}",
                            item.word_iter().next().map_or("", |w| w.text),
                        ),
                    );
                    ok = false;
                }
                servers.push(rs);
            }
            None => ok = false,
        }
    }
    ok.then_some(servers)
}

/// The 1-based item number of the first of `servers` with the address and port of `rs`, if
/// any; `listed` indexes `servers` once they are more than [`SCAN_LIMIT`].
fn first_listed(
    servers: &[WrittenRealServer],
    listed: &mut HashMap<(IpAddr, Option<u16>), usize>,
    rs: &WrittenRealServer,
) -> Option<usize> {
    if servers.len() < SCAN_LIMIT {
        return servers
            .iter()
            .position(|s| (s.addr, s.port) == (rs.addr, rs.port))
            .map(|i| i + 1);
    }
    if listed.is_empty() {
        for (i, s) in servers.iter().enumerate() {
            listed.entry((s.addr, s.port)).or_insert(i + 1);
        }
    }
    let number = servers.len() + 1;
    match listed.entry((rs.addr, rs.port)) {
        std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(number);
            None
        }
    }
}

fn parse_real_server(ctx: &mut ValueCtx<'_>, item: Piece<'_>) -> Option<WrittenRealServer> {
    let mut words = item.word_iter();
    // `item` is trimmed and not empty: it has a first word.
    let (addr, port) = parse_socket(ctx, words.next()?)?;
    let mut rs = WrittenRealServer {
        addr,
        port,
        weight: None,
        upper_threshold: None,
        lower_threshold: None,
    };
    let mut ok = true;
    let mut lower_value = None;
    for word in words {
        let Some((name, value)) = word.split_once('=') else {
            ctx.error(
                word,
                format!(
                    "expected ',' or a real-server setting (weight=, upper-threshold=, \
                     lower-threshold=), found {}",
                    quoted(word.text)
                ),
            );
            ok = false;
            continue;
        };
        let (slot, parsed) = match name.text {
            "weight" => (
                &mut rs.weight,
                parse_u32(value.text, 0, MAX_WEIGHT, "a weight"),
            ),
            "upper-threshold" => (
                &mut rs.upper_threshold,
                parse_u32(value.text, 0, u32::MAX, "a connection count"),
            ),
            "lower-threshold" => (
                &mut rs.lower_threshold,
                parse_u32(value.text, 0, u32::MAX, "a connection count"),
            ),
            other => {
                ctx.error(
                    name,
                    format!(
                        "unknown real-server setting {}: expected weight=, upper-threshold= \
                         or lower-threshold=",
                        quoted(other)
                    ),
                );
                ok = false;
                continue;
            }
        };
        if slot.is_some() {
            ctx.error(
                name,
                format!("{}= is given twice for this real server", name.text),
            );
            ok = false;
        }
        match parsed {
            Ok(n) => *slot = Some(n),
            Err(message) => {
                ctx.error(value, message);
                ok = false;
            }
        }
        if name.text == "lower-threshold" {
            lower_value = Some(value);
        }
    }
    // The kernel refuses (ERANGE) a lower threshold above the upper one, and an unset upper
    // threshold counts as 0 there: say so here, where the column is known.
    if let (Some(lower), Some(value)) = (rs.lower_threshold, lower_value) {
        let upper = rs.upper_threshold.unwrap_or(0);
        if ok && lower > upper {
            let message = match rs.upper_threshold {
                Some(upper) => format!(
                    "lower-threshold={lower} is above upper-threshold={upper}: new connections \
                     resume below the lower one, so it must not exceed the upper one"
                ),
                None => format!(
                    "lower-threshold={lower} needs an upper-threshold= of at least {lower} \
                     (without one there is nothing to resume from)"
                ),
            };
            ctx.error(value, message);
            ok = false;
        }
    }
    ok.then_some(rs)
}

/// `203.0.113.1`, `203.0.113.1:80`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_socket(ctx: &mut ValueCtx<'_>, word: Piece<'_>) -> Option<(IpAddr, Option<u16>)> {
    let text = word.text;
    if let Some(inner) = text.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            ctx.error(
                word,
                format!("expected ']' after the IPv6 address in {}", quoted(text)),
            );
            return None;
        };
        let addr_piece = word.sub(1, 1 + close);
        let Ok(addr) = addr_piece.text.parse::<Ipv6Addr>() else {
            ctx.error(
                addr_piece,
                format!(
                    "expected an IPv6 address in brackets, found {}",
                    quoted(addr_piece.text)
                ),
            );
            return None;
        };
        let after = word.sub(close + 2, text.len());
        if after.is_empty() {
            return Some((IpAddr::V6(addr), None));
        }
        let Some(port) = after.text.strip_prefix(':') else {
            ctx.error(
                after,
                format!("expected ':PORT' after ']', found {}", quoted(after.text)),
            );
            return None;
        };
        return port_of(ctx, after.sub(1, after.text.len()), port)
            .map(|p| (IpAddr::V6(addr), Some(p)));
    }
    match text.matches(':').count() {
        0 | 1 => {
            let (addr_piece, port_piece) = match word.split_once(':') {
                Some((a, p)) => (a, Some(p)),
                None => (word, None),
            };
            let Ok(addr) = addr_piece.text.parse::<Ipv4Addr>() else {
                ctx.error(
                    addr_piece,
                    format!(
                        "expected a real server address (198.51.100.1:80 or [2001:db8::1]:80), \
                         found {}",
                        quoted(addr_piece.text)
                    ),
                );
                return None;
            };
            match port_piece {
                None => Some((IpAddr::V4(addr), None)),
                Some(p) => port_of(ctx, p, p.text).map(|port| (IpAddr::V4(addr), Some(port))),
            }
        }
        _ => {
            let hint = if text.parse::<Ipv6Addr>().is_ok()
                || text
                    .rsplit_once(':')
                    .is_some_and(|(a, _)| a.parse::<Ipv6Addr>().is_ok())
            {
                "write IPv6 real servers in brackets, e.g. [2001:db8::5]:80".to_owned()
            } else {
                format!(
                    "expected a real server address (198.51.100.1:80 or [2001:db8::1]:80), \
                     found {}",
                    quoted(text)
                )
            };
            ctx.error(word, hint);
            None
        }
    }
}

fn port_of(ctx: &mut ValueCtx<'_>, piece: Piece<'_>, text: &str) -> Option<u16> {
    match parse_port(text) {
        Ok(p) => Some(p),
        Err(message) => {
            ctx.error(piece, message);
            None
        }
    }
}

fn parse_service_ref(ctx: &mut ValueCtx<'_>, part: Piece<'_>) -> Option<ServiceRef> {
    if let Some(comma) = part.split(',').get(1) {
        ctx.error(
            *comma,
            "a Service reference stands alone: it cannot be mixed with real servers",
        );
        return None;
    }
    let words = part.words();
    if let Some(extra) = words.get(1) {
        ctx.error(
            *extra,
            format!("expected ';' before options, found {}", quoted(extra.text)),
        );
        return None;
    }
    let (namespace, rest) = part.split_once('/')?;
    let Some((name, selector)) = rest.split_once(':') else {
        ctx.error(
            rest.sub(rest.text.len(), rest.text.len()),
            "expected ':s' (all ports), ':PORTNAME' or ':PORTNUMBER' after the Service name",
        );
        return None;
    };
    let mut ok = true;
    if !is_dns_label(namespace.text, false) {
        ctx.error(
            namespace,
            format!(
                "expected a namespace (lower-case letters, digits and '-', at most 63), found {}",
                quoted(namespace.text)
            ),
        );
        ok = false;
    }
    if !is_dns_label(name.text, true) {
        ctx.error(
            name,
            format!(
                "expected a Service name (lower-case letters, digits and '-', starting with a \
                 letter, at most 63), found {}",
                quoted(name.text)
            ),
        );
        ok = false;
    }
    let ports = parse_selector(ctx, selector);
    ok &= ports.is_some();
    Some(ServiceRef {
        namespace: namespace.text.to_owned(),
        name: name.text.to_owned(),
        ports: ports?,
    })
    .filter(|_| ok)
}

fn parse_selector(ctx: &mut ValueCtx<'_>, selector: Piece<'_>) -> Option<PortSelector> {
    let text = selector.text;
    if text == "s" {
        return Some(PortSelector::All);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return port_of(ctx, selector, text).map(PortSelector::Number);
    }
    if is_port_name(text) {
        return Some(PortSelector::Name(text.to_owned()));
    }
    ctx.error(
        selector,
        format!(
            "expected 's' (all ports), a Service port name (lower-case letters, digits and '-', \
             at most 15) or a port number 1-65535, found {}",
            quoted(text)
        ),
    );
    None
}

/// RFC 1123 label (namespaces) or RFC 1035 label (Service names, which must start with a letter).
fn is_dns_label(text: &str, must_start_with_letter: bool) -> bool {
    let bytes = text.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    text.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && (first.is_ascii_lowercase() || (!must_start_with_letter && first.is_ascii_digit()))
        && *last != b'-'
}

/// Kubernetes' IANA_SVC_NAME: what a named Service port may be called.
fn is_port_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    !text.is_empty()
        && text.len() <= 15
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.iter().any(u8::is_ascii_lowercase)
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
}
