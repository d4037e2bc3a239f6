//! `lbctl status`: fetches a running daemon's `/status` and renders it for operators.
//!
//! A minimal HTTP/1.0 GET over TCP (the read endpoints are unauthenticated) with a timeout;
//! the rendering is a pure function of the document, tested without a daemon.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::cli::Output;
use lb_controller::client::{DaemonEndpoint, request};
use lb_controller::daemon::StatusDocument;
use lb_controller::files::load_settings;

/// Options of `lbctl status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The daemon's HTTP address (default: the settings' listen_address).
    #[arg(long, short = 'a', value_name = "ADDR")]
    pub(crate) address: Option<SocketAddr>,
    /// Settings file, to find listen_address.
    #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
    pub(crate) settings: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Refresh every SECS seconds until interrupted, like top (text output).
    #[arg(long, short = 'w', value_name = "SECS")]
    pub(crate) watch: Option<u64>,
    /// Give up on the daemon after SECS seconds (connect, send and receive together).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
}

/// Prints the status; exit code 0 when the daemon is ready, 1 otherwise.
pub(crate) fn run(args: &StatusArgs) -> Result<i32> {
    let address = match args.address {
        Some(a) => a,
        None => load_settings(args.settings.as_deref())?.listen_address,
    };
    let timeout = timeout_arg(args.timeout)?;
    if let Some(secs) = args.watch {
        return watch(address, secs.max(1), timeout);
    }
    let body = http_get(address, "/status", timeout)?;
    let doc: StatusDocument = serde_json::from_str(&body)
        .with_context(|| format!("{address}/status did not return a status document"))?;
    match args.output {
        Output::Json => println!("{body}"),
        Output::Text => print!("{}", render(&doc)),
    }
    Ok(if doc.controller.ready { 0 } else { 1 })
}

/// `--watch`: redraws the status every `secs` seconds; a failed fetch is shown, not fatal.
fn watch(address: SocketAddr, secs: u64, timeout: Duration) -> Result<i32> {
    loop {
        let screen = match http_get(address, "/status", timeout).and_then(|body| {
            serde_json::from_str::<StatusDocument>(&body)
                .with_context(|| format!("{address}/status did not return a status document"))
        }) {
            Ok(doc) => render(&doc),
            Err(e) => format!("cannot fetch the status: {e:#}\n"),
        };
        // Clear the screen and move home, then draw.
        print!("\x1b[2J\x1b[H{screen}\n(every {secs} s from {address}; Ctrl-C to stop)\n");
        std::io::stdout().flush()?;
        std::thread::sleep(Duration::from_secs(secs));
    }
}

fn http_get(address: SocketAddr, path: &str, timeout: Duration) -> Result<String> {
    Ok(request(
        &DaemonEndpoint::Tcp(address),
        "GET",
        path,
        timeout,
    )?)
}

/// `--timeout SECS` as a duration: positive and finite.
pub(crate) fn timeout_arg(secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            crate::usage::CliUsage(format!(
                "--timeout {secs}: expected a positive number of seconds"
            ))
            .into()
        })
}

/// The document as tables: a header, then per service its real servers.
pub(crate) fn render(doc: &StatusDocument) -> String {
    let c = &doc.controller;
    let mut out = String::new();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let counters = match (doc.kernel_dump, doc.table_age_secs) {
        (true, Some(age)) => format!("from the last sync, {age:.0} s old"),
        (true, None) => "from the last sync".to_owned(),
        (false, _) => "unavailable".to_owned(),
    };
    let _ = writeln!(
        out,
        "ready: {}   listed: {}   api connected: {}   kernel counters: {counters}",
        yes_no(c.ready),
        yes_no(c.listed),
        yes_no(c.connected),
    );
    if let Some(s) = &c.last_sync {
        let _ = writeln!(
            out,
            "last sync: {}, {} pass, {} services read ({} applied, {} failed, {:.3} s){}",
            s.result,
            s.pass,
            s.services_read,
            s.applied,
            s.failed,
            s.duration_secs,
            s.error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    } else {
        let _ = writeln!(out, "last sync: none yet");
    }
    if c.configmap_kept {
        let _ = writeln!(
            out,
            "ConfigMap deleted or unreadable: running on the last good entries"
        );
    }
    for key in &c.kept_keys {
        let _ = writeln!(
            out,
            "key {key}: invalid now, running on its last good version"
        );
    }
    for p in &c.problems {
        let _ = writeln!(out, "{}: {p}", p.severity);
    }
    if let Some(bgp) = &doc.bgp {
        out.push_str(&lb_controller::bgp::render_status(bgp));
    }
    for svc in &doc.services {
        let origin = match (&svc.config_key, &svc.kubernetes_service) {
            (Some(k), Some(s)) => format!("key {k}, service {s}"),
            (Some(k), None) => format!("key {k}"),
            (None, _) => "leaving (no longer configured)".to_owned(),
        };
        let _ = writeln!(
            out,
            "\n{}  {} {}  conns {}  in {} pkts / {} B  now {} conn/s, {} in / {} out  [{}]{}",
            svc.service,
            svc.scheduler,
            svc.forward.as_deref().unwrap_or("-"),
            svc.conns,
            svc.inpkts,
            svc.inbytes,
            svc.rates.cps,
            bits_per_second(svc.rates.inbps),
            bits_per_second(svc.rates.outbps),
            origin,
            if svc.in_kernel { "" } else { "  NOT IN KERNEL" }
        );
        let rows: Vec<[String; 9]> = svc
            .real_servers
            .iter()
            .map(|rs| {
                [
                    rs.address.clone(),
                    weight_text(rs.weight, rs.kernel_weight),
                    rs.state.clone(),
                    rs.health.clone(),
                    rs.active_conns.to_string(),
                    rs.inactive_conns.to_string(),
                    rs.rates.cps.to_string(),
                    bits_per_second(rs.rates.inbps),
                    rs.drain_deadline
                        .map(|d| format!("drain until {d}"))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &mut out,
            [
                "  REAL SERVER",
                "WEIGHT",
                "STATE",
                "HEALTH",
                "ACTIVE",
                "INACTIVE",
                "CONN/S",
                "IN",
                "",
            ],
            &rows,
        );
    }
    out
}

/// The kernel's byte rate as bits per second, e.g. `12.3 kbit/s`.
fn bits_per_second(bytes_per_second: u64) -> String {
    let bits = bytes_per_second.saturating_mul(8) as f64;
    match bits {
        b if b >= 1e9 => format!("{:.1} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kbit/s", b / 1e3),
        b => format!("{b:.0} bit/s"),
    }
}

fn weight_text(want: Option<u32>, have: Option<u32>) -> String {
    match (want, have) {
        (Some(w), Some(h)) if w == h => w.to_string(),
        (Some(w), Some(h)) => format!("{h} (want {w})"),
        (Some(w), None) => format!("- (want {w})"),
        (None, Some(h)) => h.to_string(),
        (None, None) => "-".to_owned(),
    }
}

fn table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let mut all: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
    all.extend(rows.iter().map(|row| {
        let mut cells = row.to_vec();
        cells[0] = format!("  {}", cells[0]);
        cells
    }));
    let widths: Vec<usize> = (0..header.len())
        .map(|i| all.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in all {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_controller::daemon::{RealServerStatus, ServiceStatus};

    #[test]
    fn renders_services_real_servers_weights_and_drains() {
        let doc = StatusDocument {
            kernel_dump: true,
            table_age_secs: Some(2.4),
            services: vec![ServiceStatus {
                service: "10.0.0.100:80/tcp".into(),
                config_key: Some("10.0.0.100".into()),
                kubernetes_service: Some("shop/web:http".into()),
                scheduler: "rr".into(),
                forward: Some("nat".into()),
                in_kernel: true,
                conns: 12,
                inpkts: 40,
                outpkts: 38,
                inbytes: 4000,
                outbytes: 9000,
                rates: lb_controller::daemon::Rates {
                    cps: 3,
                    inbps: 1500,
                    ..Default::default()
                },
                real_servers: vec![
                    RealServerStatus {
                        address: "10.1.0.1:8080".into(),
                        weight: Some(1),
                        kernel_weight: Some(1),
                        state: "active".into(),
                        health: "unchecked".into(),
                        active_conns: 3,
                        inactive_conns: 1,
                        conns: 10,
                        rates: lb_controller::daemon::Rates {
                            cps: 2,
                            inbps: 125_000,
                            ..Default::default()
                        },
                        drain_deadline: None,
                    },
                    RealServerStatus {
                        address: "10.1.0.2:8080".into(),
                        weight: None,
                        kernel_weight: Some(0),
                        state: "leaving".into(),
                        health: "unchecked".into(),
                        active_conns: 2,
                        inactive_conns: 0,
                        conns: 2,
                        rates: Default::default(),
                        drain_deadline: Some(1_900_000_000),
                    },
                ],
            }],
            ..StatusDocument::default()
        };
        let text = render(&doc);
        assert!(text.contains("ready: no"), "{text}");
        assert!(
            text.contains("kernel counters: from the last sync, 2 s old"),
            "{text}"
        );
        assert!(
            text.contains("10.0.0.100:80/tcp  rr nat  conns 12"),
            "{text}"
        );
        assert!(text.contains("shop/web:http"), "{text}");
        let rs2 = text
            .lines()
            .find(|l| l.contains("10.1.0.2:8080"))
            .unwrap_or_default();
        assert!(
            rs2.contains("leaving") && rs2.contains("drain until 1900000000"),
            "{rs2}"
        );
        let header = text
            .lines()
            .find(|l| l.contains("REAL SERVER"))
            .unwrap_or_default();
        assert!(
            header.contains("ACTIVE") && header.contains("INACTIVE") && header.contains("CONN/S"),
            "{header}"
        );
        assert!(text.contains("now 3 conn/s, 12.0 kbit/s in"), "{text}");
        let rs1 = text
            .lines()
            .find(|l| l.contains("10.1.0.1:8080"))
            .unwrap_or_default();
        assert!(rs1.contains("1.0 Mbit/s"), "{rs1}");
    }

    #[test]
    fn weight_shows_pending_changes() {
        assert_eq!(weight_text(Some(1), Some(1)), "1");
        assert_eq!(weight_text(Some(0), Some(1)), "1 (want 0)");
        assert_eq!(weight_text(Some(2), None), "- (want 2)");
    }
}
