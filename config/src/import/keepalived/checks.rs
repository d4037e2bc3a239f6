//! keepalived health checkers -> our check options, where an equivalent exists.
//!
//! TCP_CHECK becomes `check=tcp`, HTTP_GET `check=http:`, SSL_GET `check=https:` (neither
//! verifies certificates). Timings: `delay_loop` -> `check-interval`, `connect_timeout` ->
//! `check-timeout`, `retry` (`nb_get_retry`) -> `check-fall` = retry + 1 (keepalived retries
//! that often after the first failure), `check-rise=1` (keepalived takes a server back at its
//! first success). MISC_CHECK runs a program: it is never turned into anything that runs one
//! (docs/security.md), only listed. Every other checker and checker detail is listed too.

use super::syntax::Stmt;
use crate::desired::HealthCheckKind;
use crate::entry::CheckSpec;
use crate::import::table::{ImportError, Note};

/// keepalived's defaults, written out so the entry does not depend on the director's settings.
const DEFAULT_DELAY_LOOP_SECS: u32 = 60;
const DEFAULT_CONNECT_TIMEOUT_SECS: u32 = 5;
const DEFAULT_RETRY: u32 = 1;

/// Timings inherited from the virtual server and the real server.
#[derive(Debug, Clone, Default)]
pub(super) struct Inherited {
    pub(super) delay_loop: Option<u32>,
    pub(super) retry: Option<u32>,
}

/// Whether a real-server keyword names a checker.
pub(super) fn is_checker(keyword: &str) -> bool {
    keyword.ends_with("_CHECK") || keyword == "HTTP_GET" || keyword == "SSL_GET"
}

/// The check for a real server's checker statements; notes for the rest.
pub(super) fn map_checkers(
    checkers: &[&Stmt],
    rs_port: u16,
    inherited: &Inherited,
    notes: &mut Vec<Note>,
) -> Result<Option<CheckSpec>, ImportError> {
    let mut chosen = None;
    for checker in checkers {
        let mapped = match checker.keyword.as_str() {
            "TCP_CHECK" => Some(map_one(checker, None, rs_port, inherited, notes)?),
            "HTTP_GET" => Some(map_one(checker, Some(false), rs_port, inherited, notes)?),
            "SSL_GET" => Some(map_one(checker, Some(true), rs_port, inherited, notes)?),
            "MISC_CHECK" => {
                notes.push(Note::not_carried(
                    &checker.pos,
                    "MISC_CHECK runs a program: an import never makes the ConfigMap run one \
                     (check=exec needs [exec_checks] on each director, docs/health-checks.md); \
                     add it by hand if you enable exec checks",
                ));
                None
            }
            other => {
                notes.push(Note::not_carried(
                    &checker.pos,
                    format!("{other}: lbctl has no equivalent check (tcp, http, https, exec)"),
                ));
                None
            }
        };
        if let Some(spec) = mapped {
            if chosen.is_none() {
                chosen = Some(spec);
            } else {
                notes.push(Note::not_carried(
                    &checker.pos,
                    format!(
                        "{}: a second checker; lbctl runs one check per entry (the first one)",
                        checker.keyword
                    ),
                ));
            }
        }
    }
    Ok(chosen)
}

fn map_one(
    checker: &Stmt,
    http_tls: Option<bool>,
    rs_port: u16,
    inherited: &Inherited,
    notes: &mut Vec<Note>,
) -> Result<CheckSpec, ImportError> {
    let mut port = None;
    let mut timeout = None;
    let mut retry = None;
    let mut delay_loop = None;
    let mut url: Option<(String, Option<u16>)> = None;
    for stmt in checker.children() {
        match stmt.keyword.as_str() {
            "connect_port" => port = Some(number::<u16>(stmt)?),
            "connect_timeout" => timeout = Some(seconds(stmt, notes)?),
            "retry" | "nb_get_retry" => retry = Some(number::<u32>(stmt)?),
            "delay_loop" => delay_loop = Some(seconds(stmt, notes)?),
            "url" if http_tls.is_some() => {
                if url.is_some() {
                    notes.push(Note::not_carried(
                        &stmt.pos,
                        "a second url: lbctl checks one path per entry (the first one)",
                    ));
                    continue;
                }
                url = Some(map_url(stmt, notes)?);
            }
            other => notes.push(Note::not_carried(
                &stmt.pos,
                format!(
                    "{} option {other}: lbctl's check has no equivalent",
                    checker.keyword
                ),
            )),
        }
    }
    let kind = match http_tls {
        None => HealthCheckKind::Tcp {
            port: port.filter(|p| *p != rs_port),
        },
        Some(tls) => {
            let (path, status) = match url {
                Some(url) => url,
                None => {
                    notes.push(Note::not_carried(
                        &checker.pos,
                        format!("{} without url: lbctl checks path /", checker.keyword),
                    ));
                    ("/".to_owned(), None)
                }
            };
            if status.is_none() {
                notes.push(Note::not_carried(
                    &checker.pos,
                    "no status_code: keepalived accepted any 2xx status, lbctl expects 200",
                ));
            }
            HealthCheckKind::Http {
                tls,
                path,
                expect_status: status.unwrap_or(200),
                port: port.filter(|p| *p != rs_port),
                expect_body: None,
            }
        }
    };
    let retry = retry.or(inherited.retry).unwrap_or(DEFAULT_RETRY);
    Ok(CheckSpec {
        kind,
        interval_secs: Some(
            delay_loop
                .or(inherited.delay_loop)
                .unwrap_or(DEFAULT_DELAY_LOOP_SECS),
        ),
        timeout_secs: Some(timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)),
        rise: Some(1),
        fall: Some(retry.saturating_add(1).min(1000)),
    })
}

/// `url { path /x; status_code 200; digest ...; }` -> path and status.
fn map_url(url: &Stmt, notes: &mut Vec<Note>) -> Result<(String, Option<u16>), ImportError> {
    let mut path = None;
    let mut status = None;
    for stmt in url.children() {
        match stmt.keyword.as_str() {
            "path" => {
                let p = stmt.arg("a path")?;
                if p.contains([';', ' ']) || !p.starts_with('/') {
                    return Err(ImportError::syntax(
                        &stmt.pos,
                        format!(
                            "path {p:?}: lbctl checks paths that start with / and have no ; or spaces"
                        ),
                    ));
                }
                path = Some(p.to_owned());
            }
            "status_code" => {
                let text = stmt.arg("a status code")?;
                match text.parse::<u16>() {
                    Ok(code) if stmt.args.len() == 1 => status = Some(code),
                    _ => {
                        return Err(ImportError::syntax(
                            &stmt.pos,
                            format!(
                                "status_code {}: lbctl checks for one status code",
                                stmt.args.join(" ")
                            ),
                        ));
                    }
                }
            }
            "digest" => notes.push(Note::not_carried(
                &stmt.pos,
                "digest: lbctl checks the status (and optionally a text in the body, \
                 check-body=), not a digest of the page",
            )),
            other => notes.push(Note::not_carried(
                &stmt.pos,
                format!("url option {other}: lbctl's check has no equivalent"),
            )),
        }
    }
    Ok((path.unwrap_or_else(|| "/".to_owned()), status))
}

pub(super) fn number<T: std::str::FromStr>(stmt: &Stmt) -> Result<T, ImportError> {
    let text = stmt.arg("a number")?;
    text.parse().map_err(|_| {
        ImportError::syntax(
            &stmt.pos,
            format!("{}: expected a number, found {text:?}", stmt.keyword),
        )
    })
}

/// A keepalived timer (seconds, possibly with decimals) in whole seconds, at least 1,
/// rounded up (with a note when rounded).
pub(super) fn seconds(stmt: &Stmt, notes: &mut Vec<Note>) -> Result<u32, ImportError> {
    let text = stmt.arg("a time in seconds")?;
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            ImportError::syntax(
                &stmt.pos,
                format!("{}: expected seconds, found {text:?}", stmt.keyword),
            )
        })?;
    let whole = value.ceil().clamp(1.0, 86_400.0);
    if whole != value {
        notes.push(Note::not_carried(
            &stmt.pos,
            format!(
                "{} {text}: lbctl counts whole seconds from 1 to 86400, {whole} it is",
                stmt.keyword
            ),
        ));
    }
    // `whole` is an integer from 1 to 86400.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(whole as u32)
}
