//! The daemon's HTTP endpoint: `/healthz`, `/readyz`, `/status` (JSON), `/metrics`, `/drain`.
//!
//! HTTP/1.1 on hyper, one task per connection, GET only. `/status` dumps IPVS afresh for live
//! counters (through the same kernel slot as the syncs, so they never interleave) and falls
//! back to the table of the last sync if that dump fails. `POST /drain` (loopback only) is
//! the one write: it switches the BGP drain.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lb_ipvs_sync::IpvsTable;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::status::StatusSnapshot;
use crate::bgp::BgpControl;
use crate::metrics::Metrics;

/// A fresh IPVS dump for `/status` (`None` when it fails).
pub(crate) type DumpFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<IpvsTable>> + Send>> + Send + Sync>;

/// What the handlers read.
#[derive(Clone)]
pub(crate) struct HttpState {
    /// The registry served at `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// The latest status snapshot.
    pub(crate) status: watch::Receiver<Arc<StatusSnapshot>>,
    /// Live counters for `/status`.
    pub(crate) dump: DumpFn,
    /// The BGP announcer's drain switch and status (`None`: BGP disabled).
    pub(crate) bgp: Option<Arc<BgpControl>>,
}

/// Binds `address`; returns the bound address (port 0 picks one) and the serving future.
pub(crate) async fn bind(
    address: SocketAddr,
    state: HttpState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "HTTP endpoint listening");
    let serve = async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let state = state.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| handle(state.clone(), peer, req));
                            // Half-close: clients such as `nc` shut down their write side
                            // right after the request; answer them instead of hanging up.
                            if let Err(e) = hyper::server::conn::http1::Builder::new()
                                .half_close(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                            {
                                debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
                            }
                        });
                    }
                    Err(e) => warn!(error = %e, "HTTP accept failed"),
                },
            }
        }
    };
    Ok((bound, serve))
}

async fn handle(
    state: HttpState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/drain" {
        return Ok(drain(&state, peer, &req));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"));
    }
    let response = match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let snapshot = Arc::clone(&state.status.borrow());
            let c = &snapshot.controller;
            if c.ready {
                text(StatusCode::OK, "ready\n")
            } else {
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
        }
        "/status" => {
            let table = (state.dump)().await;
            let snapshot = Arc::clone(&state.status.borrow());
            let mut doc = snapshot.document(table.as_ref());
            doc.bgp = state.bgp.as_ref().map(|bgp| bgp.status());
            match serde_json::to_vec_pretty(&doc) {
                Ok(body) => with_type(StatusCode::OK, body, "application/json"),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            }
        }
        "/metrics" => {
            // Collectors read the kernel over a blocking netlink socket.
            let metrics = Arc::clone(&state.metrics);
            match tokio::task::spawn_blocking(move || metrics.encode()).await {
                Ok(body) => with_type(
                    StatusCode::OK,
                    body.into_bytes(),
                    "text/plain; version=0.0.4",
                ),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz, /status, /metrics, POST /drain\n",
        ),
    };
    Ok(response)
}

/// `POST /drain` withdraws every BGP route, `POST /drain?undo` announces again (and ends every
/// per-VIP drain); `vip=ADDR` limits either to one VIP (`lbctl drain [--undo] --vip ADDR`).
/// Only from loopback: the listener may be opened wider for metrics scrapers.
fn drain(state: &HttpState, peer: SocketAddr, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
    }
    if !peer.ip().is_loopback() {
        warn!(peer = %peer, "refused /drain from a non-loopback address");
        return text(
            StatusCode::FORBIDDEN,
            "/drain is accepted from localhost only\n",
        );
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
    info!(peer = %peer, draining = !undo, vip = ?vip, "BGP drain switched over HTTP");
    let switched = match vip {
        Some(vip) => bgp.set_vip_drain(vip, !undo),
        None => bgp.set_drain(!undo),
    };
    if let Err(e) = switched {
        warn!(error = %e, "BGP drain switched but not persisted");
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("drain switched, but the drain file could not be updated: {e}\n"),
        );
    }
    let answer = match (vip, undo) {
        (None, true) => "drain ended: announcing the healthy VIPs again\n".to_owned(),
        (None, false) => "draining: every BGP route is being withdrawn\n".to_owned(),
        (Some(vip), true) => format!("drain of {vip} ended: announcing it again when healthy\n"),
        (Some(vip), false) => format!("draining {vip}: its BGP route is being withdrawn\n"),
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

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
