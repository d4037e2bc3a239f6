//! The listening socket for passive peers: accepts, hands each connection to the task of the
//! peer it comes from, and refuses strangers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

use crate::config::PeerConfig;
use crate::error::SpeakerError;

use super::md5;

/// Binds `address` and installs the MD5 keys of the passive peers on it.
pub(crate) fn bind(
    address: SocketAddr,
    peers: &[&PeerConfig],
) -> Result<TcpListener, SpeakerError> {
    let listen_err = |cause| SpeakerError::Listen { address, cause };
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(listen_err)?;
    socket.set_reuseaddr(true).map_err(listen_err)?;
    for peer in peers {
        if let Some(key) = &peer.md5_password {
            md5::set_md5_key(&socket, address.is_ipv6(), peer.address, key.0.as_bytes()).map_err(
                |cause| SpeakerError::Md5 {
                    peer: peer.address,
                    cause,
                },
            )?;
        }
    }
    socket.bind(address).map_err(listen_err)?;
    socket.listen(64).map_err(listen_err)
}

/// Accepts forever (until the peer tasks are gone).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    routes: BTreeMap<IpAddr, mpsc::Sender<TcpStream>>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed on the BGP listener");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = from.ip().to_canonical();
        match routes.get(&ip) {
            Some(tx) => {
                if tx.send(stream).await.is_err() {
                    return;
                }
            }
            None => {
                tracing::warn!(from = %from, "refused BGP connection from an unconfigured address");
                drop(stream);
            }
        }
    }
}
