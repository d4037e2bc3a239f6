//! keepalived.conf (and its `include`s) -> [`ImportedTable`]: the `virtual_server` blocks the
//! checker process programs into IPVS, read with keepalived's defaults (scheduler `wlc`,
//! method NAT, weight 1, protocol TCP, `persistence_timeout` 360 when given without a value).
//!
//! Everything else is listed as a [`Note`] with its `file:line`: VRRP and global sections
//! (not part of the IPVS table), firewall-mark services and sorry servers (the table differs),
//! notification scripts, and keywords this import does not know.

mod checks;
mod syntax;

use std::collections::BTreeMap;
use std::net::IpAddr;

use self::checks::{Inherited, is_checker, map_checkers, number, seconds};
use self::syntax::{Stmt, read_config};
use super::ipvsadm::{granularity_prefix, scheduler_flags};
use super::source::{FileReader, SourcePos};
use super::table::{ImportError, ImportedRealServer, ImportedService, ImportedTable, Note};
use crate::entry::CheckSpec;
use crate::model::{
    ForwardMethod, Persistence, Protocol, RealServerKey, Scheduler, ServiceKey, TunnelType,
};

/// keepalived's `persistence_timeout` without a value (IPVS_SVC_PERSISTENT_TIMEOUT).
const DEFAULT_PERSISTENCE_SECS: u32 = 360;

/// Top-level sections that are not the IPVS table, and what to say about them.
const OTHER_SECTIONS: [(&str, &str); 14] = [
    ("global_defs", "global settings"),
    (
        "vrrp_instance",
        "VRRP: lbctl binds the VIPs on its VIP interface and announces them with BGP (docs/migration.md)",
    ),
    ("vrrp_sync_group", "VRRP"),
    ("vrrp_script", "VRRP"),
    ("vrrp_track_process", "VRRP"),
    ("track_file", "VRRP"),
    ("garp_group", "VRRP"),
    ("static_ipaddress", "addresses"),
    ("static_routes", "routes"),
    ("static_rules", "routing rules"),
    ("linkbeat_interfaces", "interfaces"),
    ("bfd_instance", "BFD"),
    ("SSL", "the SSL_GET client certificate"),
    ("net_namespace", "the namespace keepalived runs in"),
];

/// Parses the keepalived configuration at `path` (reading includes through `files`).
pub fn parse_keepalived(
    path: &str,
    files: &dyn FileReader,
) -> Result<(ImportedTable, Vec<Note>), ImportError> {
    let mut notes = Vec::new();
    let stmts = read_config(path, files, &mut notes)?;
    let mut groups: BTreeMap<&str, &Stmt> = BTreeMap::new();
    for stmt in stmts.iter().filter(|s| s.keyword == "virtual_server_group") {
        groups.insert(stmt.arg("a group name")?, stmt);
    }
    let mut table = ImportedTable::default();
    for stmt in &stmts {
        match stmt.keyword.as_str() {
            "virtual_server" => virtual_server(stmt, &groups, &mut table, &mut notes)?,
            "virtual_server_group" => {}
            other => {
                let what = OTHER_SECTIONS
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map(|(_, what)| format!("{other} ({what}): not part of the IPVS table"))
                    .unwrap_or_else(|| format!("{other}: unknown keyword"));
                notes.push(Note::not_carried(&stmt.pos, what));
            }
        }
    }
    Ok((table, notes))
}

fn virtual_server(
    stmt: &Stmt,
    groups: &BTreeMap<&str, &Stmt>,
    table: &mut ImportedTable,
    notes: &mut Vec<Note>,
) -> Result<(), ImportError> {
    let addrs: Vec<(IpAddr, u16, SourcePos)> = match stmt.args.as_slice() {
        [kind, mark] if kind == "fwmark" => {
            notes.push(Note::table_change(
                &stmt.pos,
                format!(
                    "virtual_server fwmark {mark}: lbctl programs services by VIP, protocol \
                     and port only"
                ),
            ));
            return Ok(());
        }
        [kind, name] if kind == "group" => {
            let group = groups.get(name.as_str()).ok_or_else(|| {
                ImportError::syntax(
                    &stmt.pos,
                    format!("virtual_server group {name}: no virtual_server_group {name}"),
                )
            })?;
            group_members(group, notes)?
        }
        [addr, port] => vec![(
            ip(&stmt.pos, addr)?,
            port_number(&stmt.pos, port)?,
            stmt.pos.clone(),
        )],
        _ => {
            return Err(ImportError::syntax(
                &stmt.pos,
                "expected virtual_server ADDR PORT, virtual_server fwmark N or virtual_server \
                 group NAME",
            ));
        }
    };
    let def = read_virtual_server(stmt, notes)?;
    for (vip, port, pos) in addrs {
        let key = ServiceKey {
            vip,
            protocol: def.protocol,
            port,
        };
        let persistence = match &def.persistence {
            None => None,
            Some((timeout_secs, mask)) => Some(Persistence {
                timeout_secs: *timeout_secs,
                prefix_len: match mask {
                    Some((pos, m)) => granularity_prefix(pos, vip, m)?,
                    None => None,
                },
            }),
        };
        let mut service = ImportedService {
            key,
            pos,
            scheduler: def.scheduler,
            scheduler_flags: def.flags,
            persistence,
            forward: def.forward,
            tunnel: def.tunnel,
            check: None,
            real_servers: BTreeMap::new(),
        };
        let mut checks: Vec<(RealServerKey, SourcePos, Option<CheckSpec>)> = Vec::new();
        for rs in &def.real_servers {
            let Some((server, check, inhibit)) = real_server(rs, &service, &def, notes)? else {
                continue;
            };
            if check.is_some() && !inhibit {
                notes.push(Note::not_carried(
                    &server.pos,
                    format!(
                        "real server {}: keepalived removes it from the table while its check \
                         fails (no inhibit_on_failure); lbctl sets its weight to 0",
                        server.key
                    ),
                ));
            }
            checks.push((server.key, server.pos.clone(), check));
            service.add_real_server(server)?;
        }
        service.check = checks.iter().find_map(|(_, _, c)| c.clone());
        for (key, pos, check) in &checks {
            if *check != service.check {
                notes.push(Note::not_carried(
                    pos,
                    format!(
                        "real server {key}: its health check differs from the one the entry \
                         uses; lbctl checks every real server of an entry alike"
                    ),
                ));
            }
        }
        table.add_service(service)?;
    }
    Ok(())
}

/// What a `virtual_server` block says, before it is applied to each of its addresses.
struct VirtualServerDef<'a> {
    protocol: Protocol,
    scheduler: Scheduler,
    flags: crate::model::SchedulerFlags,
    persistence: Option<(u32, Option<(SourcePos, String)>)>,
    forward: ForwardMethod,
    tunnel: Option<TunnelType>,
    inhibit_on_failure: bool,
    inherited: Inherited,
    real_servers: Vec<&'a Stmt>,
}

fn read_virtual_server<'a>(
    stmt: &'a Stmt,
    notes: &mut Vec<Note>,
) -> Result<VirtualServerDef<'a>, ImportError> {
    let mut def = VirtualServerDef {
        protocol: Protocol::Tcp,
        scheduler: Scheduler::Wlc,
        flags: Default::default(),
        persistence: None,
        forward: ForwardMethod::Nat,
        tunnel: None,
        inhibit_on_failure: false,
        inherited: Inherited::default(),
        real_servers: Vec::new(),
    };
    let mut flag_words: Vec<(SourcePos, String)> = Vec::new();
    let mut timeout = None;
    let mut granularity = None;
    let mut tun = TunnelWords::default();
    for s in stmt.children() {
        match s.keyword.as_str() {
            "real_server" => def.real_servers.push(s),
            "protocol" => {
                def.protocol = s
                    .arg("TCP, UDP or SCTP")?
                    .parse()
                    .map_err(|e: String| ImportError::syntax(&s.pos, e))?;
            }
            "lb_algo" | "lvs_sched" => {
                def.scheduler = s
                    .arg("a scheduler")?
                    .parse()
                    .map_err(|e: String| ImportError::syntax(&s.pos, e))?;
            }
            "lb_kind" | "lvs_method" => def.forward = method(s)?,
            "persistence_timeout" => {
                timeout = Some(match s.args.first() {
                    None => DEFAULT_PERSISTENCE_SECS,
                    Some(_) => positive(s)?,
                });
            }
            "persistence_granularity" => {
                granularity = Some((s.pos.clone(), s.arg("a netmask")?.to_owned()));
            }
            "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
            | "mh-fallback" => flag_words.push((s.pos.clone(), s.keyword.clone())),
            "hashed" | "ip_family" => {}
            "ops" => notes.push(Note::table_change(
                &s.pos,
                "ops (one-packet scheduling): lbctl does not program it",
            )),
            "persistence_engine" => notes.push(Note::table_change(
                &s.pos,
                "persistence_engine: lbctl does not program persistence engines",
            )),
            "sorry_server" => notes.push(Note::table_change(
                &s.pos,
                "sorry_server: lbctl has no sorry server (it is added when every real server \
                 fails)",
            )),
            "tun_type" | "tun_port" | "tun_flags" => tun.read(s, notes)?,
            "delay_loop" => def.inherited.delay_loop = Some(seconds(s, notes)?),
            "retry" => def.inherited.retry = Some(number(s)?),
            "inhibit_on_failure" => def.inhibit_on_failure = true,
            "alpha" => notes.push(Note::not_carried(
                &s.pos,
                "alpha: keepalived starts real servers as failed until a check passes; lbctl \
                 counts a real server healthy until its first verdict",
            )),
            "quorum_up" | "quorum_down" => notes.push(Note::not_carried(
                &s.pos,
                format!("{}: lbctl runs no notification scripts; its metrics and alerts show the state (docs/metrics.md)", s.keyword),
            )),
            other => notes.push(Note::not_carried(
                &s.pos,
                format!("virtual_server option {other}: lbctl has no equivalent"),
            )),
        }
    }
    def.persistence = match (timeout, granularity) {
        (None, None) => None,
        (Some(t), g) => Some((t, g)),
        (None, g) => Some((DEFAULT_PERSISTENCE_SECS, g)),
    };
    let flags: Vec<String> = flag_words.iter().map(|(_, w)| w.clone()).collect();
    if let Some((pos, _)) = flag_words.first() {
        def.flags = scheduler_flags(pos, def.scheduler, &flags, notes);
    }
    if def.forward == ForwardMethod::Tunnel {
        def.tunnel = Some(tun.tunnel(&stmt.pos)?);
    }
    Ok(def)
}

/// `tun_type ipip|gue|gre`, `tun_port N` (GUE), `tun_flags ...` of a tunnel.
#[derive(Default)]
struct TunnelWords {
    kind: Option<String>,
    port: Option<u16>,
}

impl TunnelWords {
    fn read(&mut self, s: &Stmt, notes: &mut Vec<Note>) -> Result<(), ImportError> {
        match s.keyword.as_str() {
            "tun_type" => self.kind = Some(s.arg("ipip, gue or gre")?.to_ascii_lowercase()),
            "tun_port" => self.port = Some(number(s)?),
            _ => notes.push(Note::table_change(
                &s.pos,
                "tun_flags (tunnel checksums): lbctl does not program them",
            )),
        }
        Ok(())
    }

    fn tunnel(&self, pos: &SourcePos) -> Result<TunnelType, ImportError> {
        match (self.kind.as_deref(), self.port) {
            (None | Some("ipip"), _) => Ok(TunnelType::Ipip),
            (Some("gre"), _) => Ok(TunnelType::Gre),
            (Some("gue"), Some(port)) => Ok(TunnelType::Gue { port }),
            (Some("gue"), None) => Err(ImportError::syntax(pos, "tun_type gue needs tun_port")),
            (Some(other), _) => Err(ImportError::syntax(
                pos,
                format!("tun_type {other}: expected ipip, gue or gre"),
            )),
        }
    }
}

/// One `real_server ADDR [PORT] { ... }`: the server, its mapped check and whether it has
/// `inhibit_on_failure`; `None` when keepalived itself would skip it.
fn real_server(
    stmt: &Stmt,
    service: &ImportedService,
    def: &VirtualServerDef<'_>,
    notes: &mut Vec<Note>,
) -> Result<Option<(ImportedRealServer, Option<CheckSpec>, bool)>, ImportError> {
    let addr = ip(&stmt.pos, stmt.arg("an address")?)?;
    let written_port = match stmt.args.get(1) {
        Some(p) => port_number(&stmt.pos, p)?,
        None => service.key.port,
    };
    let mut weight = 1;
    let mut upper = 0;
    let mut lower = 0;
    let mut forward = def.forward;
    let mut inherited = def.inherited.clone();
    let mut inhibit = def.inhibit_on_failure;
    let mut checkers = Vec::new();
    for s in stmt.children() {
        match s.keyword.as_str() {
            "weight" => weight = number(s)?,
            "uthreshold" => upper = number(s)?,
            "lthreshold" => lower = number(s)?,
            "lvs_method" | "lb_kind" => forward = method(s)?,
            "delay_loop" => inherited.delay_loop = Some(seconds(s, notes)?),
            "retry" => inherited.retry = Some(number(s)?),
            "inhibit_on_failure" => inhibit = true,
            "notify_up" | "notify_down" => notes.push(Note::not_carried(
                &s.pos,
                format!("{}: lbctl runs no notification scripts; its metrics and alerts show the state (docs/metrics.md)", s.keyword),
            )),
            k if is_checker(k) => checkers.push(s),
            other => notes.push(Note::not_carried(
                &s.pos,
                format!("real_server option {other}: lbctl has no equivalent"),
            )),
        }
    }
    let key = RealServerKey {
        addr,
        port: written_port,
    };
    if addr.is_ipv4() != service.key.vip.is_ipv4() && forward != ForwardMethod::Tunnel {
        notes.push(Note::not_carried(
            &stmt.pos,
            format!(
                "real server {key} is not of the VIP's address family; keepalived skips it too"
            ),
        ));
        return Ok(None);
    }
    if forward != service.forward {
        notes.push(Note::table_change(
            &stmt.pos,
            format!(
                "real server {key}: lvs_method {forward} differs from the service's {}; lbctl \
                 uses one method per service",
                service.forward
            ),
        ));
    }
    let port = if service.forward.rewrites_port() || written_port == service.key.port {
        written_port
    } else {
        notes.push(Note::table_change(
            &stmt.pos,
            format!(
                "real server port {written_port} differs from the virtual port {}; with \
                 method={} lbctl forwards to the virtual port",
                service.key.port, service.forward
            ),
        ));
        service.key.port
    };
    let check = map_checkers(&checkers, port, &inherited, notes)?;
    Ok(Some((
        ImportedRealServer {
            key: RealServerKey { addr, port },
            pos: stmt.pos.clone(),
            weight,
            upper_threshold: upper,
            lower_threshold: lower,
        },
        check,
        inhibit,
    )))
}

/// The members of a `virtual_server_group`: `ADDR PORT` and `ADDR-LAST PORT` (an IPv4
/// range of the last byte) lines; `fwmark` members are notes.
fn group_members(
    group: &Stmt,
    notes: &mut Vec<Note>,
) -> Result<Vec<(IpAddr, u16, SourcePos)>, ImportError> {
    let mut out = Vec::new();
    for member in group.children() {
        if member.keyword == "fwmark" {
            notes.push(Note::table_change(
                &member.pos,
                "fwmark member of a virtual_server_group: lbctl programs services by VIP, \
                 protocol and port only",
            ));
            continue;
        }
        let port = port_number(&member.pos, member.arg("a port")?)?;
        match member.keyword.split_once('-') {
            Some((first, last)) if !member.keyword.contains(':') => {
                let first: std::net::Ipv4Addr = first.parse().map_err(|_| {
                    ImportError::syntax(
                        &member.pos,
                        format!("expected an address range, found {:?}", member.keyword),
                    )
                })?;
                let last: u8 = last.parse().map_err(|_| {
                    ImportError::syntax(
                        &member.pos,
                        format!("expected an address range, found {:?}", member.keyword),
                    )
                })?;
                let [a, b, c, start] = first.octets();
                for d in start..=last {
                    out.push((IpAddr::from([a, b, c, d]), port, member.pos.clone()));
                }
            }
            _ => out.push((ip(&member.pos, &member.keyword)?, port, member.pos.clone())),
        }
    }
    Ok(out)
}

/// A number of 1 or more (a persistence timeout of 0 means nothing to keepalived or IPVS).
fn positive(s: &Stmt) -> Result<u32, ImportError> {
    match number(s)? {
        0 => Err(ImportError::syntax(
            &s.pos,
            format!("{}: expected 1 or more", s.keyword),
        )),
        n => Ok(n),
    }
}

fn method(s: &Stmt) -> Result<ForwardMethod, ImportError> {
    match s.arg("NAT, DR or TUN")?.to_ascii_uppercase().as_str() {
        "NAT" => Ok(ForwardMethod::Nat),
        "DR" => Ok(ForwardMethod::Dr),
        "TUN" => Ok(ForwardMethod::Tunnel),
        other => Err(ImportError::syntax(
            &s.pos,
            format!("{} {other}: expected NAT, DR or TUN", s.keyword),
        )),
    }
}

fn ip(pos: &SourcePos, text: &str) -> Result<IpAddr, ImportError> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| ImportError::syntax(pos, format!("expected an IP address, found {text:?}")))
}

fn port_number(pos: &SourcePos, text: &str) -> Result<u16, ImportError> {
    text.parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ImportError::syntax(pos, format!("expected a port 1-65535, found {text:?}")))
}
