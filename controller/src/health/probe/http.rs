//! A minimal HTTP/1.0 GET for health checks: one request, `Connection: close`, the answer read
//! up to a size limit. HTTP/1.0 so that no server answers with chunked encoding.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ProbeFailure;

/// At most this much of an answer is read: enough for a status line, headers and a health
/// page; a larger body is cut (the substring must appear within it).
const MAX_ANSWER: usize = 64 * 1024;

/// What the answer must show.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expect<'a> {
    /// Status code.
    pub(super) status: u16,
    /// Substring of the body, if any.
    pub(super) body: Option<&'a str>,
}

/// GETs `path` from `addr` over `stream` and checks the answer.
pub(super) async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    path: &str,
    expect: Expect<'_>,
) -> Result<(), ProbeFailure> {
    let io = |cause| ProbeFailure::Io { addr, cause };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: lbctl-health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut answer = Vec::with_capacity(1024);
    let mut limited = (&mut stream).take(MAX_ANSWER as u64);
    if let Err(cause) = limited.read_to_end(&mut answer).await {
        // A server that resets after a complete answer is still a complete answer.
        if answer.is_empty() {
            return Err(io(cause));
        }
    }
    check(&answer, addr, expect)
}

/// Checks a raw answer (pure; separate for tests).
pub(super) fn check(
    answer: &[u8],
    addr: SocketAddr,
    expect: Expect<'_>,
) -> Result<(), ProbeFailure> {
    let malformed = |detail: &str| ProbeFailure::Malformed {
        addr,
        detail: detail.to_owned(),
    };
    let line_end = answer
        .windows(2)
        .position(|w| w == b"\r\n")
        .or_else(|| answer.iter().position(|b| *b == b'\n'))
        .ok_or_else(|| malformed("no status line"))?;
    let status_line = String::from_utf8_lossy(&answer[..line_end]);
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(malformed("status line does not start with HTTP/"));
    }
    let got: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed("no numeric status code"))?;
    if got != expect.status {
        return Err(ProbeFailure::Status {
            addr,
            got,
            want: expect.status,
        });
    }
    if let Some(want) = expect.body {
        let body_start = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or(answer.len());
        let body = &answer[body_start..];
        let found = want.is_empty() || body.windows(want.len()).any(|w| w == want.as_bytes());
        if !found {
            return Err(ProbeFailure::Body {
                addr,
                want: want.to_owned(),
            });
        }
    }
    Ok(())
}
