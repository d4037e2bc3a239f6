//! The byte pipe under the client: a trait, and its implementation on a blocking
//! `NETLINK_GENERIC` socket. I/O lives here and nowhere else in the module.
//!
//! Why a trait: the request/reply state machine in `client` (sequence numbers, ACK, multipart
//! dumps, errno) is tested byte-for-byte with a scripted transport on hosts without IPVS.

use std::io;

use netlink_sys::{Socket, protocols::NETLINK_GENERIC};

/// Receive buffer we ask the kernel for. Dumps of ~100k destinations (~20 MB) are drained as
/// they arrive, but a large buffer absorbs scheduling hiccups; the kernel caps it at
/// `net.core.rmem_max`.
pub const RECEIVE_BUFFER_BYTES: i32 = 8 * 1024 * 1024;

/// Initial capacity for one datagram; grown on demand (the kernel's dump chunks are ~32 KiB).
const INITIAL_DATAGRAM_CAPACITY: usize = 64 * 1024;

/// Sends whole requests and receives whole datagrams.
pub trait NetlinkTransport {
    /// Sends one request (one or more netlink messages).
    fn send(&mut self, request: &[u8]) -> io::Result<()>;
    /// Replaces `datagram` with the next datagram received; blocks until one arrives.
    fn recv(&mut self, datagram: &mut Vec<u8>) -> io::Result<()>;
}

/// A bound, blocking generic-netlink socket.
#[derive(Debug)]
pub struct SocketTransport {
    socket: Socket,
}

impl SocketTransport {
    /// Opens and binds the socket (port id chosen by the kernel) and enlarges its receive buffer.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        if let Err(error) = socket.set_rx_buf_sz(RECEIVE_BUFFER_BYTES) {
            // Not fatal: the default buffer works for small tables.
            tracing::warn!(%error, bytes = RECEIVE_BUFFER_BYTES, "could not raise SO_RCVBUF");
        }
        Ok(SocketTransport { socket })
    }
}

/// Retries a syscall interrupted by a signal.
fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl NetlinkTransport for SocketTransport {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        let sent = retry_eintr(|| self.socket.send(request, 0))?;
        if sent != request.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", request.len()),
            ));
        }
        Ok(())
    }

    fn recv(&mut self, datagram: &mut Vec<u8>) -> io::Result<()> {
        // Peek with MSG_TRUNC to learn the datagram's full size, so nothing is ever truncated.
        datagram.clear();
        datagram.reserve(INITIAL_DATAGRAM_CAPACITY);
        let size = retry_eintr(|| {
            datagram.clear();
            self.socket.recv(datagram, libc::MSG_PEEK | libc::MSG_TRUNC)
        })?;
        datagram.clear();
        datagram.reserve(size);
        let read = retry_eintr(|| {
            datagram.clear();
            self.socket.recv(datagram, 0)
        })?;
        if read != datagram.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("datagram of {read} bytes truncated to {}", datagram.len()),
            ));
        }
        Ok(())
    }
}
