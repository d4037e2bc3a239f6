//! A tiny CLI around the speaker, for interop tests and manual experiments.
//!
//! ```text
//! announce --local-as 65001 --router-id 192.0.2.1 \
//!     --peer 127.0.0.2,65002,port=1179 --prefix 10.0.0.1/32 --med 10
//! ```
//! Then type commands on stdin (one per line):
//! `announce PREFIX [med=N] [community=A:B]...`, `withdraw PREFIX`, `withdraw-all on|off`,
//! `status` (prints one JSON line per peer), `shutdown` (withdraw, Cease, exit),
//! `restart` (close without NOTIFICATION so GR helpers keep the routes, exit).
//! SIGTERM/SIGINT act like `shutdown`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use clap::Parser;
use ipnetwork::IpNetwork;
use lb_bgp_announcer::{
    Announcements, Community, LargeCommunity, Md5Password, PeerConfig, RouteAttributes,
    ShutdownMode, Speaker, SpeakerConfig,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser, Debug)]
#[command(about = "Run the announce-only BGP speaker with peers and prefixes from flags")]
struct Args {
    /// Our AS number.
    #[arg(long)]
    local_as: u32,
    /// Our BGP identifier.
    #[arg(long)]
    router_id: Ipv4Addr,
    /// A peer: `ADDRESS,AS[,port=N][,passive][,md5=KEY][,local=IP][,hold=S][,nh6=IPV6]`.
    #[arg(long = "peer", required = true)]
    peers: Vec<String>,
    /// Listen address for passive peers.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Prefix to announce from the start (repeatable).
    #[arg(long = "prefix")]
    prefixes: Vec<IpNetwork>,
    /// MED of the prefixes given with --prefix.
    #[arg(long)]
    med: Option<u32>,
    /// Community added to every route (repeatable), e.g. 65000:100.
    #[arg(long = "community")]
    communities: Vec<Community>,
    /// Large community added to every route (repeatable), e.g. 65000:1:2.
    #[arg(long = "large-community")]
    large_communities: Vec<LargeCommunity>,
    /// Hold time to propose.
    #[arg(long, default_value_t = 90)]
    hold_time: u16,
    /// Set the graceful restart R-bit (we just restarted).
    #[arg(long)]
    restarting: bool,
    /// Graceful restart time in seconds.
    #[arg(long, default_value_t = 120)]
    restart_time: u16,
    /// Milliseconds between GRACEFUL_SHUTDOWN tagging and withdrawal on shutdown.
    #[arg(long, default_value_t = 0)]
    shutdown_wait_ms: u64,
    /// Reconnect backoff start in milliseconds.
    #[arg(long, default_value_t = 1000)]
    retry_ms: u64,
}

fn parse_peer(spec: &str, retry_ms: u64) -> Result<PeerConfig> {
    let mut parts = spec.split(',');
    let address: IpAddr = parts
        .next()
        .context("peer address missing")?
        .parse()
        .context("peer address")?;
    let asn: u32 = parts
        .next()
        .context("peer AS missing")?
        .parse()
        .context("peer AS")?;
    let mut peer = PeerConfig::new(address, asn);
    peer.connect_retry_min_ms = retry_ms;
    peer.connect_retry_max_ms = retry_ms.max(8000);
    for option in parts {
        match option.split_once('=') {
            Some(("port", v)) => peer.port = v.parse().context("port")?,
            Some(("md5", v)) => peer.md5_password = Some(Md5Password(v.to_owned())),
            Some(("local", v)) => peer.local_address = Some(v.parse().context("local")?),
            Some(("hold", v)) => peer.hold_time_secs = Some(v.parse().context("hold")?),
            Some(("nh6", v)) => peer.next_hop_v6 = Some(v.parse::<Ipv6Addr>().context("nh6")?),
            None if option == "passive" => peer.passive = true,
            _ => bail!("unknown peer option {option:?}"),
        }
    }
    Ok(peer)
}

fn parse_route(words: &[&str]) -> Result<(IpNetwork, RouteAttributes)> {
    let (prefix, options) = words.split_first().context("prefix missing")?;
    let mut attrs = RouteAttributes::default();
    for option in options {
        match option.split_once('=') {
            Some(("med", v)) => attrs.med = Some(v.parse()?),
            Some(("local_pref", v)) => attrs.local_pref = Some(v.parse()?),
            Some(("community", v)) => {
                attrs.communities.insert(v.parse()?);
            }
            Some(("large_community", v)) => {
                attrs.large_communities.insert(v.parse()?);
            }
            _ => bail!("unknown route option {option:?}"),
        }
    }
    Ok((prefix.parse()?, attrs))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = SpeakerConfig::new(args.local_as, args.router_id);
    config.hold_time_secs = args.hold_time;
    config.listen = args.listen;
    config.graceful_restart.restarting = args.restarting;
    config.graceful_restart.restart_time_secs = args.restart_time;
    config.graceful_shutdown.wait_ms = args.shutdown_wait_ms;
    config.graceful_shutdown.tag_community = args.shutdown_wait_ms > 0;
    config.communities = args.communities.iter().copied().collect();
    config.large_communities = args.large_communities.iter().copied().collect();
    for spec in &args.peers {
        config.peers.push(parse_peer(spec, args.retry_ms)?);
    }
    let handle = Speaker::start(config).await?;
    let mut routes: Announcements = args
        .prefixes
        .iter()
        .map(|p| {
            let attrs = RouteAttributes {
                med: args.med,
                ..RouteAttributes::default()
            };
            (*p, attrs)
        })
        .collect();
    handle.set_announcements(routes.clone());

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mode = loop {
        tokio::select! {
            _ = sigterm.recv() => break ShutdownMode::Withdraw,
            _ = tokio::signal::ctrl_c() => break ShutdownMode::Withdraw,
            line = lines.next_line(), if stdin_open => {
                let Some(line) = line? else {
                    stdin_open = false;
                    continue;
                };
                let words: Vec<&str> = line.split_whitespace().collect();
                let result: Result<Option<ShutdownMode>> = match words.as_slice() {
                    ["announce", rest @ ..] => parse_route(rest).map(|(net, attrs)| {
                        routes.insert(net, attrs);
                        handle.set_announcements(routes.clone());
                        None
                    }),
                    ["withdraw", prefix] => prefix.parse::<IpNetwork>().map_err(Into::into).map(|net| {
                        routes.remove(&net);
                        handle.set_announcements(routes.clone());
                        None
                    }),
                    ["withdraw-all", "on"] => { handle.withdraw_all(true); Ok(None) }
                    ["withdraw-all", "off"] => { handle.withdraw_all(false); Ok(None) }
                    ["status"] => {
                        for status in handle.status() {
                            println!("{}", serde_json::to_string(&status)?);
                        }
                        Ok(None)
                    }
                    ["shutdown"] => Ok(Some(ShutdownMode::Withdraw)),
                    ["restart"] => Ok(Some(ShutdownMode::GracefulRestart)),
                    [] => Ok(None),
                    _ => Err(anyhow::anyhow!("unknown command {line:?}")),
                };
                match result {
                    Ok(Some(mode)) => break mode,
                    Ok(None) => println!("ok"),
                    Err(err) => println!("error: {err:#}"),
                }
            }
        }
    };
    handle.shutdown_with(mode).await;
    println!("bye");
    Ok(())
}
