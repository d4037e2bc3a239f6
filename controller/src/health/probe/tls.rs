//! TLS for HTTPS checks. The server's certificate is not verified (like keepalived's
//! SSL_GET): real servers are addressed by pod IP and often use self-signed certificates; the
//! check proves that the server completes a handshake and answers, not who it is. Handshake
//! signatures are still verified, so a broken TLS stack fails the check.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::ProbeFailure;

/// The TLS client of HTTPS checks, built once and shared by every probe.
#[derive(Clone)]
pub(crate) struct TlsProbeConfig {
    connector: Result<TlsConnector, Arc<rustls::Error>>,
}

impl TlsProbeConfig {
    /// Builds the client (ring provider, TLS 1.2 and 1.3). If that fails, HTTPS checks fail
    /// with the reason instead of the daemon refusing to start.
    pub(crate) fn new() -> Self {
        let provider = Arc::new(ring::default_provider());
        let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
        let connector = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| {
                let config = builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth();
                TlsConnector::from(Arc::new(config))
            })
            .map_err(|error| {
                tracing::error!(%error, "cannot build the TLS client of HTTPS health checks");
                Arc::new(error)
            });
        TlsProbeConfig { connector }
    }

    /// Runs the TLS handshake on an established connection to `addr`.
    pub(crate) async fn handshake(
        &self,
        addr: SocketAddr,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, ProbeFailure> {
        let connector = self.connector.as_ref().map_err(|error| ProbeFailure::Tls {
            addr,
            cause: io::Error::other(Arc::clone(error)),
        })?;
        let name = ServerName::IpAddress(addr.ip().into());
        connector
            .connect(name, stream)
            .await
            .map_err(|cause| ProbeFailure::Tls { addr, cause })
    }
}

/// Accepts any certificate chain but checks handshake signatures (see the module docs).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
