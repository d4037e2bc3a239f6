//! Pure rendering of a [`RuleSet`] as our own nftables table (`inet lbctl`), in exactly the text
//! `nft -s list table` prints (stateless: counters without their values), so that the listing
//! can be compared with the kernel's and fed to `nft -f` unchanged. Every rule counts what it
//! matched (`counter`), as the iptables rules do: `nft list table inet lbctl` shows whether
//! the NOTRACK, SNAT and bypass rules see traffic.
//!
//! Pure: no I/O. The table holds base chains at raw priority (NOTRACK) and srcnat priority
//! (SNAT), and a filter FORWARD chain ahead of the filter priority for the node bypass. nftables
//! has no `ipvs` match: SNAT matches the conntrack original destination (the VIP and port the
//! client asked for), which IPVS leaves in place when `net.ipv4.vs.conntrack=1`.
//!
//! NOTRACK selectors of one address and one protocol (what every virtual service asks for) go
//! into sets, one per family, direction, protocol and port-or-all-ports, each matched by one
//! rule: a packet costs one hash lookup per such rule, not one comparison per service. A chain
//! of 10,000 services' rules would cost every packet through the raw hooks up to 10,000 rule
//! evaluations, and listing and loading it costs seconds per pass. Other selectors (networks,
//! no protocol: the node bypass) stay rules of their own. nft lists a set's elements in its
//! hash order, so listings are compared with each set's elements sorted ([`comparable`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use lb_config::Protocol;

use crate::netfilter::ruleset::{Family, RuleSet, Selector, SnatRule, is_host};

/// The `nft list table inet NAME` text for the rule set, or `None` when it is empty (then the
/// table should not exist).
pub fn table_listing(rules: &RuleSet) -> Option<String> {
    if rules.is_empty() {
        return None;
    }
    let mut chains: Vec<String> = Vec::new();
    let (sets, singles) = notrack_sets(&rules.notrack);
    chains.extend(
        sets.iter()
            .map(|(key, members)| set_definition(key, members)),
    );
    if !rules.notrack.is_empty() {
        chains.push(base_chain(
            "lb_prerouting",
            "filter hook prerouting priority raw",
            &["jump lb_bypass".to_owned()],
        ));
        chains.push(base_chain(
            "lb_output",
            "filter hook output priority raw",
            &["jump lb_bypass".to_owned()],
        ));
        let lines: Vec<String> = sets
            .keys()
            .map(set_rule)
            .chain(
                singles
                    .iter()
                    .map(|s| format!("{} counter notrack", selector(s))),
            )
            .collect();
        chains.push(chain("lb_bypass", None, &lines));
    }
    if !rules.snat.is_empty() {
        let lines: Vec<String> = rules.snat.iter().flat_map(snat_lines).collect();
        chains.push(base_chain(
            "lb_postrouting",
            "nat hook postrouting priority srcnat",
            &lines,
        ));
    }
    if !rules.forward_accept.is_empty() {
        let lines: Vec<String> = rules
            .forward_accept
            .iter()
            .map(|s| format!("{} counter accept", selector(s)))
            .collect();
        chains.push(base_chain(
            "lb_forward",
            "filter hook forward priority filter - 10",
            &lines,
        ));
    }
    Some(format!(
        "table inet {} {{\n{}}}\n",
        rules.owner.nft_table(),
        chains.join("\n")
    ))
}

/// The `nft -f` script that replaces our table atomically: create it (so the delete cannot
/// fail), delete it, define it - one transaction, so no packet sees a half-built table.
pub fn replace_script(rules: &RuleSet) -> Option<String> {
    let table = rules.owner.nft_table();
    table_listing(rules)
        .map(|listing| format!("table inet {table}\ndelete table inet {table}\n{listing}"))
}

/// A listing with each set's elements sorted and on one line: two listings of the same table
/// compare equal whatever order nft keeps the elements in. Elements (addresses, ports) hold no
/// `,` or `}`.
pub fn comparable(listing: &str) -> String {
    const OPEN: &str = "elements = {";
    let mut out = String::with_capacity(listing.len());
    let mut rest = listing.trim_end();
    while let Some(start) = rest.find(OPEN) {
        let open = start + OPEN.len();
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let mut elements: Vec<&str> = rest[open..open + len]
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        elements.sort_unstable();
        out.push_str(&rest[..open]);
        out.push(' ');
        out.push_str(&elements.join(", "));
        out.push_str(" }");
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Which NOTRACK set a selector belongs in: one address on one side, one protocol, one port
/// or all ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SetKey {
    family: Family,
    direction: Direction,
    protocol: Protocol,
    /// No port: every port of the protocol.
    all_ports: bool,
}

/// Each set's members: address and port (0 in the sets of every port).
type SetMembers = BTreeMap<SetKey, BTreeSet<(IpAddr, u16)>>;

/// Which side of the packet a set's address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    /// The destination: traffic to a service.
    To,
    /// The source: a service's replies.
    From,
}

/// The NOTRACK selectors that fit a set, by set (each set's members in order, without
/// repeats), and the others, in their order.
fn notrack_sets(notrack: &[Selector]) -> (SetMembers, Vec<&Selector>) {
    let mut sets = SetMembers::new();
    let mut singles = Vec::new();
    for s in notrack {
        let side = match (s.source, s.destination, s.sport, s.dport) {
            (None, Some(dst), None, port) if is_host(&dst) => Some((Direction::To, dst.ip(), port)),
            (Some(src), None, port, None) if is_host(&src) => {
                Some((Direction::From, src.ip(), port))
            }
            _ => None,
        };
        match (side, s.protocol) {
            (Some((direction, addr, port)), Some(protocol)) => {
                let key = SetKey {
                    family: Family::of(addr),
                    direction,
                    protocol,
                    all_ports: port.is_none(),
                };
                sets.entry(key)
                    .or_default()
                    .insert((addr, port.unwrap_or(0)));
            }
            _ => singles.push(s),
        }
    }
    (sets, singles)
}

fn set_name(key: &SetKey) -> String {
    format!(
        "lb_{}_{}_{}{}",
        match key.direction {
            Direction::To => "to",
            Direction::From => "from",
        },
        match key.family {
            Family::V4 => "v4",
            Family::V6 => "v6",
        },
        key.protocol,
        if key.all_ports { "_all" } else { "" }
    )
}

fn set_definition(key: &SetKey, members: &BTreeSet<(IpAddr, u16)>) -> String {
    let addr_type = match key.family {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    };
    let mut out = format!("\tset {} {{\n\t\ttype {addr_type}", set_name(key));
    if !key.all_ports {
        out.push_str(" . inet_service");
    }
    out.push_str("\n\t\telements = { ");
    for (index, (addr, port)) in members.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{addr}");
        if !key.all_ports {
            let _ = write!(out, " . {port}");
        }
    }
    out.push_str(" }\n\t}\n");
    out
}

/// The one rule that looks a packet up in the set, as nft lists it.
fn set_rule(key: &SetKey) -> String {
    let word = family_word(key.family);
    let (side, port) = match key.direction {
        Direction::To => ("daddr", "dport"),
        Direction::From => ("saddr", "sport"),
    };
    let name = set_name(key);
    let proto = key.protocol;
    if key.all_ports {
        format!("{word} {side} @{name} meta l4proto {proto} counter notrack")
    } else {
        format!("{word} {side} . {proto} {port} @{name} counter notrack")
    }
}

fn base_chain(name: &str, kind: &str, lines: &[String]) -> String {
    chain(name, Some(kind), lines)
}

fn chain(name: &str, kind: Option<&str>, lines: &[String]) -> String {
    let mut out = format!("\tchain {name} {{\n");
    if let Some(kind) = kind {
        let _ = writeln!(out, "\t\ttype {kind}; policy accept;");
    }
    for line in lines {
        let _ = writeln!(out, "\t\t{line}");
    }
    out.push_str("\t}\n");
    out
}

fn family_word(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// An address or network as nft prints it: plain for one address, `net/len` otherwise.
fn net(n: &IpNetwork) -> String {
    if is_host(n) {
        n.ip().to_string()
    } else {
        n.to_string()
    }
}

fn selector(s: &Selector) -> String {
    let word = family_word(s.family());
    let mut parts = Vec::new();
    if let Some(src) = &s.source {
        parts.push(format!("{word} saddr {}", net(src)));
    }
    if let Some(dst) = &s.destination {
        parts.push(format!("{word} daddr {}", net(dst)));
    }
    match (s.protocol, s.sport, s.dport) {
        (Some(proto), Some(sport), Some(dport)) => {
            parts.push(format!("{proto} sport {sport} {proto} dport {dport}"));
        }
        (Some(proto), Some(sport), None) => parts.push(format!("{proto} sport {sport}")),
        (Some(proto), None, Some(dport)) => parts.push(format!("{proto} dport {dport}")),
        (Some(proto), None, None) => parts.push(format!("meta l4proto {proto}")),
        (None, _, _) => {}
    }
    parts.join(" ")
}

fn snat_lines(rule: &SnatRule) -> Vec<String> {
    let key = rule.service;
    let word = family_word(rule.family());
    let mut matcher = format!(
        "ct original {word} daddr {} meta l4proto {}",
        key.vip, key.protocol
    );
    if key.port != 0 {
        let _ = write!(matcher, " ct original proto-dst {}", key.port);
    }
    let count = rule.pool.len();
    rule.pool
        .iter()
        .enumerate()
        .map(|(index, pool)| {
            let remaining = count - index;
            let spread = if remaining > 1 {
                format!(" numgen inc mod {remaining} 0")
            } else {
                String::new()
            };
            format!(
                "{matcher}{spread} counter snat {word} to {} fully-random",
                net(pool)
            )
        })
        .collect()
}
