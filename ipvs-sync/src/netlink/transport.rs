//! The byte pipe under the client: a trait, and its implementation on a blocking
//! `NETLINK_GENERIC` socket. I/O lives here and nowhere else in the module.
//!
//! Why a trait: the request/reply state machine in `client` (sequence numbers, ACK, multipart
//! dumps, errno) is tested byte-for-byte with a scripted transport on hosts without IPVS.

// I/O room (see clippy.toml): the netlink socket and its reply deadline.
#![allow(clippy::disallowed_methods)]

use std::io;
use std::time::Duration;

use netlink_sys::{Socket, protocols::NETLINK_GENERIC};

/// Receive buffer we ask the kernel for. Dumps of ~100k destinations (~20 MB) are drained as
/// they arrive, but a large buffer absorbs scheduling hiccups; the kernel caps it at
/// `net.core.rmem_max`.
pub const RECEIVE_BUFFER_BYTES: i32 = 8 * 1024 * 1024;

/// How long one receive waits for the kernel before the request is given up. Per datagram, not
/// per dump: a dump of 10,000 services arrives as many datagrams, each well within it, so only
/// a kernel that stops answering hits it.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Room for one datagram: twice the largest the kernel sends on this socket (a dump part is at
/// most 32 KiB).
const DATAGRAM_CAPACITY: usize = 64 * 1024;

/// Sends whole requests and receives whole datagrams.
pub trait NetlinkTransport {
    /// Sends one request (one or more netlink messages).
    fn send(&mut self, request: &[u8]) -> io::Result<()>;
    /// Replaces `datagram` with the next datagram received; blocks until one arrives, or fails
    /// with [`io::ErrorKind::TimedOut`] after [`NetlinkTransport::reply_timeout`].
    fn recv(&mut self, datagram: &mut Vec<u8>) -> io::Result<()>;

    /// How long one `recv` waits (named in the timeout error).
    fn reply_timeout(&self) -> Duration {
        DEFAULT_REPLY_TIMEOUT
    }

    /// Replaces the connection with a fresh one. Why: after a timeout the old socket may still
    /// receive the abandoned reply, and an abandoned dump keeps the socket's dump slot busy
    /// (the kernel answers a new dump with EBUSY until the old one is read out).
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A bound, blocking generic-netlink socket whose receives time out.
#[derive(Debug)]
pub struct SocketTransport {
    socket: Socket,
    reply_timeout: Duration,
}

impl SocketTransport {
    /// Opens the socket with [`DEFAULT_REPLY_TIMEOUT`].
    pub fn open() -> io::Result<Self> {
        Self::open_with_timeout(DEFAULT_REPLY_TIMEOUT)
    }

    /// Opens and binds the socket (port id chosen by the kernel), enlarges its receive buffer
    /// and makes every receive give up after `reply_timeout` (SO_RCVTIMEO; zero is raised to
    /// 1 ms, since zero would mean "wait forever").
    pub fn open_with_timeout(reply_timeout: Duration) -> io::Result<Self> {
        let reply_timeout = reply_timeout.max(Duration::from_millis(1));
        Ok(SocketTransport {
            socket: open_socket(reply_timeout)?,
            reply_timeout,
        })
    }
}

fn open_socket(reply_timeout: Duration) -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_GENERIC)?;
    socket.bind_auto()?;
    if let Err(error) = socket.set_rx_buf_sz(RECEIVE_BUFFER_BYTES) {
        // Not fatal: the default buffer works for small tables.
        tracing::warn!(%error, bytes = RECEIVE_BUFFER_BYTES, "could not raise SO_RCVBUF");
    }
    // ACKs without a copy of the request (Linux 4.3+): one allocation and copy less in the
    // kernel per write, and smaller datagrams to read. Only the error code is used here.
    if let Err(error) = socket.set_cap_ack(true) {
        tracing::debug!(%error, "NETLINK_CAP_ACK not supported: ACKs carry the request");
    }
    socket2::SockRef::from(&socket).set_read_timeout(Some(reply_timeout))?;
    Ok(socket)
}

/// A receive that hit SO_RCVTIMEO (EAGAIN on a blocking socket) becomes `TimedOut`.
fn timed_out(error: io::Error, after: Duration) -> io::Error {
    if error.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no datagram within {after:?}"),
        )
    } else {
        error
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
        // One syscall per datagram: the kernel's datagrams on this socket are at most 32 KiB
        // (a dump part is capped there; ACKs and single replies are a page), so a buffer of
        // twice that always holds one whole. MSG_TRUNC makes the kernel report the full size
        // anyway, so a datagram that did not fit is an error, never silently cut.
        datagram.clear();
        datagram.reserve(DATAGRAM_CAPACITY);
        let capacity = datagram.capacity();
        let size = retry_eintr(|| {
            datagram.clear();
            self.socket.recv(datagram, libc::MSG_TRUNC)
        })
        .map_err(|e| timed_out(e, self.reply_timeout))?;
        if size > capacity {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("netlink datagram of {size} bytes truncated to {capacity}"),
            ));
        }
        Ok(())
    }

    fn reply_timeout(&self) -> Duration {
        self.reply_timeout
    }

    fn reopen(&mut self) -> io::Result<()> {
        // The old socket closes when replaced: whatever the kernel still had for it goes too.
        self.socket = open_socket(self.reply_timeout)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A real generic-netlink socket to which nothing answers (no request sent): the receive
    /// gives up after the timeout instead of blocking forever. Fails without SO_RCVTIMEO (the
    /// test hangs) or without the EAGAIN -> TimedOut mapping.
    #[test]
    fn a_receive_nobody_answers_times_out() {
        let mut transport = SocketTransport::open_with_timeout(Duration::from_millis(200))
            .expect("NETLINK_GENERIC socket");
        let started = Instant::now();
        let error = transport
            .recv(&mut Vec::new())
            .expect_err("nothing to receive");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(transport.reply_timeout(), Duration::from_millis(200));
        transport.reopen().expect("reopen");
        let error = transport.recv(&mut Vec::new()).expect_err("still nothing");
        assert_eq!(
            error.kind(),
            io::ErrorKind::TimedOut,
            "the new socket times out too"
        );
    }

    /// A real multipart reply (the kernel's list of generic netlink families, which every
    /// Linux has) arrives whole, one datagram per receive, up to its NLMSG_DONE. Mutation: a
    /// buffer smaller than a datagram fails with InvalidData instead of cutting it.
    #[test]
    fn a_dump_is_received_whole_one_datagram_per_receive() {
        use netlink_packet_core::{NLMSG_DONE, NetlinkBuffer, NetlinkHeader, NetlinkMessage};
        use netlink_packet_generic::GenlMessage;
        use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};

        // CTRL_CMD_GETFAMILY without a name, as a dump: every family.
        let ctrl = GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: Vec::new(),
        };
        let mut header = NetlinkHeader::default();
        header.flags = super::super::requests::FLAGS_DUMP;
        header.sequence_number = 7;
        let mut packet = NetlinkMessage::new(header, GenlMessage::from_payload(ctrl).into());
        packet.finalize();
        let mut request = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut request);
        let mut transport =
            SocketTransport::open_with_timeout(Duration::from_secs(5)).expect("socket");
        transport.send(&request).expect("send");
        let mut datagram = Vec::new();
        let mut families = 0;
        for _ in 0..1000 {
            transport.recv(&mut datagram).expect("a whole datagram");
            let frames = super::super::reply::split_frames(&datagram).expect("whole frames");
            for frame in frames {
                if NetlinkBuffer::new(frame).message_type() == NLMSG_DONE {
                    assert!(families > 0, "the family list names nlctrl at least");
                    return;
                }
                families += 1;
            }
        }
        panic!("no NLMSG_DONE after 1000 datagrams");
    }
}
