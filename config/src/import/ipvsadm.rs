//! `ipvsadm -Sn` (`--save --numeric`) text -> [`ImportedTable`].
//!
//! The grammar is ipvsadm's command line, one command per line: `-A -t|-u|--sctp-service
//! VIP:PORT -s SCHED [-b FLAGS] [-p [TIMEOUT]] [-M NETMASK] [-o] [--pe NAME]` for a service,
//! `-a ... -r RS:PORT -g|-i|-m [-w W] [-x U] [-y L] [--tun-type T] [--tun-port P]` for a real
//! server, `-f FWMARK` in place of the protocol option; IPv6 addresses in brackets. Long
//! option spellings are read too. Anything else is an error naming the line.

use std::net::IpAddr;

use super::source::SourcePos;
use super::table::{ImportError, ImportedRealServer, ImportedService, ImportedTable, Note};
use crate::model::{
    ForwardMethod, Persistence, Protocol, RealServerKey, Scheduler, SchedulerFlags, ServiceKey,
    TunnelType,
};

/// ipvsadm's timeout of `-p` without a value.
const DEFAULT_PERSISTENCE_SECS: u32 = 300;

/// Parses `ipvsadm -Sn` output; `file` names the input in positions (`-` for stdin).
pub fn parse_ipvsadm_save(
    file: &str,
    text: &str,
) -> Result<(ImportedTable, Vec<Note>), ImportError> {
    let mut table = ImportedTable::default();
    let mut notes = Vec::new();
    // The first real-server line, and whether any line carried a threshold.
    let mut first_real_server: Option<SourcePos> = None;
    let mut saw_threshold = false;
    for (index, line) in text.lines().enumerate() {
        let pos = SourcePos::new(file, u32::try_from(index + 1).unwrap_or(u32::MAX));
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let command = Command::read(&pos, &words)?;
        match command.service {
            ServiceId::Fwmark(mark) => {
                notes.push(Note::table_change(
                    &pos,
                    format!(
                        "firewall-mark service {mark}: lbctl programs services by VIP, protocol \
                         and port only"
                    ),
                ));
            }
            ServiceId::Addr(key) if command.add_service => {
                table.add_service(command.into_service(&pos, key, &mut notes)?)?;
            }
            ServiceId::Addr(key) => {
                first_real_server.get_or_insert_with(|| pos.clone());
                saw_threshold |= command.upper.is_some() || command.lower.is_some();
                let Some(service) = table.services.get_mut(&key) else {
                    return Err(ImportError::syntax(
                        &pos,
                        format!("real server for {key}, which no -A line above defines"),
                    ));
                };
                let rs = command.into_real_server(&pos, service, &mut notes)?;
                service.add_real_server(rs)?;
            }
        }
    }
    if let (Some(pos), false) = (first_real_server, saw_threshold) {
        notes.push(Note::not_carried(
            &pos,
            "ipvsadm -Sn does not save connection thresholds (-x, -y): if real servers have \
             them (ipvsadm -Ln --thresholds), add upper-threshold= and lower-threshold= to the \
             ConfigMap; lbctl diff shows what differs",
        ));
    }
    Ok((table, notes))
}

enum ServiceId {
    Addr(ServiceKey),
    Fwmark(u32),
}

/// One line's options, before they are checked against the kind of line.
struct Command {
    add_service: bool,
    service: ServiceId,
    scheduler: Option<Scheduler>,
    flags: Vec<String>,
    persistence: Option<u32>,
    netmask: Option<String>,
    one_packet: bool,
    persistence_engine: Option<String>,
    real_server: Option<(IpAddr, u16)>,
    forward: Option<ForwardMethod>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    tun_type: Option<String>,
    tun_port: Option<u16>,
    tun_flags: Vec<String>,
}

impl Command {
    fn read(pos: &SourcePos, words: &[&str]) -> Result<Command, ImportError> {
        let add_service = match words.first() {
            Some(&("-A" | "--add-service")) => true,
            Some(&("-a" | "--add-server")) => false,
            other => {
                return Err(ImportError::syntax(
                    pos,
                    format!(
                        "expected -A (a service) or -a (a real server) as in `ipvsadm -Sn` \
                         output, found {:?}",
                        other.unwrap_or(&"")
                    ),
                ));
            }
        };
        let mut service = None;
        let mut cmd = Command {
            add_service,
            service: ServiceId::Fwmark(0),
            scheduler: None,
            flags: Vec::new(),
            persistence: None,
            netmask: None,
            one_packet: false,
            persistence_engine: None,
            real_server: None,
            forward: None,
            weight: None,
            upper: None,
            lower: None,
            tun_type: None,
            tun_port: None,
            tun_flags: Vec::new(),
        };
        let mut i = 1;
        while i < words.len() {
            let option = words[i];
            let value = words.get(i + 1).copied();
            let mut take = || {
                i += 1;
                value.ok_or_else(|| {
                    ImportError::syntax(pos, format!("option {option} needs a value"))
                })
            };
            match option {
                "-t" | "--tcp-service" => {
                    service = Some(service_addr(pos, take()?, Protocol::Tcp)?)
                }
                "-u" | "--udp-service" => {
                    service = Some(service_addr(pos, take()?, Protocol::Udp)?)
                }
                "--sctp-service" => service = Some(service_addr(pos, take()?, Protocol::Sctp)?),
                "-f" | "--fwmark-service" => {
                    service = Some(ServiceId::Fwmark(number(pos, option, take()?)?));
                }
                "-s" | "--scheduler" => {
                    let name = take()?;
                    cmd.scheduler = Some(
                        name.parse()
                            .map_err(|e: String| ImportError::syntax(pos, e))?,
                    );
                }
                "-b" | "--sched-flags" => {
                    cmd.flags = take()?.split(',').map(str::to_owned).collect();
                }
                "-p" | "--persistent" => {
                    // The timeout is optional: the next word is it when it does not start with '-'.
                    cmd.persistence = Some(match value.filter(|v| !v.starts_with('-')) {
                        Some(v) => {
                            i += 1;
                            match number(pos, option, v)? {
                                0 => {
                                    return Err(ImportError::syntax(
                                        pos,
                                        "option -p: expected a timeout of 1 or more seconds",
                                    ));
                                }
                                n => n,
                            }
                        }
                        None => DEFAULT_PERSISTENCE_SECS,
                    });
                }
                "-M" | "--netmask" => cmd.netmask = Some(take()?.to_owned()),
                "-o" | "--ops" => cmd.one_packet = true,
                "--pe" => cmd.persistence_engine = Some(take()?.to_owned()),
                "-r" | "--real-server" => cmd.real_server = Some(socket(pos, take()?)?),
                "-g" | "--gatewaying" => cmd.forward = Some(ForwardMethod::Dr),
                "-i" | "--ipip" => cmd.forward = Some(ForwardMethod::Tunnel),
                "-m" | "--masquerading" => cmd.forward = Some(ForwardMethod::Nat),
                "-w" | "--weight" => cmd.weight = Some(number(pos, option, take()?)?),
                "-x" | "--u-threshold" => cmd.upper = Some(number(pos, option, take()?)?),
                "-y" | "--l-threshold" => cmd.lower = Some(number(pos, option, take()?)?),
                "--tun-type" => cmd.tun_type = Some(take()?.to_owned()),
                "--tun-port" => cmd.tun_port = Some(number(pos, option, take()?)?),
                "--tun-nocsum" | "--tun-csum" | "--tun-remcsum" => {
                    cmd.tun_flags.push(option.to_owned());
                }
                other => {
                    return Err(ImportError::syntax(
                        pos,
                        format!("unknown ipvsadm option {other:?}"),
                    ));
                }
            }
            i += 1;
        }
        cmd.service = service.ok_or_else(|| {
            ImportError::syntax(pos, "no service: expected -t, -u, --sctp-service or -f")
        })?;
        Ok(cmd)
    }

    fn into_service(
        self,
        pos: &SourcePos,
        key: ServiceKey,
        notes: &mut Vec<Note>,
    ) -> Result<ImportedService, ImportError> {
        if self.real_server.is_some() {
            return Err(ImportError::syntax(pos, "-r belongs to -a lines, not -A"));
        }
        // ipvsadm's default scheduler.
        let scheduler = self.scheduler.unwrap_or(Scheduler::Wlc);
        let scheduler_flags = scheduler_flags(pos, scheduler, &self.flags, notes);
        let persistence = match self.persistence {
            None => {
                if self.netmask.is_some() {
                    notes.push(Note::not_carried(
                        pos,
                        "-M without -p means nothing; left out",
                    ));
                }
                None
            }
            Some(timeout_secs) => Some(Persistence {
                timeout_secs,
                prefix_len: netmask_prefix(pos, key.vip, self.netmask.as_deref())?,
            }),
        };
        if self.one_packet {
            notes.push(Note::table_change(
                pos,
                format!("{key}: one-packet scheduling (-o): lbctl does not program it"),
            ));
        }
        if let Some(pe) = &self.persistence_engine {
            notes.push(Note::table_change(
                pos,
                format!("{key}: persistence engine {pe:?} (--pe): lbctl does not program it"),
            ));
        }
        Ok(ImportedService {
            key,
            pos: pos.clone(),
            scheduler,
            scheduler_flags,
            persistence,
            // Set from the first real server; NAT until then.
            forward: ForwardMethod::Nat,
            tunnel: None,
            check: None,
            real_servers: Default::default(),
        })
    }

    fn into_real_server(
        self,
        pos: &SourcePos,
        service: &mut ImportedService,
        notes: &mut Vec<Note>,
    ) -> Result<ImportedRealServer, ImportError> {
        let (addr, port) = self
            .real_server
            .ok_or_else(|| ImportError::syntax(pos, "an -a line needs -r ADDR:PORT"))?;
        // ipvsadm's default forwarding method is direct routing.
        let forward = self.forward.unwrap_or(ForwardMethod::Dr);
        let tunnel = match (forward, self.tun_type.as_deref()) {
            (ForwardMethod::Tunnel, None | Some("ipip")) => Some(TunnelType::Ipip),
            (ForwardMethod::Tunnel, Some("gre")) => Some(TunnelType::Gre),
            (ForwardMethod::Tunnel, Some("gue")) => Some(TunnelType::Gue {
                port: self
                    .tun_port
                    .ok_or_else(|| ImportError::syntax(pos, "--tun-type gue needs --tun-port"))?,
            }),
            (ForwardMethod::Tunnel, Some(other)) => {
                return Err(ImportError::syntax(
                    pos,
                    format!("unknown tunnel type {other:?}, expected ipip, gue or gre"),
                ));
            }
            _ => None,
        };
        if !self.tun_flags.is_empty() {
            notes.push(Note::table_change(
                pos,
                format!(
                    "tunnel checksum options {}: lbctl does not program them",
                    self.tun_flags.join(" ")
                ),
            ));
        }
        if service.real_servers.is_empty() {
            service.forward = forward;
            service.tunnel = tunnel;
        } else if service.forward != forward || service.tunnel != tunnel {
            notes.push(Note::table_change(
                pos,
                format!(
                    "real server {}: its forwarding method differs from the service's first \
                     real server; lbctl uses one method per service ({})",
                    RealServerKey { addr, port },
                    service.forward
                ),
            ));
        }
        let port = if service.forward.rewrites_port() || port == service.key.port {
            port
        } else {
            notes.push(Note::table_change(
                pos,
                format!(
                    "real server port {port} differs from the virtual port {}; with method={} \
                     lbctl forwards to the virtual port",
                    service.key.port, service.forward
                ),
            ));
            service.key.port
        };
        Ok(ImportedRealServer {
            key: RealServerKey { addr, port },
            pos: pos.clone(),
            weight: self.weight.unwrap_or(1),
            upper_threshold: self.upper.unwrap_or(0),
            lower_threshold: self.lower.unwrap_or(0),
        })
    }
}

/// `sh-fallback`, `mh-port`, `flag-1`... for the hashing schedulers; a flag lbctl cannot
/// program is a note.
pub(super) fn scheduler_flags(
    pos: &SourcePos,
    scheduler: Scheduler,
    flags: &[String],
    notes: &mut Vec<Note>,
) -> SchedulerFlags {
    let mut out = SchedulerFlags::default();
    for flag in flags.iter().filter(|f| !f.is_empty()) {
        let hashing = scheduler.takes_hash_flags();
        let name = flag.as_str();
        let fallback = [format!("{scheduler}-fallback"), "flag-1".to_owned()];
        let port = [format!("{scheduler}-port"), "flag-2".to_owned()];
        if hashing && fallback.iter().any(|f| f == name) {
            out.fallback = true;
        } else if hashing && port.iter().any(|f| f == name) {
            out.port = true;
        } else {
            notes.push(Note::table_change(
                pos,
                format!(
                    "scheduler flag {name:?} with scheduler {scheduler}: lbctl does not program it"
                ),
            ));
        }
    }
    out
}

fn service_addr(pos: &SourcePos, text: &str, protocol: Protocol) -> Result<ServiceId, ImportError> {
    let (vip, port) = socket(pos, text)?;
    Ok(ServiceId::Addr(ServiceKey {
        vip,
        protocol,
        port,
    }))
}

/// `198.51.100.1:80` or `[2001:db8::1]:80`.
pub(super) fn socket(pos: &SourcePos, text: &str) -> Result<(IpAddr, u16), ImportError> {
    let parsed = match text.strip_prefix('[') {
        Some(rest) => rest
            .split_once("]:")
            .and_then(|(a, p)| Some((a.parse().ok()?, p.parse().ok()?))),
        None => text.rsplit_once(':').and_then(|(a, p)| {
            Some((
                a.parse::<std::net::Ipv4Addr>().ok()?.into(),
                p.parse().ok()?,
            ))
        }),
    };
    parsed.ok_or_else(|| {
        ImportError::syntax(
            pos,
            format!(
                "expected ADDR:PORT (198.51.100.1:80, [2001:db8::1]:80) with numbers, found \
                 {text:?} (save with `ipvsadm -Sn`: -n keeps addresses and ports numeric)"
            ),
        )
    })
}

fn number<T: std::str::FromStr>(
    pos: &SourcePos,
    option: &str,
    text: &str,
) -> Result<T, ImportError> {
    text.parse().map_err(|_| {
        ImportError::syntax(
            pos,
            format!("option {option}: expected a number, found {text:?}"),
        )
    })
}

/// The prefix length of a persistence netmask (`255.255.255.0` for IPv4, `64` for IPv6);
/// `None` for a whole address (/32, /128).
fn netmask_prefix(
    pos: &SourcePos,
    vip: IpAddr,
    mask: Option<&str>,
) -> Result<Option<u8>, ImportError> {
    let Some(mask) = mask else {
        return Ok(None);
    };
    let bad = || {
        ImportError::syntax(
            pos,
            format!(
                "-M {mask}: expected a netmask such as 255.255.255.0 (IPv4) or a prefix length (IPv6)"
            ),
        )
    };
    let prefix = match vip {
        IpAddr::V4(_) => {
            let mask: std::net::Ipv4Addr = mask.parse().map_err(|_| bad())?;
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(bad());
            }
            u8::try_from(bits.leading_ones()).map_err(|_| bad())?
        }
        IpAddr::V6(_) => {
            let prefix: u8 = mask.trim_start_matches('/').parse().map_err(|_| bad())?;
            if prefix > 128 {
                return Err(bad());
            }
            prefix
        }
    };
    Ok(match (vip, prefix) {
        (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128) => None,
        _ => Some(prefix),
    })
}

/// The same for keepalived's `persistence_granularity` (shared spelling rules).
pub(super) fn granularity_prefix(
    pos: &SourcePos,
    vip: IpAddr,
    mask: &str,
) -> Result<Option<u8>, ImportError> {
    netmask_prefix(pos, vip, Some(mask))
}
