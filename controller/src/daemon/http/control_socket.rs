//! The Unix control socket for operator actions: created with mode 0600 (owner only) before
//! any client can reach it, owned by the daemon's user; a stale file from a crashed daemon is
//! replaced, a live one (another daemon listening) makes the start fail.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use super::serve::{Listener, Peer};

/// Why the control socket could not be opened.
#[derive(Debug, Error)]
pub(crate) enum ControlSocketError {
    /// Another process answers on the path: most likely a daemon that is already running.
    #[error(
        "{path}: another process is listening on this control socket (is `lbctl run` already \
         running?); refusing to start"
    )]
    InUse {
        /// The socket's path.
        path: PathBuf,
    },
    /// Something other than a socket has the path; it is left alone.
    #[error("{path}: exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A file-system step failed.
    #[error("{path}: cannot {action}: {cause}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The cause (in the message, so not a `source()`).
        cause: io::Error,
    },
}

/// The bound control socket; dropping it removes the file if it is still this socket's.
pub(crate) struct ControlSocket {
    path: PathBuf,
    /// Device and inode of the file this daemon created.
    identity: (u64, u64),
    listener: UnixListener,
    /// Root and the socket's owner (the daemon's user) may use it.
    owner_uid: u32,
}

impl ControlSocket {
    /// Binds `path` with mode 0600 (see the module docs). Needs a tokio runtime.
    pub(crate) fn bind(path: &Path) -> Result<Self, ControlSocketError> {
        let io_error = |action, path: &Path| {
            let path = path.to_owned();
            move |cause| ControlSocketError::Io {
                action,
                path,
                cause,
            }
        };
        if let Some(parent) = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.exists())
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io_error("create the directory", parent))?;
        }
        remove_if_stale(path)?;
        // Bind under a temporary name, restrict it, then move it into place: no client ever
        // sees the socket with the umask's mode.
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".new");
        let temporary = PathBuf::from(temporary);
        match fs::remove_file(&temporary) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove the old temporary socket", &temporary)(e)),
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&temporary)
            .map_err(io_error("bind", &temporary))?;
        let placed = fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))
            .map_err(io_error("set mode 0600 on", &temporary))
            .and_then(|()| fs::rename(&temporary, path).map_err(io_error("move into place", path)));
        if let Err(e) = placed {
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
        let metadata = fs::metadata(path).map_err(io_error("read the metadata of", path))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io_error("configure", path))?;
        let listener = UnixListener::from_std(std_listener).map_err(io_error("register", path))?;
        info!(path = %path.display(), "control socket listening (mode 0600)");
        Ok(ControlSocket {
            path: path.to_owned(),
            identity: (metadata.dev(), metadata.ino()),
            listener,
            owner_uid: metadata.uid(),
        })
    }

    /// The socket's path.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let ours =
            fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Listener for ControlSocket {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, Peer)> {
        let (stream, _) = self.listener.accept().await?;
        let credentials = stream.peer_cred().ok();
        let uid = credentials.map(|c| c.uid());
        let peer = Peer::Local {
            uid,
            pid: credentials.and_then(|c| c.pid()),
            allowed: uid.is_some_and(|uid| uid == 0 || uid == self.owner_uid),
        };
        Ok((stream, peer))
    }
}

/// Removes a socket file nobody listens on; refuses a live socket or any other file.
fn remove_if_stale(path: &Path) -> Result<(), ControlSocketError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => {
            return Err(ControlSocketError::Io {
                action: "inspect",
                path: path.to_owned(),
                cause,
            });
        }
    };
    if !metadata.file_type().is_socket() {
        return Err(ControlSocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(ControlSocketError::InUse {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            warn!(path = %path.display(), "removing a stale control socket (nobody listens on it)");
            fs::remove_file(path).map_err(|cause| ControlSocketError::Io {
                action: "remove the stale socket",
                path: path.to_owned(),
                cause,
            })
        }
        Err(cause) => Err(ControlSocketError::Io {
            action: "check whether anyone listens on",
            path: path.to_owned(),
            cause,
        }),
    }
}
