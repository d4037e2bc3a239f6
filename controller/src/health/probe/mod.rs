//! The probes: TCP connect, HTTP(S) GET, exec. Each is one async function that succeeds or
//! says why it failed; the caller bounds it with the check's timeout and a concurrency limit.

mod exec;
mod http;
mod sandbox;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::process::ExitStatus;

use thiserror::Error;
use tokio::net::TcpStream;

use super::check::{Check, ProbeSpec};
pub(crate) use sandbox::ExecPolicy;
#[cfg(test)]
pub(crate) use sandbox::ExecSandbox;
pub(crate) use tls::TlsProbeConfig;

/// Why a probe failed.
#[derive(Debug, Error)]
pub(crate) enum ProbeFailure {
    /// The TCP connection was refused, reset or unroutable.
    #[error("connect to {addr} failed: {cause}")]
    Connect {
        /// Address probed.
        addr: SocketAddr,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {addr} failed: {cause}")]
    Tls {
        /// Address probed.
        addr: SocketAddr,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// Sending the request or reading the answer failed.
    #[error("HTTP exchange with {addr} failed: {cause}")]
    Io {
        /// Address probed.
        addr: SocketAddr,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// The answer was not HTTP.
    #[error("malformed HTTP answer from {addr}: {detail}")]
    Malformed {
        /// Address probed.
        addr: SocketAddr,
        /// What was wrong.
        detail: String,
    },
    /// The status code was not the expected one.
    #[error("HTTP status {got} from {addr}, expected {want}")]
    Status {
        /// Address probed.
        addr: SocketAddr,
        /// Status received.
        got: u16,
        /// Status expected.
        want: u16,
    },
    /// The body lacked the expected text.
    #[error("HTTP body from {addr} does not contain {want:?}")]
    Body {
        /// Address probed.
        addr: SocketAddr,
        /// Text expected.
        want: String,
    },
    /// The exec check has no program.
    #[error("exec check without a command")]
    EmptyCommand,
    /// The program may not run here (exec checks off, or the program failed the sandbox's
    /// checks): a fault of the director's set-up, not of the real server, so no verdict.
    #[error("exec check {program:?} refused: {reason}")]
    ExecRefused {
        /// The program as the ConfigMap names it (shortened).
        program: String,
        /// Why.
        reason: String,
    },
    /// The program could not be started.
    #[error("cannot run {program:?}: {cause}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("{program:?} {status}")]
    Exit {
        /// The program.
        program: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// No answer within the check's timeout.
    #[error("no result within {0:?}")]
    Timeout(std::time::Duration),
}

impl ProbeFailure {
    /// Why the failure says nothing about the real server, so that it gives no verdict: a
    /// refused exec check (`exec_refused`: the director's set-up), or the errno's name when
    /// the probe lacked a local resource (descriptors, buffers, memory). Counting either would
    /// quiesce healthy real servers.
    pub(crate) fn no_verdict_reason(&self) -> Option<&'static str> {
        if matches!(self, ProbeFailure::ExecRefused { .. }) {
            return Some("exec_refused");
        }
        let (ProbeFailure::Connect { cause, .. }
        | ProbeFailure::Tls { cause, .. }
        | ProbeFailure::Io { cause, .. }
        | ProbeFailure::Spawn { cause, .. }) = self
        else {
            return None;
        };
        match cause.raw_os_error()? {
            libc::EMFILE => Some("EMFILE"),
            libc::ENFILE => Some("ENFILE"),
            libc::ENOBUFS => Some("ENOBUFS"),
            libc::ENOMEM => Some("ENOMEM"),
            _ => None,
        }
    }
}

/// Runs one probe of `check` (without a timeout: the caller adds it).
pub(crate) async fn probe(
    check: &Check,
    tls: &TlsProbeConfig,
    exec: &ExecPolicy,
) -> Result<(), ProbeFailure> {
    match &check.probe {
        ProbeSpec::Tcp { addr } => connect(*addr).await.map(drop),
        ProbeSpec::Http {
            addr,
            tls: use_tls,
            path,
            expect_status,
            expect_body,
        } => {
            let expect = http::Expect {
                status: *expect_status,
                body: expect_body.as_deref(),
            };
            let stream = connect(*addr).await?;
            if *use_tls {
                let stream = tls.handshake(*addr, stream).await?;
                http::get(stream, *addr, path, expect).await
            } else {
                http::get(stream, *addr, path, expect).await
            }
        }
        ProbeSpec::Exec { command } => exec::run(command, &check.key, exec).await,
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, ProbeFailure> {
    TcpStream::connect(addr)
        .await
        .map_err(|cause| ProbeFailure::Connect { addr, cause })
}

#[cfg(test)]
mod tests;
