//! Pure rendering of a [`RuleSet`] into iptables terms: per family and table, our chain, its
//! rules exactly as `iptables-save` prints them, and the built-in chains that jump to it.
//!
//! Pure: no I/O. Rules are rendered in `iptables-save`'s canonical spelling so that comparing
//! them with the kernel's state is a plain string comparison.

use ipnetwork::IpNetwork;

use crate::netfilter::ruleset::{Family, Owner, RuleSet, Selector, SnatRule, is_host};

/// A built-in chain that jumps to our chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hook {
    /// The built-in chain, e.g. `PREROUTING`.
    pub builtin: &'static str,
    /// Whether our jump must stay the first rule (re-asserted on every sync). Why: a CNI such as
    /// Calico inserts its own FORWARD jump at position 1, and its verdicts would come first.
    pub keep_first: bool,
}

/// Our chain in one table of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// IPv4 (`iptables`) or IPv6 (`ip6tables`).
    pub family: Family,
    /// `raw`, `nat` or `filter`.
    pub table: &'static str,
    /// Our chain's name.
    pub chain: &'static str,
    /// The built-in chains that jump to it.
    pub hooks: Vec<Hook>,
    /// Rule bodies (without `-A CHAIN`), in order, as `iptables-save` prints them.
    pub rules: Vec<String>,
}

/// The tables an owner may use, with empty rule lists (what a cleanup removes).
pub fn owner_tables(owner: Owner) -> Vec<TableSpec> {
    let mut specs = Vec::new();
    for family in Family::BOTH {
        specs.push(TableSpec {
            family,
            table: "raw",
            chain: owner.notrack_chain(),
            hooks: vec![
                Hook {
                    builtin: "PREROUTING",
                    keep_first: false,
                },
                Hook {
                    builtin: "OUTPUT",
                    keep_first: false,
                },
            ],
            rules: Vec::new(),
        });
        match owner {
            Owner::Director => specs.push(TableSpec {
                family,
                table: "nat",
                chain: owner.snat_chain(),
                hooks: vec![Hook {
                    builtin: "POSTROUTING",
                    keep_first: false,
                }],
                rules: Vec::new(),
            }),
            Owner::NodeBypass => specs.push(TableSpec {
                family,
                table: "filter",
                chain: owner.forward_chain(),
                hooks: vec![Hook {
                    builtin: "FORWARD",
                    keep_first: true,
                }],
                rules: Vec::new(),
            }),
        }
    }
    specs
}

/// Every table of the owner with the rules the rule set wants there (possibly none).
pub fn table_specs(rules: &RuleSet) -> Vec<TableSpec> {
    let mut specs = owner_tables(rules.owner);
    for spec in &mut specs {
        let family = spec.family;
        spec.rules = match spec.table {
            "raw" => rules
                .notrack
                .iter()
                .filter(|s| s.family() == family)
                .map(|s| format!("{} -j CT --notrack", selector(s)))
                .collect(),
            "nat" => rules
                .snat
                .iter()
                .filter(|r| r.family() == family)
                .flat_map(snat_rules)
                .collect(),
            "filter" => rules
                .forward_accept
                .iter()
                .filter(|s| s.family() == family)
                .map(|s| format!("{} -j ACCEPT", selector(s)))
                .collect(),
            _ => Vec::new(),
        };
    }
    specs
}

/// `-s NET -d NET -p PROTO -m PROTO --dport PORT`, in `iptables-save` order.
fn selector(s: &Selector) -> String {
    let mut parts = Vec::new();
    if let Some(src) = s.source {
        parts.push(format!("-s {src}"));
    }
    if let Some(dst) = s.destination {
        parts.push(format!("-d {dst}"));
    }
    if let Some(proto) = s.protocol {
        parts.push(format!("-p {proto}"));
        match (s.sport, s.dport) {
            (Some(sport), Some(dport)) => {
                parts.push(format!("-m {proto} --sport {sport} --dport {dport}"));
            }
            (Some(sport), None) => parts.push(format!("-m {proto} --sport {sport}")),
            (None, Some(dport)) => parts.push(format!("-m {proto} --dport {dport}")),
            (None, None) => {}
        }
    }
    parts.join(" ")
}

/// One SNAT rule per pool network; with several networks, new connections are spread over them
/// with the `statistic` match in nth mode (each rule takes 1/remaining of what reaches it).
fn snat_rules(rule: &SnatRule) -> Vec<String> {
    let key = rule.service;
    // iptables-save prints a host --vaddr without its /32 or /128.
    let vaddr = key.vip;
    let mut ipvs = format!("-m ipvs --vproto {} --vaddr {vaddr}", key.protocol.number());
    if key.port != 0 {
        ipvs.push_str(&format!(" --vport {}", key.port));
    }
    let count = rule.pool.len();
    rule.pool
        .iter()
        .enumerate()
        .map(|(index, net)| {
            let remaining = count - index;
            let spread = if remaining > 1 {
                format!(" -m statistic --mode nth --every {remaining} --packet 0")
            } else {
                String::new()
            };
            format!(
                "{ipvs}{spread} -j SNAT --to-source {} --random-fully",
                address_range(net)
            )
        })
        .collect()
}

/// `A` for one address, `FIRST-LAST` for a network (every address of it).
fn address_range(net: &IpNetwork) -> String {
    if is_host(net) {
        net.ip().to_string()
    } else {
        format!("{}-{}", net.network(), net.broadcast_or_last())
    }
}

/// The last address of a network (IPv4 broadcast, or the highest IPv6 address).
trait LastAddress {
    fn broadcast_or_last(&self) -> std::net::IpAddr;
}

impl LastAddress for IpNetwork {
    fn broadcast_or_last(&self) -> std::net::IpAddr {
        match self {
            IpNetwork::V4(n) => std::net::IpAddr::V4(n.broadcast()),
            IpNetwork::V6(n) => {
                let bits = u128::from(n.network());
                let host_bits = 128 - u32::from(n.prefix());
                let mask = if host_bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << host_bits) - 1
                };
                std::net::IpAddr::V6((bits | mask).into())
            }
        }
    }
}

/// The jump rule body as `iptables-save` prints it.
pub fn jump(chain: &str) -> String {
    format!("-j {chain}")
}
