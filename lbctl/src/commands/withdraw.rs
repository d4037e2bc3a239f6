//! `lbctl withdraw [--undo] [--vip VIP]` (former name, still accepted: `lbctl drain`):
//! withdraws every BGP route of a running daemon for maintenance, or only one VIP's (the
//! sessions stay up and IPVS keeps forwarding), or announces them again. `--undo` without
//! `--vip` ends every withdrawal.
//!
//! Talks to the daemon's `POST /withdraw` on its Unix control socket (mode 0600: root and the
//! daemon's user; never over TCP), then waits until `/status` shows the switch applied (when
//! withdrawing: every established session down to 0 prefixes, or the VIP's prefix gone from
//! what is announced) and prints the BGP part of the status.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::commands::status::timeout_arg;
use lb_controller::client::{DaemonEndpoint, request};
use lb_controller::daemon::StatusSummary;
use lb_controller::files::load_settings;

/// How long to wait for the daemon to report the withdrawal as applied.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `lbctl withdraw`.
#[derive(Debug, Args)]
pub(crate) struct WithdrawArgs {
    /// End the withdrawal: announce the healthy VIPs again.
    #[arg(long)]
    pub(crate) undo: bool,
    /// Only this VIP (its route is withdrawn; the other VIPs stay announced).
    #[arg(long, value_name = "VIP")]
    pub(crate) vip: Option<IpAddr>,
    /// The daemon's control socket (default: the settings' http.control_socket).
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
    /// Settings file, to find http.control_socket.
    #[arg(long, short = 's', value_name = "FILE", env = "LBCTL_SETTINGS")]
    pub(crate) settings: Option<PathBuf>,
    /// Give up on one request after SECS seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub(crate) timeout: f64,
}

/// Switches the withdrawal; exit code 0 once the daemon reports it applied.
pub(crate) fn run(args: &WithdrawArgs) -> Result<i32> {
    let timeout = timeout_arg(args.timeout)?;
    let socket = match &args.socket {
        Some(path) => path.clone(),
        None => load_settings(args.settings.as_deref())?.http.control_socket,
    };
    let daemon = DaemonEndpoint::Control(socket);
    let mut query = Vec::new();
    if args.undo {
        query.push("undo".to_owned());
    }
    if let Some(vip) = args.vip {
        query.push(format!("vip={vip}"));
    }
    let path = if query.is_empty() {
        "/withdraw".to_owned()
    } else {
        format!("/withdraw?{}", query.join("&"))
    };
    let answer = request(&daemon, "POST", &path, timeout)?;
    print!("{answer}");
    let want = !args.undo;
    let deadline = Instant::now() + APPLY_TIMEOUT;
    loop {
        // The summary carries the BGP part without the per-real-server rows.
        let body = request(&daemon, "GET", "/status?summary", timeout)?;
        let summary: StatusSummary = serde_json::from_str(&body)
            .with_context(|| format!("{daemon}/status?summary did not return a status summary"))?;
        let Some(bgp) = summary.bgp else {
            bail!("the daemon at {daemon} reports no BGP announcer");
        };
        let applied = match args.vip {
            Some(vip) => {
                let prefix = format!("{vip}/");
                let announced = bgp.announced.iter().any(|p| p.starts_with(&prefix));
                bgp.withdrawn_vips.contains(&vip) == want && !(want && announced)
            }
            None => {
                let withdrawn = bgp
                    .peers
                    .iter()
                    .filter(|p| p.state == "established")
                    .all(|p| p.announced_prefixes == 0);
                bgp.withdrawn_all == want && (!want || withdrawn)
            }
        };
        if applied {
            print!("{}", lb_controller::bgp::render_status(&bgp));
            if let (Some(vip), true) = (args.vip, want) {
                warn_if_covered(vip, &bgp.announced);
            }
            return Ok(0);
        }
        if Instant::now() > deadline {
            bail!(
                "the daemon accepted the withdraw switch but did not apply it within {} s",
                APPLY_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Aggregate mode announces ranges, not VIPs: a withdrawn VIP inside an announced range still
/// draws traffic here, which the operator must know.
fn warn_if_covered(vip: IpAddr, announced: &[String]) {
    for range in covering(vip, announced) {
        eprintln!(
            "warning: {vip} is inside the announced range {range} (aggregate mode): routers \
             still send its traffic here; withdraw the whole director instead"
        );
    }
}

/// The announced prefixes (other than the VIP's own) that contain `vip`.
fn covering(vip: IpAddr, announced: &[String]) -> Vec<String> {
    announced
        .iter()
        .filter_map(|p| p.parse::<ipnetwork::IpNetwork>().ok().map(|net| (p, net)))
        .filter(|(_, net)| {
            let host = if vip.is_ipv4() { 32 } else { 128 };
            net.contains(vip) && net.prefix() < host
        })
        .map(|(p, _)| p.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::covering;

    #[test]
    fn only_wider_prefixes_cover_a_vip() {
        let announced = [
            "10.0.0.96/28".to_owned(),
            "10.0.0.100/32".to_owned(),
            "2001:db8::/64".to_owned(),
        ];
        let vip = "10.0.0.100".parse().unwrap();
        assert_eq!(covering(vip, &announced), ["10.0.0.96/28"]);
        assert!(covering("10.0.1.1".parse().unwrap(), &announced).is_empty());
    }
}
