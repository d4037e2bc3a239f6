//! Entry -> `(key, value)` text, in the canonical spelling the parser reads back.
//!
//! Pure. `parse_entry(render_entry(e))` gives `e` back whenever `e.key` is the canonical key
//! (what this module writes); options left unset stay unset.

use std::fmt::Write as _;

use super::key::render_key;
use crate::desired::HealthCheckKind;
use crate::entry::{Entry, EntryOptions, PortSelector, Target};
use crate::model::{Protocol, SocketText, TunnelType};

/// Renders an entry as a ConfigMap key and value.
pub fn render_entry(entry: &Entry) -> (String, String) {
    let (key, mut value) = match &entry.target {
        Target::Static {
            port,
            protocol,
            real_servers,
        } => {
            let protocol = (*protocol != Protocol::Tcp).then_some(*protocol);
            let items: Vec<String> = real_servers
                .iter()
                .map(|rs| {
                    let mut item = SocketText(rs.addr, rs.port).to_string();
                    let attrs = [
                        ("weight", rs.weight),
                        ("upper-threshold", rs.upper_threshold),
                        ("lower-threshold", rs.lower_threshold),
                    ];
                    for (name, value) in attrs {
                        if let Some(v) = value {
                            let _ = write!(item, " {name}={v}");
                        }
                    }
                    item
                })
                .collect();
            (
                render_key(entry.vip, Some(*port), protocol),
                items.join(", "),
            )
        }
        Target::Service { service, protocol } => {
            let selector = match &service.ports {
                PortSelector::All => "s".to_owned(),
                PortSelector::Name(name) => name.clone(),
                PortSelector::Number(n) => n.to_string(),
            };
            (
                render_key(entry.vip, None, *protocol),
                format!("{}/{}:{selector}", service.namespace, service.name),
            )
        }
    };
    for option in render_options(&entry.options) {
        value.push_str("; ");
        value.push_str(&option);
    }
    (key, value)
}

fn render_options(opts: &EntryOptions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = opts.scheduler {
        let mut text = format!("scheduler={s}");
        if opts.scheduler_flags.fallback {
            let _ = write!(text, " {s}-fallback");
        }
        if opts.scheduler_flags.port {
            let _ = write!(text, " {s}-port");
        }
        out.push(text);
    }
    if let Some(method) = opts.forward {
        let encapsulation = match opts.tunnel {
            None => String::new(),
            Some(TunnelType::Ipip) => ":ipip".to_owned(),
            Some(TunnelType::Gre) => ":gre".to_owned(),
            Some(TunnelType::Gue { port }) => format!(":gue:{port}"),
        };
        out.push(format!("method={method}{encapsulation}"));
    }
    if !opts.snat_pool.is_empty() {
        let nets: Vec<String> = opts.snat_pool.iter().map(ToString::to_string).collect();
        out.push(format!("pool={}", nets.join(", ")));
    }
    if let Some(p) = opts.persistence {
        match p.prefix_len {
            Some(len) => out.push(format!("persistence={}/{len}", p.timeout_secs)),
            None => out.push(format!("persistence={}", p.timeout_secs)),
        }
    }
    if let Some(w) = opts.weight {
        out.push(format!("weight={w}"));
    }
    if let Some(check) = &opts.health_check {
        let port = match &check.kind {
            HealthCheckKind::Tcp { port } => {
                out.push("check=tcp".to_owned());
                *port
            }
            HealthCheckKind::Http {
                tls,
                path,
                expect_status,
                port,
                expect_body,
            } => {
                let scheme = if *tls { "https" } else { "http" };
                out.push(format!("check={scheme}:{path}:{expect_status}"));
                if let Some(body) = expect_body {
                    out.push(format!("check-body={body}"));
                }
                *port
            }
            HealthCheckKind::Exec { command } => {
                out.push(format!("check=exec:{}", command.join(" ")));
                None
            }
        };
        let numbers = [
            ("check-port", port.map(u32::from)),
            ("check-interval", check.interval_secs),
            ("check-timeout", check.timeout_secs),
            ("check-rise", check.rise),
            ("check-fall", check.fall),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                out.push(format!("{name}={v}"));
            }
        }
    }
    out
}
