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

use std::fmt::Write as _;

use ipnetwork::IpNetwork;

use crate::netfilter::ruleset::{Family, RuleSet, Selector, SnatRule, is_host};

/// The `nft list table inet NAME` text for the rule set, or `None` when it is empty (then the
/// table should not exist).
pub fn table_listing(rules: &RuleSet) -> Option<String> {
    if rules.is_empty() {
        return None;
    }
    let mut chains: Vec<String> = Vec::new();
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
        let lines: Vec<String> = rules
            .notrack
            .iter()
            .map(|s| format!("{} counter notrack", selector(s)))
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
