//! TLS for HTTPS checks. The server's certificate is not verified (like keepalived's
//! SSL_GET): real servers are addressed by pod IP and often use self-signed certificates; the
//! check proves that the server completes a handshake and answers, not who it is. Handshake
//! signatures are still verified, so a broken TLS stack fails the check: against the public key
//! read from the certificate alone, since webpki refuses X.509 v1 certificates (what
//! `openssl req -x509` makes without extensions, and what old appliances serve) before it looks
//! at a signature, and keepalived's SSL_GET accepts them.

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
    CryptoProvider, WebPkiSupportedAlgorithms, ring, verify_tls13_signature_with_raw_key,
};
use tokio_rustls::rustls::pki_types::{
    CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, PeerMisbehaved, SignatureScheme,
};
use x509_cert::der::{Decode, Encode};

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
        verify_by_public_key(
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
        verify_tls13_signature_with_raw_key(
            message,
            &public_key_of(cert)?,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks a TLS 1.2 handshake signature against the certificate's public key (any X.509
/// version); TLS 1.3 has rustls' own function for that, which also refuses the schemes 1.3
/// does not allow.
fn verify_by_public_key(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let spki = public_key_of(cert)?;
    let key = webpki::RawPublicKeyEntity::try_from(&spki)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, candidates)| *candidates)
        .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
    if candidates.iter().any(|algorithm| {
        key.verify_signature(*algorithm, message, dss.signature())
            .is_ok()
    }) {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }
}

/// The certificate's SubjectPublicKeyInfo, re-encoded as DER.
fn public_key_of(
    cert: &CertificateDer<'_>,
) -> Result<SubjectPublicKeyInfoDer<'static>, rustls::Error> {
    let bad = |_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).map_err(bad)?;
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(bad)?;
    Ok(SubjectPublicKeyInfoDer::from(spki))
}
