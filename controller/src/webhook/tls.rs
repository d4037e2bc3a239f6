//! The webhook's server certificate, read from PEM files and read again when they change, so
//! cert-manager (or an operator) can rotate it without a restart.
//!
//! At most once per check interval, a TLS handshake looks at both files' size, modification
//! time and inode (two `stat`s; the kubelet swaps a mounted Secret's files with one symlink
//! rename, which changes all three). When they changed, both files are read and checked
//! (certificate chain parses, key parses and matches the certificate); a pair that does not
//! load (e.g. the certificate written, the key not yet) keeps the old certificate in service
//! and is tried again when the files change again. The two `stat`s (and, on a change, the
//! two small reads) run on the handshake's runtime thread: too little to hand off.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tracing::{info, warn};

/// Why a certificate or key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file cannot be read or holds no usable PEM section.
    #[error("cannot read the TLS {what} from {}: {cause}", .path.display())]
    File {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        cause: String,
    },
    /// The key cannot sign, or does not belong to the certificate.
    #[error("the TLS key {} does not fit the certificate {}: {cause}", .key.display(), .cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        cause: String,
    },
}

/// The PEM files of the server certificate (chain, leaf first) and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key: PathBuf,
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(u64, SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?, meta.ino()))
}

/// Loads the certificate chain and key and checks that they belong together.
pub fn load_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertError> {
    let cert_error = |cause: String| CertError::File {
        what: "certificate",
        path: files.cert.clone(),
        cause,
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE section".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| CertError::File {
        what: "private key",
        path: files.key.clone(),
        cause: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| CertError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        cause: e.to_string(),
    })
}

/// The state behind the lock: what is served and which file versions it came from.
struct Current {
    key: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
    checked_at: Instant,
}

/// A certificate resolver that re-reads [`TlsFiles`] when they change (see the module doc).
pub struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    check_interval: Duration,
    current: Mutex<Current>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the files once (an error here stops the webhook from starting).
    pub fn new(
        files: TlsFiles,
        provider: Arc<CryptoProvider>,
        check_interval: Duration,
    ) -> Result<Self, CertError> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let key = Arc::new(load_certified_key(&files, &provider)?);
        Ok(ReloadingCert {
            files,
            provider,
            check_interval,
            current: Mutex::new(Current {
                key,
                stamps,
                checked_at: Instant::now(),
            }),
        })
    }

    /// The certificate to serve now, re-read first when the files changed.
    fn serve(&self) -> Arc<CertifiedKey> {
        // A poisoned lock only means a panic elsewhere mid-update; the state is still whole.
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked_at.elapsed() < self.check_interval {
            return Arc::clone(&current.key);
        }
        current.checked_at = Instant::now();
        let stamps = (stamp(&self.files.cert), stamp(&self.files.key));
        if stamps != current.stamps {
            // Remembered even when loading fails, so a broken pair is logged once, not on
            // every handshake; the next change of either file tries again.
            current.stamps = stamps;
            match load_certified_key(&self.files, &self.provider) {
                Ok(key) => {
                    info!(cert = %self.files.cert.display(), "webhook TLS certificate reloaded");
                    current.key = Arc::new(key);
                }
                Err(e) => warn!(error = %e,
                    "webhook TLS certificate changed on disk but cannot be used: still serving the previous one"),
            }
        }
        Arc::clone(&current.key)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.serve())
    }
}
