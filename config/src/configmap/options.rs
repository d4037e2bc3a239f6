//! The options after the first `;` of a value: `NAME=VALUE` pairs separated by `;`.
//!
//! Pure. Each option may appear once; unknown names are errors so typos are caught. Option
//! values cannot contain `;` (an HTTP check path may spell it `%3B`).

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::ctx::{ValueCtx, parse_port, parse_u32};
use super::target::MAX_WEIGHT;
use super::text::Piece;
use crate::desired::HealthCheckKind;
use crate::entry::{CheckSpec, EntryOptions};
use crate::model::{ForwardMethod, Persistence, Scheduler, SchedulerFlags, TunnelType};
use crate::problem::quoted;

/// Every option name, in the order [`render`](super::render) writes them.
pub(crate) const OPTION_NAMES: [&str; 12] = [
    "scheduler",
    "method",
    "pool",
    "persistence",
    "weight",
    "check",
    "check-port",
    "check-interval",
    "check-timeout",
    "check-rise",
    "check-fall",
    "check-body",
];

/// Parses the option pieces (each the text between two `;`).
pub(crate) fn parse_options(ctx: &mut ValueCtx<'_>, pieces: &[Piece<'_>]) -> EntryOptions {
    let mut seen: [Option<Piece<'_>>; OPTION_NAMES.len()] = [None; OPTION_NAMES.len()];
    let mut opts = EntryOptions::default();
    let mut check_port = None;
    let mut timings: [Option<u32>; 4] = [None; 4];
    let mut check_body: Option<Piece<'_>> = None;
    for raw in pieces {
        let piece = raw.trim();
        if piece.is_empty() {
            ctx.error(piece, "expected an option (NAME=VALUE) after ';'");
            continue;
        }
        let Some((name, value)) = piece.split_once('=') else {
            ctx.error(
                piece,
                format!("expected NAME=VALUE, found {}", quoted(piece.text)),
            );
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let Some(index) = OPTION_NAMES.iter().position(|n| *n == name.text) else {
            ctx.error(
                name,
                format!(
                    "unknown option {}: expected one of {}",
                    quoted(name.text),
                    OPTION_NAMES.join(", ")
                ),
            );
            continue;
        };
        if seen[index].is_some() {
            ctx.error(name, format!("option {}= is given twice", name.text));
            continue;
        }
        seen[index] = Some(name);
        match name.text {
            "scheduler" => parse_scheduler(ctx, value, &mut opts),
            "method" => parse_method(ctx, value, &mut opts),
            "pool" => opts.snat_pool = parse_pool(ctx, value),
            "persistence" => opts.persistence = parse_persistence(ctx, value),
            "weight" => opts.weight = number(ctx, value, 0, MAX_WEIGHT, "a weight"),
            "check" => {
                opts.health_check = parse_check(ctx, value).map(|kind| CheckSpec {
                    kind,
                    interval_secs: None,
                    timeout_secs: None,
                    rise: None,
                    fall: None,
                });
            }
            "check-port" => check_port = port(ctx, value),
            "check-interval" => timings[0] = number(ctx, value, 1, 86_400, "seconds"),
            "check-timeout" => timings[1] = number(ctx, value, 1, 86_400, "seconds"),
            "check-rise" => timings[2] = number(ctx, value, 1, 1_000, "a count"),
            "check-fall" => timings[3] = number(ctx, value, 1, 1_000, "a count"),
            _ => check_body = parse_check_body(ctx, value),
        }
    }
    if let (Some(pool), Some(method)) = (seen[2], opts.forward)
        && method != ForwardMethod::Fullnat
    {
        ctx.error(
            pool,
            format!("pool= only applies to method=fullnat, not method={method}"),
        );
    }
    match &mut opts.health_check {
        Some(spec) => {
            [spec.interval_secs, spec.timeout_secs, spec.rise, spec.fall] = timings;
            match (&mut spec.kind, check_body) {
                (HealthCheckKind::Http { expect_body, .. }, body) => {
                    *expect_body = body.map(|b| b.text.to_owned());
                }
                (_, Some(_)) => {
                    if let Some(at) = seen[11] {
                        ctx.error(at, "check-body= only applies to check=http or check=https");
                    }
                }
                (_, None) => {}
            }
            match (&mut spec.kind, check_port) {
                (HealthCheckKind::Tcp { port } | HealthCheckKind::Http { port, .. }, p) => {
                    *port = p;
                }
                (HealthCheckKind::Exec { .. }, Some(_)) => {
                    if let Some(at) = seen[6] {
                        ctx.error(at, "check-port= does not apply to check=exec");
                    }
                }
                (HealthCheckKind::Exec { .. }, None) => {}
            }
        }
        None => {
            if let Some(at) = seen[6..].iter().flatten().next() {
                ctx.error(*at, format!("{}= needs a check= option", at.text));
            }
        }
    }
    opts
}

fn number(ctx: &mut ValueCtx<'_>, value: Piece<'_>, min: u32, max: u32, what: &str) -> Option<u32> {
    parse_u32(value.text, min, max, what)
        .map_err(|message| ctx.error(value, message))
        .ok()
}

fn port(ctx: &mut ValueCtx<'_>, value: Piece<'_>) -> Option<u16> {
    parse_port(value.text)
        .map_err(|message| ctx.error(value, message))
        .ok()
}

/// `rr`, `mh mh-fallback mh-port`, `sh fallback`.
fn parse_scheduler(ctx: &mut ValueCtx<'_>, value: Piece<'_>, opts: &mut EntryOptions) {
    let words = value.words();
    let Some(first) = words.first() else {
        ctx.error(value, "expected a scheduler name, e.g. scheduler=wrr");
        return;
    };
    let scheduler = match first.text.parse::<Scheduler>() {
        Ok(s) => s,
        Err(message) => {
            ctx.error(*first, message);
            return;
        }
    };
    let mut flags = SchedulerFlags::default();
    for word in &words[1..] {
        if !scheduler.takes_hash_flags() {
            ctx.error(
                *word,
                format!("scheduler flags only apply to sh and mh, not to {scheduler}"),
            );
            continue;
        }
        let bare = word
            .text
            .strip_prefix(scheduler.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .unwrap_or(word.text);
        let flag = match bare {
            "fallback" => &mut flags.fallback,
            "port" => &mut flags.port,
            _ => {
                ctx.error(
                    *word,
                    format!(
                        "unknown scheduler flag {}: expected {s}-fallback or {s}-port",
                        quoted(word.text),
                        s = scheduler.as_str()
                    ),
                );
                continue;
            }
        };
        if *flag {
            ctx.error(
                *word,
                format!("scheduler flag {} is given twice", word.text),
            );
        }
        *flag = true;
    }
    opts.scheduler = Some(scheduler);
    opts.scheduler_flags = flags;
}

/// `nat`, `dr`, `fullnat`, `tunnel`, `tunnel:ipip`, `tunnel:gre`, `tunnel:gue:PORT`.
fn parse_method(ctx: &mut ValueCtx<'_>, value: Piece<'_>, opts: &mut EntryOptions) {
    let (name, encapsulation) = match value.split_once(':') {
        Some((n, e)) => (n, Some(e)),
        None => (value, None),
    };
    let method = match name.text.parse::<ForwardMethod>() {
        Ok(m) => m,
        Err(message) => {
            ctx.error(name, message);
            return;
        }
    };
    opts.forward = Some(method);
    let Some(encapsulation) = encapsulation else {
        return;
    };
    if method != ForwardMethod::Tunnel {
        ctx.error(
            encapsulation,
            format!("only method=tunnel takes an encapsulation, not {method}"),
        );
        return;
    }
    opts.tunnel = match encapsulation.split_once(':') {
        None if encapsulation.text == "ipip" => Some(TunnelType::Ipip),
        None if encapsulation.text == "gre" => Some(TunnelType::Gre),
        Some((kind, p)) if kind.text == "gue" => port(ctx, p).map(|port| TunnelType::Gue { port }),
        None if encapsulation.text == "gue" => {
            ctx.error(
                encapsulation,
                "expected gue:PORT (the UDP port of the encapsulation)",
            );
            None
        }
        _ => {
            ctx.error(
                encapsulation,
                format!(
                    "expected a tunnel encapsulation ipip, gre or gue:PORT, found {}",
                    quoted(encapsulation.text)
                ),
            );
            None
        }
    };
}

/// `198.51.100.250/31, 198.51.100.252` (commas or spaces; a bare address is one host).
fn parse_pool(ctx: &mut ValueCtx<'_>, value: Piece<'_>) -> Vec<IpNetwork> {
    let mut pool = Vec::new();
    for part in value.split(',') {
        let words = part.words();
        if words.is_empty() {
            ctx.error(
                part.trim(),
                "expected an address or network (198.51.100.250/31)",
            );
        }
        for word in words {
            match word.text.parse::<IpNetwork>() {
                Ok(net) => pool.push(net),
                Err(_) => ctx.error(
                    word,
                    format!(
                        "expected an address or network (198.51.100.250/31), found {}",
                        quoted(word.text)
                    ),
                ),
            }
        }
    }
    pool
}

/// `300` or `300/24` (seconds, then the client prefix length that counts as one client).
fn parse_persistence(ctx: &mut ValueCtx<'_>, value: Piece<'_>) -> Option<Persistence> {
    let (secs, prefix) = match value.split_once('/') {
        Some((s, p)) => (s, Some(p)),
        None => (value, None),
    };
    let timeout_secs = number(
        ctx,
        secs.trim(),
        1,
        u32::MAX,
        "a persistence timeout in seconds",
    )?;
    let max_prefix = match ctx.vip {
        Some(IpAddr::V4(_)) => 32,
        _ => 128,
    };
    let prefix_len = match prefix {
        None => None,
        Some(p) => {
            let p = p.trim();
            let n = number(ctx, p, 0, max_prefix, "a prefix length")?;
            Some(u8::try_from(n).ok()?)
        }
    };
    Some(Persistence {
        timeout_secs,
        prefix_len,
    })
}

/// `tcp`, `http:/path[:STATUS]`, `https:/path[:STATUS]`, `exec:PROGRAM ARGS...`.
fn parse_check(ctx: &mut ValueCtx<'_>, value: Piece<'_>) -> Option<HealthCheckKind> {
    let (kind, rest) = match value.split_once(':') {
        Some((k, r)) => (k, Some(r.trim())),
        None => (value, None),
    };
    match (kind.text, rest) {
        ("tcp", None) => Some(HealthCheckKind::Tcp { port: None }),
        ("http" | "https", Some(rest)) => parse_http(ctx, kind.text == "https", rest),
        ("http" | "https", None) => {
            ctx.error(
                value,
                format!(
                    "expected {}:/PATH[:STATUS], e.g. {0}:/healthz:200",
                    kind.text
                ),
            );
            None
        }
        ("exec", Some(rest)) if !rest.is_empty() => Some(HealthCheckKind::Exec {
            command: rest.words().iter().map(|w| w.text.to_owned()).collect(),
        }),
        ("exec", _) => {
            ctx.error(value, "expected exec:PROGRAM [ARGUMENTS...]");
            None
        }
        ("tcp", Some(rest)) => {
            ctx.error(
                rest,
                "check=tcp takes no argument (use check-port= for another port)",
            );
            None
        }
        _ => {
            ctx.error(
                kind,
                format!(
                    "expected a check tcp, http:/PATH[:STATUS], https:/PATH[:STATUS] or \
                     exec:PROGRAM, found {}",
                    quoted(value.text)
                ),
            );
            None
        }
    }
}

fn parse_http(ctx: &mut ValueCtx<'_>, tls: bool, rest: Piece<'_>) -> Option<HealthCheckKind> {
    let (path, status) = match rest.rsplit_once(':') {
        Some((p, s)) if s.text.len() == 3 && s.text.bytes().all(|b| b.is_ascii_digit()) => {
            (p, Some(s))
        }
        _ => (rest, None),
    };
    if !path.text.starts_with('/') || path.text.contains(char::is_whitespace) {
        ctx.error(
            path,
            format!(
                "expected an HTTP path starting with '/' and without spaces, found {}",
                quoted(path.text)
            ),
        );
        return None;
    }
    let expect_status = match status {
        None => 200,
        Some(s) => u16::try_from(number(ctx, s, 100, 599, "an HTTP status")?).ok()?,
    };
    Some(HealthCheckKind::Http {
        expect_body: None,
        tls,
        path: path.text.to_owned(),
        expect_status,
        port: None,
    })
}

/// The text a health check's response body must contain: anything but `;` (which ends the
/// option), not empty.
fn parse_check_body<'a>(ctx: &mut ValueCtx<'_>, value: Piece<'a>) -> Option<Piece<'a>> {
    if value.text.is_empty() {
        ctx.error(
            value,
            "check-body= needs a text the response body must contain",
        );
        return None;
    }
    Some(value)
}
