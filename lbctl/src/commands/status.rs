//! `lbctl status`: fetches a running daemon's `/status` and renders it for operators.
//!
//! A minimal HTTP/1.0 GET over TCP (the read endpoints are unauthenticated) with a timeout;
//! the rendering is a pure function of the document, tested without a daemon. Filters
//! (`--vip`, `--service`, `--key`) are applied by the daemon. A large table (more than
//! [`AUTO_SUMMARY_SERVICES`] services) is shown as its summary unless `--all` or a filter is
//! given: the text of 10,000 services would be 120,000 lines nobody reads.

use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::de::DeserializeOwned;

use crate::cli::Output;
use lb_controller::client::{DaemonEndpoint, request};
use lb_controller::daemon::{
    ControllerStatus, KeptKey, ServiceFilter, StatusDocument, StatusQuery, StatusSummary,
};
use lb_controller::files::load_settings;
use lb_ipvs_sync::reconcile::utc_timestamp;

/// Above this many services, text output without a filter shows the summary (`--all`: every
/// service anyway).
pub(crate) const AUTO_SUMMARY_SERVICES: usize = 1_000;

/// VIP rows the text summary shows (those with failing or missing services first); the JSON
/// summary has them all.
pub(crate) const SUMMARY_VIP_ROWS: usize = 50;

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
    /// Give up on the daemon after SECS seconds (connect, send and receive together; with
    /// --watch, per refresh).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
    /// Only the services of this VIP.
    #[arg(long, value_name = "ADDR")]
    pub(crate) vip: Option<std::net::IpAddr>,
    /// Only the services that mirror this Kubernetes Service (all its ports, or one).
    #[arg(long, value_name = "NAMESPACE/NAME[:PORT]", value_parser = parse_service)]
    pub(crate) service: Option<ServiceFilter>,
    /// Only the services of this ConfigMap key.
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Option<String>,
    /// Counts by state, health and VIP instead of every real server.
    #[arg(long, conflicts_with = "all")]
    pub(crate) summary: bool,
    /// Every service even when the table is large (text output shows the summary above
    /// 1,000 services without a filter).
    #[arg(long)]
    pub(crate) all: bool,
}

fn parse_service(value: &str) -> Result<ServiceFilter, String> {
    ServiceFilter::parse(value).map_err(|e| e.to_string())
}

/// What was fetched: the whole (or filtered) document, or the summary with why it was chosen.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// Services with their real servers.
    Document(StatusDocument),
    /// Counts; `note` says why the summary was shown when it was not asked for.
    Summary {
        /// The summary.
        summary: StatusSummary,
        /// Why (the table is large), if `--summary` was not given.
        note: Option<String>,
    },
}

impl Fetched {
    fn ready(&self) -> bool {
        match self {
            Fetched::Document(doc) => doc.controller.ready,
            Fetched::Summary { summary, .. } => summary.controller.ready,
        }
    }

    fn text(&self) -> String {
        match self {
            Fetched::Document(doc) => render(doc),
            Fetched::Summary { summary, note } => render_summary(summary, note.as_deref()),
        }
    }

    fn json(&self) -> Result<String> {
        Ok(match self {
            Fetched::Document(doc) => serde_json::to_string_pretty(doc)?,
            Fetched::Summary { summary, .. } => serde_json::to_string_pretty(summary)?,
        })
    }
}

/// The rule of what to show: `--summary` asks for it; a filter or `--all` for the rows; JSON
/// without `--summary` is always the document (scripts read it); text without either asks
/// for the summary first and shows it when the table has more than
/// [`AUTO_SUMMARY_SERVICES`] services.
fn fetch(address: SocketAddr, args: &StatusArgs, timeout: Duration) -> Result<Fetched> {
    let query = StatusQuery {
        vip: args.vip,
        service: args.service.clone(),
        key: args.key.clone(),
        summary: false,
        pretty: false,
    };
    let summary_query = StatusQuery {
        summary: true,
        ..query.clone()
    };
    if args.summary {
        let summary = get(address, &summary_query, timeout)?;
        return Ok(Fetched::Summary {
            summary,
            note: None,
        });
    }
    if args.all || query.is_filtered() || args.output == Output::Json {
        return Ok(Fetched::Document(get(address, &query, timeout)?));
    }
    let summary: StatusSummary = get(address, &summary_query, timeout)?;
    if summary.counts.services > AUTO_SUMMARY_SERVICES {
        let note = format!(
            "{} services (more than {AUTO_SUMMARY_SERVICES}): showing the summary. Every \
             service: `lbctl status --all`; some: --vip ADDR, --service NAMESPACE/NAME or --key KEY",
            summary.counts.services
        );
        return Ok(Fetched::Summary {
            summary,
            note: Some(note),
        });
    }
    Ok(Fetched::Document(get(address, &query, timeout)?))
}

/// One `/status` request parsed as `T`.
fn get<T: DeserializeOwned>(
    address: SocketAddr,
    query: &StatusQuery,
    timeout: Duration,
) -> Result<T> {
    let path = query.path();
    let body = http_get(address, &path, timeout)?;
    serde_json::from_str(&body)
        .with_context(|| format!("{address}{path} did not return a status document"))
}

/// Prints the status; exit code 0 when the daemon is ready, 1 otherwise.
pub(crate) fn run(args: &StatusArgs) -> Result<i32> {
    let address = match args.address {
        Some(a) => a,
        None => load_settings(args.settings.as_deref())?.listen_address,
    };
    let timeout = timeout_arg(args.timeout)?;
    if let Some(secs) = args.watch {
        return watch(address, args, secs.max(1), timeout);
    }
    let fetched = fetch(address, args, timeout)?;
    match args.output {
        Output::Json => println!("{}", fetched.json()?),
        Output::Text => print!("{}", fetched.text()),
    }
    Ok(if fetched.ready() { 0 } else { 1 })
}

/// `--watch`: redraws the status every `secs` seconds; a failed fetch (including one that
/// hits `--timeout`) is shown, not fatal.
fn watch(address: SocketAddr, args: &StatusArgs, secs: u64, timeout: Duration) -> Result<i32> {
    loop {
        let screen = match fetch(address, args, timeout) {
            Ok(fetched) => fetched.text(),
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

/// The lines every view starts with: readiness, the last sync, ConfigMap problems, BGP.
fn header(
    out: &mut String,
    c: &ControllerStatus,
    kernel_dump: bool,
    table_age_secs: Option<f64>,
    bgp: Option<&lb_controller::bgp::BgpStatus>,
) {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let counters = match (kernel_dump, table_age_secs) {
        (true, Some(age)) => format!("read {age:.0} s ago"),
        (true, None) => "read by a sync".to_owned(),
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
            "last sync: {}, {} pass, {} services read, {} dumps ({} applied, {} failed, {:.3} s){}",
            s.result,
            s.pass,
            s.services_read,
            s.dumps,
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
    if let Some(sync) = &c.connection_sync {
        connection_sync_line(out, sync);
    }
    if c.configmap_kept {
        let _ = writeln!(
            out,
            "ConfigMap deleted or unreadable: running on the last good entries"
        );
    }
    for key in &c.kept_keys {
        let detail = c
            .kept
            .iter()
            .find(|k| &k.key == key)
            .map(kept_detail)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "key {key}: invalid now, running on its last good version{detail}"
        );
    }
    for p in &c.problems {
        let _ = writeln!(out, "{}: {p}", p.severity);
    }
    if let Some(bgp) = bgp {
        out.push_str(&lb_controller::bgp::render_status(bgp));
    }
}

/// `connection sync: master on eth1 (sync id 5) running, backup ... NOT running`.
fn connection_sync_line(out: &mut String, sync: &lb_controller::daemon::ConnectionSyncStatus) {
    let daemons: Vec<String> = sync
        .wanted
        .iter()
        .map(|want| {
            let running = want.runs_in(&sync.running);
            format!(
                "{} on {} (sync id {}) {}",
                want.role,
                want.interface,
                want.sync_id,
                if running { "running" } else { "NOT running" }
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "connection sync: {}{}",
        daemons.join(", "),
        sync.error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
}

/// Where a kept key's version comes from and since when, e.g. ` (from the state file after a
/// restart, kept since 2026-12-03T09:00:00Z, version of 2026-12-02T17:30:00Z)`.
fn kept_detail(k: &KeptKey) -> String {
    format!(
        " ({}, kept since {}, version of {})",
        k.from.describe(),
        utc_timestamp(k.kept_since),
        utc_timestamp(k.version_since)
    )
}

/// The document as tables: a header, then per service its real servers.
pub(crate) fn render(doc: &StatusDocument) -> String {
    let mut out = String::new();
    header(
        &mut out,
        &doc.controller,
        doc.kernel_dump,
        doc.table_age_secs,
        doc.bgp.as_ref(),
    );
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

/// The summary: the header, the counts, and at most [`SUMMARY_VIP_ROWS`] VIPs (those with
/// failing or missing services first), so its length does not grow with the table.
pub(crate) fn render_summary(summary: &StatusSummary, note: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(note) = note {
        let _ = writeln!(out, "{note}\n");
    }
    header(
        &mut out,
        &summary.controller,
        summary.kernel_dump,
        summary.table_age_secs,
        summary.bgp.as_ref(),
    );
    let c = &summary.counts;
    let problems = c.problem_errors + c.problem_warnings;
    let more = |listed: usize, total: usize, what: &str| {
        (total > listed).then(|| format!("... and {} more {what}\n", total - listed))
    };
    out.push_str(
        &more(summary.controller.kept_keys.len(), c.kept_keys, "kept keys").unwrap_or_default(),
    );
    out.push_str(
        &more(
            summary.controller.problems.len(),
            problems,
            "problems (`lbctl status -o json --key KEY` has the services of one key; the \
             daemon's log and `lbctl validate` have them all)",
        )
        .unwrap_or_default(),
    );
    let count = |map: &std::collections::BTreeMap<String, usize>, name: &str| {
        map.get(name).copied().unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "\nservices: {} ({} not in the kernel, {} leaving)",
        c.services, c.services_not_in_kernel, c.services_leaving
    );
    let state = &c.real_servers_by_state;
    let health = &c.real_servers_by_health;
    let _ = writeln!(
        out,
        "real servers: {} ({} active, {} terminating, {} unhealthy, {} leaving; {} draining, \
         {} with a kernel weight still to set)",
        c.real_servers,
        count(state, "active"),
        count(state, "terminating"),
        count(state, "unhealthy"),
        count(state, "leaving"),
        c.real_servers_draining,
        c.real_servers_weight_pending,
    );
    let _ = writeln!(
        out,
        "health: {} healthy, {} failing, {} unchecked",
        count(health, "healthy"),
        count(health, "failing"),
        count(health, "unchecked"),
    );
    let mut vips: Vec<_> = summary.vips.iter().collect();
    // Stable: within each group the daemon's address order stays.
    vips.sort_by_key(|v| v.failing == 0 && v.services_not_ready == 0);
    let rows: Vec<[String; 5]> = vips
        .iter()
        .take(SUMMARY_VIP_ROWS)
        .map(|v| {
            [
                v.vip.clone(),
                v.services.to_string(),
                v.real_servers.to_string(),
                v.failing.to_string(),
                v.services_not_ready.to_string(),
            ]
        })
        .collect();
    let _ = writeln!(out, "\n{} VIP(s):", summary.vips.len());
    table(
        &mut out,
        ["  VIP", "SERVICES", "REAL SERVERS", "FAILING", "NOT READY"],
        &rows,
    );
    if summary.vips.len() > SUMMARY_VIP_ROWS {
        let _ = writeln!(
            out,
            "  ... and {} more VIPs (`lbctl status --summary -o json` lists them all; \
             `--vip ADDR` shows one VIP's services)",
            summary.vips.len() - SUMMARY_VIP_ROWS
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
    use lb_controller::daemon::{KeptFrom, RealServerStatus, ServiceStatus};

    // Fails if the kept key's line loses where its version comes from (a restart's version
    // from the state file must be told apart) or the times.
    #[test]
    fn a_kept_key_says_where_its_version_comes_from() {
        let doc = StatusDocument {
            controller: ControllerStatus {
                kept_keys: vec!["10.0.0.1-80".into()],
                kept: vec![KeptKey {
                    key: "10.0.0.1-80".into(),
                    kept_since: 1_764_752_400,
                    version_since: 1_764_700_000,
                    from: KeptFrom::StateFile,
                }],
                ..ControllerStatus::default()
            },
            ..StatusDocument::default()
        };
        let text = render(&doc);
        assert!(
            text.contains(
                "key 10.0.0.1-80: invalid now, running on its last good version (from the state \
                 file after a restart, kept since 2025-12-03T09:00:00Z, version of \
                 2025-12-02T18:26:40Z)"
            ),
            "{text}"
        );
    }

    #[test]
    fn renders_the_connection_sync_daemons_and_which_do_not_run() {
        // Mutation: reporting the wanted list as running hides a stopped daemon.
        use lb_config::{ConnectionSyncSettings, SyncRole};
        use lb_ipvs_sync::sync_daemon::SyncDaemon;
        let wanted = SyncDaemon::wanted(&ConnectionSyncSettings {
            roles: vec![SyncRole::Master, SyncRole::Backup],
            interface: "eth1".into(),
            sync_id: 5,
            ..ConnectionSyncSettings::default()
        });
        let doc = StatusDocument {
            controller: lb_controller::daemon::ControllerStatus {
                connection_sync: Some(lb_controller::daemon::ConnectionSyncStatus {
                    running: vec![wanted[0].clone()],
                    wanted,
                    error: Some("no such device".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let text = render(&doc);
        assert!(
            text.contains(
                "connection sync: master on eth1 (sync id 5) running, \
                 backup on eth1 (sync id 5) NOT running: no such device"
            ),
            "{text}"
        );
    }

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
        assert!(text.contains("kernel counters: read 2 s ago"), "{text}");
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

    /// A summary of 10,000 services over 2,000 VIPs, one VIP with a failing server.
    fn big_summary() -> StatusSummary {
        let mut summary = StatusSummary {
            counts: lb_controller::daemon::StatusCounts {
                services: 10_000,
                real_servers: 100_000,
                problem_errors: 30,
                ..Default::default()
            },
            vips: (0..2_000)
                .map(|v| lb_controller::daemon::VipSummary {
                    vip: format!("10.0.{}.{}", v / 250, v % 250 + 1),
                    services: 5,
                    real_servers: 50,
                    failing: usize::from(v == 1_234),
                    services_not_ready: 0,
                })
                .collect(),
            ..Default::default()
        };
        summary
            .counts
            .real_servers_by_state
            .insert("active".into(), 100_000);
        summary
            .counts
            .real_servers_by_health
            .insert("failing".into(), 1);
        summary.controller.problems = (0..20)
            .map(|i| lb_config::Problem::error(&format!("bad-{i}"), None, "broken"))
            .collect();
        summary
    }

    /// The summary of 10,000 services stays a screenful or two: at most
    /// `SUMMARY_VIP_ROWS` VIP rows, the VIP with a failing server among them. Mutation: drop
    /// the `take` and it is 2,000+ lines.
    #[test]
    fn the_summary_of_a_large_table_is_bounded_and_shows_the_failing_vip_first() {
        let text = render_summary(&big_summary(), Some("10000 services (more than 1000)"));
        let lines = text.lines().count();
        assert!(
            lines <= 20 + SUMMARY_VIP_ROWS + 15,
            "{lines} lines:\n{text}"
        );
        assert!(
            text.starts_with("10000 services (more than 1000)\n"),
            "{text}"
        );
        assert!(
            text.contains("services: 10000 (0 not in the kernel, 0 leaving)"),
            "{text}"
        );
        assert!(
            text.contains("real servers: 100000 (100000 active, 0 terminating"),
            "{text}"
        );
        assert!(text.contains("health: 0 healthy, 1 failing"), "{text}");
        assert!(text.contains("... and 10 more problems"), "{text}");
        assert!(text.contains("2000 VIP(s):"), "{text}");
        assert!(text.contains("... and 1950 more VIPs"), "{text}");
        let first_row = text
            .lines()
            .skip_while(|l| !l.contains("REAL SERVERS"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            first_row.trim_start().starts_with("10.0.4.235 "),
            "{first_row}"
        );
    }

    /// A fake daemon: answers `/status?summary` with `services` services and anything else
    /// with an empty document; returns its address and the paths asked.
    fn fake_daemon(services: usize) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let body = if path.contains("summary") {
                    let mut summary = StatusSummary::default();
                    summary.counts.services = services;
                    serde_json::to_string(&summary).unwrap()
                } else {
                    serde_json::to_string(&StatusDocument::default()).unwrap()
                };
                let _ = tx.send(path);
                let _ = write!(stream, "HTTP/1.0 200 OK\r\n\r\n{body}");
            }
        });
        (address, rx)
    }

    fn args(extra: &[&str]) -> StatusArgs {
        use clap::Parser;
        let mut argv = vec!["lbctl", "status"];
        argv.extend(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Status(args) => args,
            other => panic!("{other:?}"),
        }
    }

    /// Text shows the summary above 1,000 services, the rows otherwise or with a filter or
    /// `--all`; JSON is always the document unless `--summary`. Mutation: compare with `>=`
    /// 0 (always summarize) and the small table loses its rows.
    #[test]
    fn the_summary_is_chosen_for_large_tables_and_filters_go_to_the_query() {
        let timeout = Duration::from_secs(5);
        let (big, asked) = fake_daemon(AUTO_SUMMARY_SERVICES + 1);
        match fetch(big, &args(&[]), timeout).unwrap() {
            Fetched::Summary {
                note: Some(note), ..
            } => {
                assert!(
                    note.contains("1001 services") && note.contains("--all"),
                    "{note}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(asked.try_iter().collect::<Vec<_>>(), ["/status?summary"]);
        for (flags, path) in [
            (&["--all"][..], "/status"),
            (&["-o", "json"][..], "/status"),
            (&["--vip", "10.0.0.1"][..], "/status?vip=10.0.0.1"),
            (
                &["--service", "shop/web:http"][..],
                "/status?service=shop/web:http",
            ),
            (&["--key", "10.0.0.1-80"][..], "/status?key=10.0.0.1-80"),
        ] {
            let fetched = fetch(big, &args(flags), timeout).unwrap();
            assert!(matches!(fetched, Fetched::Document(_)), "{flags:?}");
            assert_eq!(asked.try_iter().collect::<Vec<_>>(), [path], "{flags:?}");
        }
        let fetched = fetch(big, &args(&["--summary", "--vip", "10.0.0.1"]), timeout).unwrap();
        assert!(matches!(fetched, Fetched::Summary { note: None, .. }));
        assert_eq!(
            asked.try_iter().collect::<Vec<_>>(),
            ["/status?vip=10.0.0.1&summary"]
        );

        let (small, asked) = fake_daemon(AUTO_SUMMARY_SERVICES);
        let fetched = fetch(small, &args(&[]), timeout).unwrap();
        assert!(matches!(fetched, Fetched::Document(_)));
        assert_eq!(
            asked.try_iter().collect::<Vec<_>>(),
            ["/status?summary", "/status"]
        );
    }

    #[test]
    fn bad_filter_flags_are_refused_naming_them() {
        use clap::Parser;
        let err = crate::cli::Cli::try_parse_from(["lbctl", "status", "--service", "web"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--service") && err.contains("expected NAMESPACE/NAME"),
            "{err}"
        );
        let err = crate::cli::Cli::try_parse_from(["lbctl", "status", "--vip", "10.0.0.300"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--vip"), "{err}");
    }

    /// `--timeout` bounds each fetch (and so each `--watch` refresh): a daemon that accepts
    /// but never answers costs the timeout, not forever. Mutation: pass a fixed 5 s to
    /// `http_get` and this takes 5 s.
    #[test]
    fn a_silent_daemon_costs_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let started = std::time::Instant::now();
        let err = fetch(address, &args(&[]), Duration::from_millis(300)).unwrap_err();
        assert!(
            format!("{err:#}").contains("no complete answer in time"),
            "{err:#}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(listener);
    }

    #[test]
    fn weight_shows_pending_changes() {
        assert_eq!(weight_text(Some(1), Some(1)), "1");
        assert_eq!(weight_text(Some(0), Some(1)), "1 (want 0)");
        assert_eq!(weight_text(Some(2), None), "- (want 2)");
    }
}
