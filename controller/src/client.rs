//! How operator commands talk to a running daemon: one HTTP/1.0 request over TCP (the read
//! endpoints at `listen_address`) or over the Unix control socket (operator actions), with a
//! deadline on the whole exchange so a stuck daemon never hangs the command.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonEndpoint {
    /// The TCP listener (read endpoints only).
    Tcp(SocketAddr),
    /// The Unix control socket (reads and operator actions).
    Control(PathBuf),
}

impl fmt::Display for DaemonEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonEndpoint::Tcp(address) => write!(f, "{address}"),
            DaemonEndpoint::Control(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One request; the body of a 200 answer, else an error with the status line and body.
/// `timeout` bounds the whole exchange (connect, send, receive).
pub fn request(
    endpoint: &DaemonEndpoint,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let raw = match endpoint {
        DaemonEndpoint::Tcp(address) => {
            let stream = TcpStream::connect_timeout(address, timeout)
                .with_context(|| format!("cannot connect to the daemon at {address}"))?;
            exchange(stream, endpoint, method, path, deadline)?
        }
        DaemonEndpoint::Control(socket) => {
            let stream = UnixStream::connect(socket).map_err(|e| {
                let hint = match e.kind() {
                    ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                        " (is `lbctl run` running? the path is the settings' http.control_socket)"
                    }
                    ErrorKind::PermissionDenied => {
                        " (the socket is for root and the daemon's user only)"
                    }
                    _ => "",
                };
                anyhow::Error::new(e).context(format!(
                    "cannot connect to the daemon's control socket {}{hint}",
                    socket.display()
                ))
            })?;
            exchange(stream, endpoint, method, path, deadline)?
        }
    };
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{endpoint}{path}: malformed HTTP response"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("{endpoint}{path}: {status_line}: {}", body.trim());
    }
    Ok(body.to_owned())
}

/// The two socket types the request goes over.
trait Timed: Read + Write {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()>;
}

impl Timed for TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

impl Timed for UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// Sends the request and reads the answer to its end, before `deadline`.
fn exchange(
    mut stream: impl Timed,
    endpoint: &DaemonEndpoint,
    method: &str,
    path: &str,
    deadline: Instant,
) -> Result<Vec<u8>> {
    let timed_out = || anyhow::anyhow!("{endpoint}{path}: no complete answer in time");
    let remaining = |deadline: Instant| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    stream.set_timeouts(remaining(deadline).ok_or_else(timed_out)?)?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    )
    .with_context(|| format!("{endpoint}{path}: cannot send the request"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream.set_timeouts(remaining(deadline).ok_or_else(timed_out)?)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("{endpoint}{path}: read failed")));
            }
        }
    }
}
