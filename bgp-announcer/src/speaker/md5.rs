//! TCP MD5 signatures (RFC 2385) through `setsockopt(TCP_MD5SIG)`.
//!
//! The key is installed per peer address on the socket before `connect` (active) or on the
//! listening socket (passive). A peer with a different key, or none, never completes the TCP
//! handshake: the kernel drops unsigned or badly signed segments silently, so a mismatch shows
//! up as a connect timeout, which the driver reports with that explanation.

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

/// Longest key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// Mirror of the kernel's `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY_LEN],
}

/// Installs `key` for segments to and from `peer` on `socket`. `socket_is_v6`: the socket is
/// an AF_INET6 socket (then IPv4 peers are given as IPv4-mapped addresses, as the kernel
/// sees them on such a socket).
pub(crate) fn set_md5_key(
    socket: &impl AsRawFd,
    socket_is_v6: bool,
    peer: IpAddr,
    key: &[u8],
) -> io::Result<()> {
    if key.is_empty() || key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP MD5 key must be 1 to 80 octets",
        ));
    }
    let peer = match (socket_is_v6, peer) {
        (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        (_, other) => other,
    };
    let mut sig = TcpMd5Sig {
        addr: sockaddr_storage_of(SocketAddr::new(peer, 0)),
        flags: 0,
        prefixlen: 0,
        keylen: u16::try_from(key.len()).unwrap_or(0),
        ifindex: 0,
        key: [0; MD5_MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    setsockopt_md5(socket.as_raw_fd(), &sig)
}

#[allow(unsafe_code)]
fn setsockopt_md5(fd: std::os::fd::RawFd, sig: &TcpMd5Sig) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<TcpMd5Sig>())
        .map_err(|_| io::Error::other("tcp_md5sig size does not fit socklen_t"))?;
    // SAFETY: `fd` is an open socket owned by the caller for the duration of the call;
    // `sig` points to a fully initialised `repr(C)` struct laid out like the kernel's
    // `struct tcp_md5sig`, and `len` is exactly its size, so the kernel reads only valid
    // memory. The kernel does not keep the pointer after returning.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            (sig as *const TcpMd5Sig).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn sockaddr_storage_of(addr: SocketAddr) -> libc::sockaddr_storage {
    // An all-zero sockaddr_storage is a valid value (family AF_UNSPEC); we fill the prefix.
    let mut storage = empty_storage();
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            write_prefix(&mut storage, &sin);
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            write_prefix(&mut storage, &sin6);
        }
    }
    storage
}

#[allow(unsafe_code)]
fn empty_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data (integers and byte arrays); all-zero bytes
    // are a valid value of it.
    unsafe { mem::zeroed() }
}

#[allow(unsafe_code)]
fn write_prefix<T: Copy>(storage: &mut libc::sockaddr_storage, value: &T) {
    const {
        assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
    }
    // SAFETY: `T` is a sockaddr_in/sockaddr_in6, no larger than sockaddr_storage (checked at
    // compile time above), and sockaddr_storage has the strictest alignment of the sockaddr
    // types by definition, so writing a `T` at its start is in bounds and aligned.
    unsafe {
        std::ptr::write((storage as *mut libc::sockaddr_storage).cast::<T>(), *value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_key_lengths_before_the_kernel() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let err = set_md5_key(&sock, false, peer, &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = set_md5_key(&sock, false, peer, &[b'x'; 81]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn installs_a_key_on_a_tcp_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        // Fails only on kernels built without CONFIG_TCP_MD5SIG.
        set_md5_key(&listener, false, peer, b"secret").unwrap();
        // A UDP socket is not TCP: the kernel must refuse the option.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(set_md5_key(&udp, false, peer, b"secret").is_err());
    }
}
