//! Command line of `flow-traffic` (pure: words in, options or a message out).

use std::net::SocketAddr;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Greet with `name`, then echo every line, on every connection to `listen`.
    Serve {
        /// Address to listen on.
        listen: SocketAddr,
        /// The greeting: the real server's name, which the client counts per connection.
        name: String,
    },
    /// Hold flows to `target` for `duration` and print the summary.
    Client(ClientOptions),
    /// Answer every UDP datagram to `listen` with `name` (see [`super::message`]).
    UdpServe {
        /// Address to bind.
        listen: SocketAddr,
        /// The name every answer carries: the real server's.
        name: String,
    },
    /// Send datagrams from one UDP socket (one flow) and print who answered each.
    UdpClient(ProbeOptions),
    /// Answer every message of every SCTP association to `listen` with `name`.
    SctpServe {
        /// Address to bind.
        listen: SocketAddr,
        /// The name every answer carries: the real server's.
        name: String,
    },
    /// Send messages over one SCTP association and print who answered each.
    SctpClient(ProbeOptions),
}

/// The knobs of `udp-client` and `sctp-client`: `count` messages over one socket, each
/// answered within `timeout`, so a run ends within `count * (interval + timeout)` (plus the
/// SCTP connect, bounded by `timeout` too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// The VIP and port.
    pub target: SocketAddr,
    /// Local port to send from; 0: one the kernel picks. The same port in two runs is the
    /// same UDP flow for IPVS (as long as its connection entry lives).
    pub source_port: u16,
    /// Messages to send (at least 1).
    pub count: u32,
    /// Time between an answer and the next message.
    pub interval: Duration,
    /// A message not answered within this time fails the run (also the SCTP connect bound).
    pub timeout: Duration,
}

/// The client's knobs; every loop they drive ends by `duration` plus the timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The VIP and port.
    pub target: SocketAddr,
    /// Long-lived connections to hold.
    pub conns: u32,
    /// Time between two lines on one connection.
    pub interval: Duration,
    /// How long the run lasts (from the start of the ramp).
    pub duration: Duration,
    /// A line not echoed within this time loses its connection.
    pub line_timeout: Duration,
    /// Bound of a connect plus greeting.
    pub connect_timeout: Duration,
    /// Time between two new short connections; `None`: no new connections.
    pub new_every: Option<Duration>,
    /// Time over which the long-lived connections are opened (spread evenly).
    pub ramp: Duration,
}

/// The usage text, printed with every parse error.
pub const USAGE: &str = "usage: flow-traffic serve --listen ADDR:PORT --name NAME\n       \
flow-traffic client --target ADDR:PORT [--conns 200] [--interval-ms 100] [--duration-secs 30] \
[--line-timeout-secs 10] [--connect-timeout-secs 5] [--new-every-ms 200 (0: none)] [--ramp-ms 2000]
       flow-traffic udp-serve|sctp-serve --listen ADDR:PORT --name NAME
       flow-traffic udp-client|sctp-client --target ADDR:PORT [--source-port 0 (0: any)] \
[--count 1] [--interval-ms 200] [--timeout-ms 2000]";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let (mode, rest) = args
        .split_first()
        .ok_or("missing mode (serve, client, udp-serve, udp-client, sctp-serve, sctp-client)")?;
    let mut pairs = Vec::new();
    let mut it = rest.iter();
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
        pairs.push((key.as_str(), value.as_str()));
    }
    match mode.as_str() {
        "serve" => {
            let (listen, name) = listen_and_name(mode, &pairs)?;
            Ok(Command::Serve { listen, name })
        }
        "udp-serve" => {
            let (listen, name) = listen_and_name(mode, &pairs)?;
            Ok(Command::UdpServe { listen, name })
        }
        "sctp-serve" => {
            let (listen, name) = listen_and_name(mode, &pairs)?;
            Ok(Command::SctpServe { listen, name })
        }
        "udp-client" => Ok(Command::UdpClient(probe(mode, &pairs)?)),
        "sctp-client" => Ok(Command::SctpClient(probe(mode, &pairs)?)),
        "client" => {
            let mut target = None;
            let mut o = ClientOptions {
                target: SocketAddr::from(([0, 0, 0, 0], 0)),
                conns: 200,
                interval: Duration::from_millis(100),
                duration: Duration::from_secs(30),
                line_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                new_every: Some(Duration::from_millis(200)),
                ramp: Duration::from_millis(2000),
            };
            for (key, value) in pairs {
                match key {
                    "--target" => target = Some(addr(key, value)?),
                    "--conns" => o.conns = number(key, value)?,
                    "--interval-ms" => o.interval = millis(key, value, 1)?,
                    "--duration-secs" => o.duration = Duration::from_secs(number(key, value)?),
                    "--line-timeout-secs" => {
                        o.line_timeout = Duration::from_secs(number::<u64>(key, value)?.max(1));
                    }
                    "--connect-timeout-secs" => {
                        o.connect_timeout = Duration::from_secs(number::<u64>(key, value)?.max(1));
                    }
                    "--new-every-ms" => {
                        let ms: u64 = number(key, value)?;
                        o.new_every = (ms > 0).then(|| Duration::from_millis(ms));
                    }
                    "--ramp-ms" => o.ramp = millis(key, value, 0)?,
                    _ => return Err(format!("unknown option {key} for client")),
                }
            }
            o.target = target.ok_or("client needs --target")?;
            if o.conns == 0 && o.new_every.is_none() {
                return Err("nothing to do: --conns 0 and --new-every-ms 0".to_owned());
            }
            Ok(Command::Client(o))
        }
        other => Err(format!(
            "unknown mode {other} (expected serve, client, udp-serve, udp-client, sctp-serve or \
             sctp-client)"
        )),
    }
}

/// `--listen` and `--name` of the serve modes; the name must be one word (the clients print
/// it as a line, the scenarios compare it).
fn listen_and_name(mode: &str, pairs: &[(&str, &str)]) -> Result<(SocketAddr, String), String> {
    let mut listen = None;
    let mut name = None;
    for &(key, value) in pairs {
        match key {
            "--listen" => listen = Some(addr(key, value)?),
            "--name" => name = Some(value.to_owned()),
            _ => return Err(format!("unknown option {key} for {mode}")),
        }
    }
    let name = name.ok_or_else(|| format!("{mode} needs --name"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err("--name must be one non-empty word".to_owned());
    }
    Ok((
        listen.ok_or_else(|| format!("{mode} needs --listen"))?,
        name,
    ))
}

/// The options of `udp-client` and `sctp-client`.
fn probe(mode: &str, pairs: &[(&str, &str)]) -> Result<ProbeOptions, String> {
    let mut target = None;
    let mut o = ProbeOptions {
        target: SocketAddr::from(([0, 0, 0, 0], 0)),
        source_port: 0,
        count: 1,
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(2000),
    };
    for &(key, value) in pairs {
        match key {
            "--target" => target = Some(addr(key, value)?),
            "--source-port" => o.source_port = number(key, value)?,
            "--count" => {
                o.count = number(key, value)?;
                if o.count == 0 {
                    return Err(format!("{key}: expected at least 1"));
                }
            }
            "--interval-ms" => o.interval = millis(key, value, 0)?,
            "--timeout-ms" => o.timeout = millis(key, value, 1)?,
            _ => return Err(format!("unknown option {key} for {mode}")),
        }
    }
    o.target = target.ok_or_else(|| format!("{mode} needs --target"))?;
    Ok(o)
}

fn addr(key: &str, value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|e| format!("{key}: {value:?} is not ADDR:PORT ({e})"))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{key}: {value:?} is not a number"))
}

fn millis(key: &str, value: &str, min: u64) -> Result<Duration, String> {
    let ms: u64 = number(key, value)?;
    if ms < min {
        return Err(format!("{key}: expected at least {min}"));
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn client_defaults_and_overrides() {
        let Ok(Command::Client(o)) = parse(&words(
            "client --target 10.0.0.101:7000 --conns 20 --duration-secs 5 --new-every-ms 0",
        )) else {
            panic!("expected a client");
        };
        assert_eq!(o.target, "10.0.0.101:7000".parse().unwrap());
        assert_eq!(o.conns, 20);
        assert_eq!(o.duration, Duration::from_secs(5));
        assert_eq!(o.interval, Duration::from_millis(100));
        assert_eq!(o.line_timeout, Duration::from_secs(10));
        assert_eq!(o.new_every, None);
    }

    #[test]
    fn serve_needs_a_name_word() {
        assert_eq!(
            parse(&words("serve --listen 0.0.0.0:7000 --name rs1")),
            Ok(Command::Serve {
                listen: "0.0.0.0:7000".parse().unwrap(),
                name: "rs1".to_owned()
            })
        );
        assert!(parse(&words("serve --listen 0.0.0.0:7000")).is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse(&[]).unwrap_err().contains("missing mode"));
        assert!(parse(&words("client")).unwrap_err().contains("--target"));
        assert!(
            parse(&words("client --target 1.2.3.4:5 --conns x"))
                .unwrap_err()
                .contains("--conns")
        );
        assert!(
            parse(&words("client --target 1.2.3.4:5 --conns"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse(&words("client --target 1.2.3.4:5 --interval-ms 0"))
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            parse(&words(
                "client --target 1.2.3.4:5 --conns 0 --new-every-ms 0"
            ))
            .unwrap_err()
            .contains("nothing to do")
        );
        assert!(parse(&words("dance")).unwrap_err().contains("unknown mode"));
    }

    #[test]
    fn datagram_servers_take_listen_and_name() {
        assert_eq!(
            parse(&words("udp-serve --listen 0.0.0.0:5353 --name rs1")),
            Ok(Command::UdpServe {
                listen: "0.0.0.0:5353".parse().unwrap(),
                name: "rs1".to_owned()
            })
        );
        assert_eq!(
            parse(&words("sctp-serve --name rs2 --listen 0.0.0.0:5000")),
            Ok(Command::SctpServe {
                listen: "0.0.0.0:5000".parse().unwrap(),
                name: "rs2".to_owned()
            })
        );
        assert!(
            parse(&words("udp-serve --listen 0.0.0.0:5353"))
                .unwrap_err()
                .contains("udp-serve needs --name")
        );
        assert!(
            parse(&words("sctp-serve --name rs1"))
                .unwrap_err()
                .contains("sctp-serve needs --listen")
        );
        assert!(
            parse(&words("udp-serve --listen 0.0.0.0:1 --name a --conns 2"))
                .unwrap_err()
                .contains("unknown option --conns for udp-serve")
        );
    }

    #[test]
    fn probe_defaults_and_overrides() {
        let Ok(Command::UdpClient(o)) = parse(&words("udp-client --target 10.0.0.100:5353")) else {
            panic!("expected a udp client");
        };
        assert_eq!(
            o,
            ProbeOptions {
                target: "10.0.0.100:5353".parse().unwrap(),
                source_port: 0,
                count: 1,
                interval: Duration::from_millis(200),
                timeout: Duration::from_millis(2000),
            }
        );
        let Ok(Command::SctpClient(o)) = parse(&words(
            "sctp-client --target 10.0.0.100:5000 --source-port 40001 --count 5 --interval-ms 0 \
             --timeout-ms 700",
        )) else {
            panic!("expected an sctp client");
        };
        assert_eq!(o.source_port, 40001);
        assert_eq!(o.count, 5);
        assert_eq!(o.interval, Duration::ZERO);
        assert_eq!(o.timeout, Duration::from_millis(700));
    }

    #[test]
    fn probe_errors_name_the_problem() {
        assert!(
            parse(&words("udp-client"))
                .unwrap_err()
                .contains("udp-client needs --target")
        );
        assert!(
            parse(&words("udp-client --target 1.2.3.4:5 --count 0"))
                .unwrap_err()
                .contains("--count: expected at least 1")
        );
        assert!(
            parse(&words("udp-client --target 1.2.3.4:5 --timeout-ms 0"))
                .unwrap_err()
                .contains("--timeout-ms: expected at least 1")
        );
        assert!(
            parse(&words("sctp-client --target 1.2.3.4:5 --source-port 70000"))
                .unwrap_err()
                .contains("--source-port")
        );
        assert!(
            parse(&words("sctp-client --target 1.2.3.4:5 --conns 3"))
                .unwrap_err()
                .contains("unknown option --conns for sctp-client")
        );
    }
}
