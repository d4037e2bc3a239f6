//! How operator commands talk to a running daemon: one HTTP/1.0 request over TCP (the read
//! endpoints at `listen_address`) or over the Unix control socket (operator actions), with a
//! deadline on the whole exchange so a stuck daemon never hangs the command.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why a request to the daemon got no usable answer. `target` is the endpoint and path.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the TCP address.
    #[error("cannot connect to the daemon at {address}")]
    Connect {
        /// The daemon's listen address.
        address: SocketAddr,
        /// The connect failure.
        #[source]
        cause: std::io::Error,
    },
    /// The control socket is missing or not ours to use; `hint` says what usually helps.
    #[error("cannot connect to the daemon's control socket {}{hint}", .socket.display())]
    ControlSocket {
        /// The socket path.
        socket: PathBuf,
        /// A hint for the common causes, or empty.
        hint: &'static str,
        /// The connect failure.
        #[source]
        cause: std::io::Error,
    },
    /// The socket refused a timeout.
    #[error(transparent)]
    Timeouts(std::io::Error),
    /// The request could not be sent.
    #[error("{target}: cannot send the request")]
    Send {
        /// Endpoint and path.
        target: String,
        /// The write failure.
        #[source]
        cause: std::io::Error,
    },
    /// Reading the answer failed.
    #[error("{target}: read failed")]
    Read {
        /// Endpoint and path.
        target: String,
        /// The read failure.
        #[source]
        cause: std::io::Error,
    },
    /// The whole exchange did not finish before the deadline.
    #[error("{target}: no complete answer in time")]
    Timeout {
        /// Endpoint and path.
        target: String,
    },
    /// The answer is not HTTP.
    #[error("{target}: malformed HTTP response")]
    Malformed {
        /// Endpoint and path.
        target: String,
    },
    /// The daemon answered with another status than 200.
    #[error("{target}: {status_line}: {body}")]
    Status {
        /// Endpoint and path.
        target: String,
        /// The answer's status line.
        status_line: String,
        /// The answer's body (the daemon's explanation), trimmed.
        body: String,
    },
}

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
) -> Result<String, ClientError> {
    let target = || format!("{endpoint}{path}");
    let deadline = Instant::now() + timeout;
    let raw = match endpoint {
        DaemonEndpoint::Tcp(address) => {
            let stream = TcpStream::connect_timeout(address, timeout).map_err(|cause| {
                ClientError::Connect {
                    address: *address,
                    cause,
                }
            })?;
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
                ClientError::ControlSocket {
                    socket: socket.clone(),
                    hint,
                    cause: e,
                }
            })?;
            exchange(stream, endpoint, method, path, deadline)?
        }
    };
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Malformed { target: target() })?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(ClientError::Status {
            target: target(),
            status_line: status_line.to_owned(),
            body: body.trim().to_owned(),
        });
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
) -> Result<Vec<u8>, ClientError> {
    let target = || format!("{endpoint}{path}");
    let timed_out = || ClientError::Timeout { target: target() };
    let remaining = |deadline: Instant| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    stream
        .set_timeouts(remaining(deadline).ok_or_else(timed_out)?)
        .map_err(ClientError::Timeouts)?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|cause| ClientError::Send {
        target: target(),
        cause,
    })?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream
            .set_timeouts(remaining(deadline).ok_or_else(timed_out)?)
            .map_err(ClientError::Timeouts)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timed_out());
            }
            Err(e) => {
                return Err(ClientError::Read {
                    target: target(),
                    cause: e,
                });
            }
        }
    }
}
