//! The endpoints. The TCP listener ([`Api::Read`]) serves only reads: `/healthz`, `/readyz`,
//! `/status` (the snapshot of the last pass, never a kernel dump per request), `/metrics`.
//! The control socket ([`Api::Control`]) serves the same reads and the one write, `POST
//! /withdraw` (BGP route removal; `/drain` is its former name, still served), and refuses
//! requests that carry a browser's cross-site markers.

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tracing::{info, warn};

use super::metrics_route::{self, ResponseBody, boxed};
use super::serve::Peer;
use crate::bgp::BgpControl;
use crate::daemon::status::{StatusQuery, StatusSnapshot};
use crate::metrics::Metrics;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// TCP (`listen_address`): read endpoints only.
    Read,
    /// The Unix control socket: reads and operator actions.
    Control,
}

impl Api {
    /// The `listener` label of the HTTP metrics.
    pub(super) fn label(self) -> &'static str {
        match self {
            Api::Read => "tcp",
            Api::Control => "control",
        }
    }
}

/// What the handlers read.
#[derive(Clone)]
pub(crate) struct HttpState {
    /// The registry served at `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// The latest status snapshot (published by every pass).
    pub(crate) status: watch::Receiver<Arc<StatusSnapshot>>,
    /// The BGP announcer's withdraw switch and status (`None`: BGP disabled).
    pub(crate) bgp: Option<Arc<BgpControl>>,
    /// The control socket's path, named when the TCP listener refuses an operator action.
    pub(crate) control_socket: PathBuf,
}

/// Routes one request.
pub(super) async fn handle(
    state: HttpState,
    api: Api,
    peer: Peer,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    if api == Api::Control {
        if let Peer::Local {
            allowed: false,
            uid,
            ..
        } = &peer
        {
            warn!(peer = %peer, "control socket: refused a process that is neither root nor the daemon's user");
            let who = uid.map_or_else(|| "unknown".to_owned(), |u| u.to_string());
            return Ok(boxed(text(
                StatusCode::FORBIDDEN,
                &format!("uid {who} may not use the control socket\n"),
            )));
        }
        if let Some(why) = cross_site(&req) {
            warn!(peer = %peer, reason = why, "control socket: refused a cross-site request");
            return Ok(boxed(text(
                StatusCode::FORBIDDEN,
                &format!("refused: {why} (browser requests are not accepted)\n"),
            )));
        }
    }
    let path = req.uri().path();
    if path == WITHDRAW || path == WITHDRAW_FORMER {
        return Ok(boxed(match api {
            Api::Control => withdraw(&state, &peer, &req),
            Api::Read => {
                warn!(peer = %peer, method = %req.method(), path, "refused an operator action on the TCP listener");
                text(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "{path} is not served over TCP: use `lbctl withdraw`, which talks to the \
                         control socket {}\n",
                        state.control_socket.display()
                    ),
                )
            }
        }));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(boxed(text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n")));
    }
    if req.uri().path() == "/metrics" {
        // Streamed: see metrics_route.
        return Ok(metrics_route::metrics(&state, &req));
    }
    let response = match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => readyz(&state),
        "/status" => status(&state, req.uri().query().unwrap_or("")).await,
        _ => text(
            StatusCode::NOT_FOUND,
            match api {
                Api::Read => "not found: try /healthz, /readyz, /status, /metrics\n",
                Api::Control => "not found: try /status or POST /withdraw\n",
            },
        ),
    };
    Ok(boxed(response))
}

/// Why a request looks like it came from a browser on another site, if it does. A page can
/// reach the socket through a tunnel (`ssh -L`), and a plain cross-site form POST needs no
/// preflight; browsers mark such requests, command-line clients do not.
fn cross_site(req: &Request<Incoming>) -> Option<&'static str> {
    if req.headers().contains_key(ORIGIN) {
        return Some("the request has an Origin header");
    }
    let site = req.headers().get("sec-fetch-site")?;
    match site.to_str() {
        Ok("none" | "same-origin") => None,
        _ => Some("Sec-Fetch-Site says the request is cross-site"),
    }
}

fn readyz(state: &HttpState) -> Response<Full<Bytes>> {
    let snapshot = Arc::clone(&state.status.borrow());
    let c = &snapshot.controller;
    if c.ready {
        return text(StatusCode::OK, "ready\n");
    }
    let why = if !c.listed {
        "waiting for the initial lists"
    } else if !c.connected {
        "the API server is unreachable: keeping the last good state"
    } else {
        "the last sync failed"
    };
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("not ready: {why}\n"),
    )
}

/// The snapshot of the last pass (its table is the one read after that sync): it never waits
/// for the kernel. The query narrows it or asks for the summary (a bad one is a 400 naming
/// the parameter); the body is built and serialized off the runtime, as the whole document of
/// a large table takes a while, compact unless `pretty` is asked for.
async fn status(state: &HttpState, query: &str) -> Response<Full<Bytes>> {
    let query = match StatusQuery::parse(query) {
        Ok(query) => query,
        Err(e) => return text(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    };
    let snapshot = Arc::clone(&state.status.borrow());
    let bgp = state.bgp.as_ref().map(|bgp| bgp.status());
    let built =
        tokio::task::spawn_blocking(move || snapshot.answer(&query, bgp, SystemTime::now())).await;
    match built {
        Ok(Ok(body)) => with_type(StatusCode::OK, body, "application/json"),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

/// The operator action that withdraws BGP routes.
const WITHDRAW: &str = "/withdraw";
/// Its former name, from when BGP route removal was called "drain"; served the same so that
/// an older `lbctl drain` or a script keeps working.
const WITHDRAW_FORMER: &str = "/drain";

/// `POST /withdraw` withdraws every BGP route, `POST /withdraw?undo` announces again (and ends
/// every per-VIP withdrawal); `vip=ADDR` limits either to one VIP (`lbctl withdraw [--undo]
/// --vip ADDR`).
fn withdraw(state: &HttpState, peer: &Peer, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
    }
    let Some(bgp) = &state.bgp else {
        return text(
            StatusCode::CONFLICT,
            "BGP is not enabled ([bgp] enabled = false)\n",
        );
    };
    let query: Vec<&str> = req.uri().query().unwrap_or("").split('&').collect();
    let undo = query
        .iter()
        .any(|p| *p == "undo" || *p == "undo=1" || *p == "undo=true");
    let vip = match query.iter().find_map(|p| p.strip_prefix("vip=")) {
        None => None,
        Some(raw) => match raw.parse::<IpAddr>() {
            Ok(vip) => Some(vip),
            Err(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("vip={raw}: not an IP address\n"),
                );
            }
        },
    };
    info!(peer = %peer, withdrawn = !undo, vip = ?vip, "BGP withdraw switched over the control socket");
    let switched = match vip {
        Some(vip) => bgp.set_vip_withdrawn(vip, !undo),
        None => bgp.set_withdraw_all(!undo),
    };
    if let Err(e) = switched {
        warn!(error = %e, "BGP withdraw switched but not persisted");
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("withdraw switched, but the withdraw file could not be updated: {e}\n"),
        );
    }
    let answer = match (vip, undo) {
        (None, true) => "withdrawal ended: announcing the healthy VIPs again\n".to_owned(),
        (None, false) => "withdrawing: every BGP route is being withdrawn\n".to_owned(),
        (Some(vip), true) => {
            format!("withdrawal of {vip} ended: announcing it again when healthy\n")
        }
        (Some(vip), false) => format!("withdrawing {vip}: its BGP route is being withdrawn\n"),
    };
    text(StatusCode::OK, &answer)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(
        status,
        body.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
    )
}

fn with_type(status: StatusCode, body: Vec<u8>, content_type: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
