//! The I/O of `udp-*` and `sctp-*`: servers that answer every message with their name, and
//! clients that send numbered messages over one socket (one UDP flow, one SCTP association)
//! and print who answered each (see [`super::message`]).
//!
//! Blocking std/socket2 sockets, no runtime: a client is one socket and one loop of `count`
//! rounds, each bounded by the read timeout; a server thread per SCTP association ends after
//! [`SCTP_IDLE`] without a message, so no wait is unbounded except the servers' own accept
//! and receive loops, which run until the process is killed (as `serve` does).
//!
//! SCTP sockets are one-to-one style (`socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)`): connect,
//! accept, read and write work as for TCP, and each read returns at most one message, so
//! message boundaries survive (a 4 KiB buffer holds any message here).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{debug, warn};

use super::message::{answer, answered_by, request};
use super::options::ProbeOptions;

/// `IPPROTO_SCTP` (socket2 names it only with its `all` feature).
const IPPROTO_SCTP: i32 = 132;

/// An SCTP association without a message for this long is closed by the server.
pub const SCTP_IDLE: Duration = Duration::from_secs(120);

/// Largest message either side reads.
const MAX_MESSAGE: usize = 4096;

/// Binds `listen` and answers every datagram until the process is killed.
pub fn udp_serve(listen: SocketAddr, name: &str) -> io::Result<()> {
    let socket = UdpSocket::bind(listen)?;
    println!("flow-traffic: serving UDP as {name} on {listen}");
    udp_serve_socket(&socket, name)
}

/// Answers every datagram that reaches `socket` with `name` and the request (never returns
/// `Ok`; an error of one receive or send is logged and the loop goes on).
pub fn udp_serve_socket(socket: &UdpSocket, name: &str) -> io::Result<()> {
    let mut buf = [0u8; MAX_MESSAGE];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                let reply = answer(name, &String::from_utf8_lossy(&buf[..n]));
                if let Err(e) = socket.send_to(reply.as_bytes(), peer) {
                    debug!(%peer, error = %e, "UDP answer not sent");
                }
            }
            Err(e) => {
                // ICMP errors of earlier answers surface here; back off, never spin.
                debug!(error = %e, "UDP receive failed");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Sends `o.count` datagrams from one socket to `o.target` and writes the name in each answer
/// to `out`, one line each. Fails on the first message not answered within `o.timeout`.
pub fn udp_client(o: &ProbeOptions, out: &mut dyn Write) -> Result<(), String> {
    let local = SocketAddr::new(unspecified(o.target), o.source_port);
    let socket = UdpSocket::bind(local).map_err(|e| format!("cannot bind UDP {local}: {e}"))?;
    socket
        .connect(o.target)
        .map_err(|e| format!("cannot connect UDP to {}: {e}", o.target))?;
    let mut buf = [0u8; MAX_MESSAGE];
    for seq in 1..=o.count {
        if seq > 1 {
            thread::sleep(o.interval);
        }
        let sent = request(seq);
        socket
            .send(sent.as_bytes())
            .map_err(|e| format!("message {seq}/{}: send failed: {e}", o.count))?;
        let deadline = Instant::now() + o.timeout;
        // Late answers to earlier messages are skipped; the deadline bounds the loop.
        let name = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(no_answer(seq, o));
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| format!("cannot set the read timeout: {e}"))?;
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    match answered_by(&sent, &text) {
                        Some(name) => break name.to_owned(),
                        None => debug!(%text, "skipped an answer to another message"),
                    }
                }
                Err(e) if is_timeout(&e) => return Err(no_answer(seq, o)),
                Err(e) => return Err(format!("message {seq}/{}: receive failed: {e}", o.count)),
            }
        };
        writeln!(out, "{name}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write the answer: {e}"))?;
    }
    Ok(())
}

/// A one-to-one SCTP socket for `addr`'s family.
pub fn sctp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(Protocol::from(IPPROTO_SCTP)),
    )
}

/// Binds and listens on `listen`, then answers every message of every association until the
/// process is killed.
pub fn sctp_serve(listen: SocketAddr, name: &str) -> io::Result<()> {
    let socket = sctp_socket(listen)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(listen))?;
    socket.listen(128)?;
    println!("flow-traffic: serving SCTP as {name} on {listen}");
    sctp_serve_socket(&socket, name)
}

/// Accepts associations on the listening `socket`, one thread each (never returns `Ok`).
pub fn sctp_serve_socket(socket: &Socket, name: &str) -> io::Result<()> {
    loop {
        match socket.accept() {
            Ok((conn, peer)) => {
                let name = name.to_owned();
                thread::spawn(move || {
                    if let Err(e) = sctp_answer(&conn, &name) {
                        debug!(peer = ?peer.as_socket(), error = %e, "SCTP association ended with an error");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "SCTP accept failed");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Answers the messages of one association until the peer closes it or stays silent for
/// [`SCTP_IDLE`].
fn sctp_answer(conn: &Socket, name: &str) -> io::Result<()> {
    conn.set_read_timeout(Some(SCTP_IDLE))?;
    conn.set_write_timeout(Some(SCTP_IDLE))?;
    let mut buf = [0u8; MAX_MESSAGE];
    loop {
        let n = (&*conn).read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let reply = answer(name, &String::from_utf8_lossy(&buf[..n]));
        (&*conn).write_all(reply.as_bytes())?;
    }
}

/// Opens one association to `o.target` (from `o.source_port` if not 0), sends `o.count`
/// messages over it and writes the name in each answer to `out`, one line each. Fails when
/// the connect or an answer takes longer than `o.timeout`, or the association ends early.
pub fn sctp_client(o: &ProbeOptions, out: &mut dyn Write) -> Result<(), String> {
    let socket = sctp_socket(o.target).map_err(|e| format!("cannot open an SCTP socket: {e}"))?;
    if o.source_port != 0 {
        let local = SocketAddr::new(unspecified(o.target), o.source_port);
        socket
            .bind(&SockAddr::from(local))
            .map_err(|e| format!("cannot bind SCTP {local}: {e}"))?;
    }
    socket
        .connect_timeout(&SockAddr::from(o.target), o.timeout)
        .map_err(|e| format!("cannot connect SCTP to {}: {e}", o.target))?;
    socket
        .set_read_timeout(Some(o.timeout))
        .and_then(|()| socket.set_write_timeout(Some(o.timeout)))
        .map_err(|e| format!("cannot set the timeouts: {e}"))?;
    let mut buf = [0u8; MAX_MESSAGE];
    for seq in 1..=o.count {
        if seq > 1 {
            thread::sleep(o.interval);
        }
        let sent = request(seq);
        (&socket)
            .write_all(sent.as_bytes())
            .map_err(|e| format!("message {seq}/{}: send failed: {e}", o.count))?;
        let n = match (&socket).read(&mut buf) {
            Ok(0) => return Err(format!("message {seq}/{}: the association ended", o.count)),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => return Err(no_answer(seq, o)),
            Err(e) => return Err(format!("message {seq}/{}: receive failed: {e}", o.count)),
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        // SCTP delivers in order and exactly once: any other answer is an error.
        let name = answered_by(&sent, &text)
            .ok_or_else(|| format!("message {seq}/{}: unexpected answer {text:?}", o.count))?;
        writeln!(out, "{name}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write the answer: {e}"))?;
    }
    let _ = socket.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn unspecified(target: SocketAddr) -> IpAddr {
    match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn no_answer(seq: u32, o: &ProbeOptions) -> String {
    format!(
        "message {seq}/{}: no answer from {} within {} ms",
        o.count,
        o.target,
        o.timeout.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(target: SocketAddr, count: u32) -> ProbeOptions {
        ProbeOptions {
            target,
            source_port: 0,
            count,
            interval: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn udp_answers_on_loopback_name_the_server() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        thread::spawn(move || udp_serve_socket(&server, "rs-test"));
        let mut out = Vec::new();
        udp_client(&options(target, 3), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "rs-test\nrs-test\nrs-test\n"
        );
    }

    #[test]
    fn udp_client_sends_from_the_given_port_and_skips_late_answers() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        // A free port: bound, read, released (UDP has no TIME_WAIT).
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let peer = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, peer) = server.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"seq 1");
            // A stale answer first, then the right one: the client must print only the latter.
            server.send_to(b"old seq 0", peer).unwrap();
            server.send_to(b"rs9 seq 1", peer).unwrap();
            peer.port()
        });
        let mut o = options(target, 1);
        o.source_port = port;
        let mut out = Vec::new();
        udp_client(&o, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "rs9\n");
        assert_eq!(peer.join().unwrap(), port);
    }

    #[test]
    fn udp_client_fails_when_no_answer_comes() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut o = options(silent.local_addr().unwrap(), 2);
        o.timeout = Duration::from_millis(200);
        let started = Instant::now();
        let err = udp_client(&o, &mut Vec::new()).unwrap_err();
        assert!(err.contains("message 1/2: no answer"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn sctp_answers_on_loopback_name_the_server() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = match sctp_socket(any) {
            Ok(s) => s,
            // 93 EPROTONOSUPPORT, 94 ESOCKTNOSUPPORT: this kernel has no SCTP (the lab VM does).
            Err(e) if matches!(e.raw_os_error(), Some(93 | 94)) => {
                println!("skipped: no SCTP on this host ({e})");
                return;
            }
            Err(e) => panic!("cannot open an SCTP socket: {e}"),
        };
        listener.bind(&SockAddr::from(any)).unwrap();
        listener.listen(8).unwrap();
        let target = listener.local_addr().unwrap().as_socket().unwrap();
        thread::spawn(move || sctp_serve_socket(&listener, "rs-sctp"));
        let mut out = Vec::new();
        sctp_client(&options(target, 3), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "rs-sctp\nrs-sctp\nrs-sctp\n"
        );
    }
}
