//! `GET /metrics`, streamed: a blocking task writes the exposition in chunks of 64 KiB into a
//! small channel and the response body sends them as they come, so a scrape of 110,000
//! endpoints (about 100 MB of text) holds a few chunks, not the whole text. gzip when the
//! scraper's `Accept-Encoding` allows it. A scraper that goes away stops the writing (the
//! channel closes); a writer that fails or dies ends the body with an error, so the client
//! sees a broken transfer instead of a complete-looking partial scrape.

use std::convert::Infallible;
use std::error::Error;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;
use tracing::warn;

use super::routes::HttpState;
use crate::metrics::BodyEncoding;

/// The body of every response: a whole small text, or the streamed scrape.
pub(crate) type ResponseBody = BoxBody<Bytes, BodyError>;

/// Why a streamed body ended early.
pub(crate) type BodyError = Box<dyn Error + Send + Sync>;

/// The content type of the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Chunks written but not yet sent, per scrape: with 64 KiB chunks, 256 KiB in flight.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A whole response as a [`ResponseBody`].
pub(super) fn boxed(response: Response<Full<Bytes>>) -> Response<ResponseBody> {
    response.map(|body| body.map_err(|never: Infallible| match never {}).boxed())
}

/// What the writing task sends to the body.
enum Piece {
    Data(Bytes),
    /// Everything was written.
    Done,
    /// The writing failed; the body ends with this error.
    Failed(String),
}

/// The `/metrics` response: headers at once, the body as the blocking writer produces it.
/// HEAD gets the headers only and costs no dump.
pub(super) fn metrics(state: &HttpState, req: &Request<Incoming>) -> Response<ResponseBody> {
    let encoding = if accepts_gzip(req.headers()) {
        BodyEncoding::Gzip
    } else {
        BodyEncoding::Plain
    };
    let body = if req.method() == Method::HEAD {
        Empty::new().map_err(|never| match never {}).boxed()
    } else {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let metrics = Arc::clone(&state.metrics);
        // The IPVS collector reads the kernel over a blocking netlink socket, and the
        // writing is CPU work of up to a second at 110,000 endpoints.
        tokio::task::spawn_blocking(move || {
            let written = metrics.write_scrape(encoding, |chunk| {
                tx.blocking_send(Piece::Data(chunk))
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the scraper left"))
            });
            let end = match written {
                Ok(()) => Piece::Done,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return,
                Err(e) => {
                    warn!(error = %e, "writing /metrics failed");
                    Piece::Failed(e.to_string())
                }
            };
            let _ = tx.blocking_send(end);
        });
        ScrapeBody {
            rx,
            finished: false,
        }
        .boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if encoding == BodyEncoding::Gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` allows gzip: `gzip` (or `x-gzip`) listed with a non-zero
/// quality, or `*` with a non-zero quality and gzip not refused. No header: plain.
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let allowed = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .all(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(allowed);
            } else if coding == "*" {
                any = Some(allowed);
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// The streamed body: chunks from the writing task until it says it is done.
struct ScrapeBody {
    rx: mpsc::Receiver<Piece>,
    finished: bool,
}

impl Body for ScrapeBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let piece = ready!(this.rx.poll_recv(cx));
        Poll::Ready(match piece {
            Some(Piece::Data(chunk)) => Some(Ok(Frame::data(chunk))),
            Some(Piece::Done) => {
                this.finished = true;
                None
            }
            Some(Piece::Failed(why)) => {
                this.finished = true;
                Some(Err(why.into()))
            }
            None => {
                this.finished = true;
                Some(Err("the /metrics writer stopped before the end".into()))
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    /// Fails if gzip were sent without being asked for, or refused when asked (q=0 too).
    #[test]
    fn gzip_only_when_the_scraper_accepts_it() {
        assert!(accepts_gzip(&headers(&["gzip"])));
        assert!(accepts_gzip(&headers(&["deflate, GZIP;q=0.5"])));
        assert!(accepts_gzip(&headers(&["identity", "x-gzip"])));
        assert!(accepts_gzip(&headers(&["*"])));
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&["identity"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=0"])));
        assert!(!accepts_gzip(&headers(&["*;q=1, gzip;q=0.0"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=zero"])));
        assert!(!accepts_gzip(&headers(&["br"])));
    }
}
