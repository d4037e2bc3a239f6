//! The webhook's HTTPS server: TLS (rustls, ring) over TCP, HTTP/1.1 on hyper, two routes.
//!
//! `POST /validate` answers reviews ([`super::review`]); `GET /healthz` answers `ok` (for the
//! kubelet's probes). Other paths get 404, other methods 405. Hostile clients cost bounded
//! resources: at most `max_connections` at once (more are closed at once), the TLS handshake
//! and the request head each within `request_timeout`, the body within `request_timeout`
//! (else 408) and at most `max_body_bytes` (else 413: a declared length over it is refused
//! before a byte of body is read, a chunked body once it grows past it; the connection is then
//! closed). A plaintext client fails the TLS handshake.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tracing::{debug, info, warn};

use super::review::{GuardedConfigMap, answer_review};
use super::tls::{CertError, ReloadingCert, TlsFiles};
use crate::activity::{Activity, Tracked};
use crate::configmap_check::ConfigMapChecks;

/// The path the ValidatingWebhookConfiguration points at.
pub const VALIDATE_PATH: &str = "/validate";
/// The probe path.
pub const HEALTH_PATH: &str = "/healthz";

/// Limits of the webhook server (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Largest request body; the API server caps objects near 1.5 MiB, and a review carries
    /// the object and, on UPDATE, the old object, so 3 MiB admits every real review.
    pub max_body_bytes: usize,
    /// Time for the TLS handshake, for the request head (and the keep-alive wait), and for
    /// the body, each.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How often a handshake looks whether the certificate files changed.
    pub cert_check_interval: Duration,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            max_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
            cert_check_interval: Duration::from_secs(10),
        }
    }
}

/// Everything the webhook needs to start.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Server certificate and key.
    pub tls: TlsFiles,
    /// The ConfigMap it guards.
    pub guarded: GuardedConfigMap,
    /// Limits and timeouts.
    pub limits: WebhookLimits,
}

/// Why the webhook cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The TLS configuration cannot be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The address cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl WebhookError {
    /// Whether the operator's input is at fault (`lbctl` exits with 64): unusable certificate
    /// or key files. A busy port or a TLS library failure is not.
    pub fn is_usage(&self) -> bool {
        matches!(self, WebhookError::Cert(_))
    }
}

/// What every connection shares.
struct Shared {
    guarded: GuardedConfigMap,
    checks: ConfigMapChecks,
    limits: WebhookLimits,
}

/// A bound webhook, not serving yet.
pub struct BoundWebhook {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    address: SocketAddr,
}

impl std::fmt::Debug for BoundWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundWebhook")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Loads the certificate and binds the listener.
pub async fn bind(
    config: WebhookConfig,
    checks: ConfigMapChecks,
) -> Result<BoundWebhook, WebhookError> {
    let provider = Arc::new(ring::default_provider());
    let resolver = ReloadingCert::new(
        config.tls.clone(),
        Arc::clone(&provider),
        config.limits.cert_check_interval,
    )?;
    let mut tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebhookError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| WebhookError::Bind {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| WebhookError::Bind {
        address: config.listen,
        source,
    })?;
    Ok(BoundWebhook {
        listener,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
        shared: Arc::new(Shared {
            guarded: config.guarded,
            checks,
            limits: config.limits,
        }),
        address,
    })
}

impl BoundWebhook {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` completes, then waits up to `request_timeout` for open
    /// connections to end.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let limits = self.shared.limits;
        info!(address = %self.address, configmap = %format!("{}/{}", self.shared.guarded.namespace, self.shared.guarded.name),
            max_body_bytes = limits.max_body_bytes, "admission webhook listening (HTTPS)");
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: wait a little instead of spinning.
                    warn!(error = %e, "webhook accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                debug!(peer = %peer, "webhook connection refused: too many open connections");
                continue;
            };
            let acceptor = self.acceptor.clone();
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                connection(stream, peer, acceptor, shared).await;
                drop(permit);
            });
        }
        // Let reviews in progress finish (a pod being replaced still gets requests for a
        // moment); connections kept alive without a request are dropped after the wait.
        let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
        if tokio::time::timeout(limits.request_timeout, permits.acquire_many(all))
            .await
            .is_err()
        {
            debug!("webhook stopping with connections still open");
        }
        info!(address = %self.address, "admission webhook stopped");
    }
}

/// One connection: the handshake, then HTTP/1.1 until the client or a timeout ends it.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let timeout = shared.limits.request_timeout;
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(peer = %peer, error = %e, "webhook TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(peer = %peer, "webhook TLS handshake timed out");
            return;
        }
    };
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route(req, shared).await) }
    });
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(tls, activity.clone()));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    tokio::select! {
        served = builder.serve_connection(io, service) => {
            if let Err(e) = served {
                debug!(peer = %peer, error = %e, "webhook connection ended with an error");
            }
        }
        // A kept-alive connection with nothing moving, or a client that stopped reading.
        () = activity.idle_for(shared_idle(timeout)) => {
            debug!(peer = %peer, "webhook connection idle: closed");
        }
    }
}

/// How long a connection may sit without a byte moving: longer than one request may take, so
/// only a connection nobody uses is closed (the API server opens a new one when it needs it).
fn shared_idle(request_timeout: Duration) -> Duration {
    request_timeout * 6
}

/// Dispatches by path, then method.
async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    match (req.uri().path(), req.method()) {
        (VALIDATE_PATH, &Method::POST) => validate(req, shared).await,
        (HEALTH_PATH, &Method::GET | &Method::HEAD) => text(StatusCode::OK, "ok\n"),
        (VALIDATE_PATH, _) => allow_only(StatusCode::METHOD_NOT_ALLOWED, "POST"),
        (HEALTH_PATH, _) => allow_only(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: this server answers POST /validate and GET /healthz\n",
        ),
    }
}

/// `POST /validate`: read the body within the limits, answer the review off the runtime.
async fn validate(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Full<Bytes>> {
    let limits = shared.limits;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return too_large(limits.max_body_bytes);
    }
    let body = Limited::new(req.into_body(), limits.max_body_bytes);
    let bytes = match tokio::time::timeout(limits.request_timeout, body.collect()).await {
        Err(_) => {
            return closing(text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time\n",
            ));
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return too_large(limits.max_body_bytes);
        }
        Ok(Err(e)) => {
            return closing(text(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}\n"),
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let work = Arc::clone(&shared);
    let answer = match tokio::task::spawn_blocking(move || {
        answer_review(&bytes, &work.guarded, &work.checks)
    })
    .await
    {
        Ok(answer) => answer,
        Err(e) => {
            warn!(error = %e, "webhook review task failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "review failed\n");
        }
    };
    let s = &answer.summary;
    if answer.http_status == 200 && s.guarded {
        info!(uid = %s.uid, namespace = %s.namespace, name = %s.name, operation = %s.operation,
            allowed = s.allowed, bad_keys = s.bad_keys, kept_bad_keys = s.kept_bad_keys,
            refusal = %s.refusal, "admission review");
    } else if answer.http_status == 200 {
        debug!(uid = %s.uid, namespace = %s.namespace, name = %s.name, operation = %s.operation,
            allowed = s.allowed, bad_keys = 0, "admission review of an object not guarded: allowed");
    } else {
        info!(uid = %s.uid, allowed = false, bad_keys = 0, refusal = %s.refusal,
            "admission review refused: not a usable AdmissionReview");
    }
    let status = StatusCode::from_u16(answer.http_status).unwrap_or(StatusCode::BAD_REQUEST);
    let content_type = if status == StatusCode::OK {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    with_type(status, answer.body, content_type)
}

/// 413, and the connection closed (the rest of the body is never read).
fn too_large(max: usize) -> Response<Full<Bytes>> {
    closing(text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {max} bytes\n"),
    ))
}

fn closing(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(CONNECTION, hyper::header::HeaderValue::from_static("close"));
    response
}

fn allow_only(status: StatusCode, allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = text(status, &format!("method not allowed; use {allow}\n"));
    response.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    response
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(
        status,
        body.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
    )
}

fn with_type(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}
