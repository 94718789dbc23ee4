//! TLS on hosts (feature `host-tls`): `std::net` + rustls 0.23 (ring), TLS 1.2 and 1.3, for
//! the host CLI and tests. The server is authenticated by this crate's own verifier
//! ([`super::verify`], the same code the device path runs), the client by any HAL
//! [`Signer`] (P-256 with ECDSA; RSA with PKCS#1 v1.5, which TLS allows on 1.2 only), and the channel binding is the
//! RFC 9266 tls-exporter on TLS 1.3. rustls has no tls-unique, so on TLS 1.2 there is none.

use super::TransportFailure;
use super::blocking::Connect;
use super::verify::{ServerTrust, ServerVerifier, VerifyError, scheme};
use crate::hal::{KeyType, Signer};
use crate::time::UnixTime;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::boxed::Box;
use std::net::TcpStream;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec::Vec;

/// rustls' verifier over [`ServerVerifier`].
#[derive(Debug)]
struct CrateVerifier {
    anchor: Option<Vec<u8>>,
    host: String,
    now: Option<UnixTime>,
}

impl CrateVerifier {
    fn verifier(&self) -> Result<ServerVerifier<'_>, rustls::Error> {
        let trust = match &self.anchor {
            Some(a) => ServerTrust::Anchor(a),
            None => ServerTrust::Unauthenticated,
        };
        ServerVerifier::new(trust, &self.host, self.now).map_err(|_| rustls::Error::General("host name too long".to_string()))
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The chain was checked in verify_server_cert; here only the leaf's key matters.
        let mut v = self.verifier()?;
        v.set_leaf(cert.as_ref()).map_err(refused)?;
        v.verify_signed(u16::from(dss.scheme), message, dss.signature(), tls13).map_err(refused)?;
        Ok(HandshakeSignatureValid::assertion())
    }
}

/// The verifier's refusal, kept in the rustls error it becomes (for [`Connect::failure`]);
/// rustls prints it with `Debug`, so that is the sentence.
struct Refused(VerifyError);

impl core::fmt::Debug for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "refused by the crate's verifier: {}", self.0)
    }
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Refused {}

/// The verifier's refusal as a rustls error that keeps it.
fn refused(why: VerifyError) -> rustls::Error {
    warn!("tls: the server was refused: {}", why);
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(Arc::new(Refused(why)))))
}

/// What a connect error says: TCP, the handshake, or the server refused and why (the
/// verifier's reason, kept in the rustls error it became).
fn failure_of(error: &std::io::Error) -> TransportFailure {
    let tls = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            other.0.downcast_ref::<Refused>().map_or(TransportFailure::TlsHandshake, |why| TransportFailure::ServerRefused(why.0))
        }
        Some(_) => TransportFailure::TlsHandshake,
        None => TransportFailure::Connect,
    }
}

impl ServerCertVerifier for CrateVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut v = self.verifier()?;
        let chain = core::iter::once(end_entity.as_ref()).chain(intermediates.iter().map(|c| c.as_ref()));
        v.verify_chain(chain).map_err(refused)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        scheme::ALL.iter().map(|s| SignatureScheme::from(*s)).collect()
    }
}

/// A HAL [`Signer`] as a rustls client key.
#[derive(Debug)]
struct HalKey<S> {
    key: Arc<Mutex<S>>,
    key_type: KeyType,
}

#[derive(Debug)]
struct HalSigner<S> {
    key: Arc<Mutex<S>>,
    scheme: SignatureScheme,
}

impl<S: Signer + Send + core::fmt::Debug + 'static> rustls::sign::SigningKey for HalKey<S> {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        let prefs: &[SignatureScheme] = match self.key_type {
            KeyType::EcP256 => &[SignatureScheme::ECDSA_NISTP256_SHA256],
            // The HAL signs PKCS#1 v1.5 only (no raw RSA operation for PSS): TLS 1.2 only.
            KeyType::Rsa { .. } => &[SignatureScheme::RSA_PKCS1_SHA256],
        };
        let scheme = prefs.iter().find(|s| offered.contains(s))?;
        Some(Box::new(HalSigner { key: self.key.clone(), scheme: *scheme }))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        match self.key_type {
            KeyType::EcP256 => rustls::SignatureAlgorithm::ECDSA,
            KeyType::Rsa { .. } => rustls::SignatureAlgorithm::RSA,
        }
    }
}

impl<S: Signer + Send + core::fmt::Debug + 'static> rustls::sign::Signer for HalSigner<S> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let mut key = self.key.lock().map_err(|_| rustls::Error::General("device key lock".to_string()))?;
        let digest = crate::crypto::Digest::sha256(message);
        let mut raw = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let err = |_| rustls::Error::General("device key".to_string());
        let n = key.sign_prehash(&digest, &mut raw).map_err(|e| err(crate::hal::Error::kind(&e)))?;
        let raw = raw.get(..n).unwrap_or(&[]);
        match key.key_type() {
            KeyType::EcP256 => {
                let mut der = [0u8; crate::crypto::p256::MAX_DER_SIGNATURE_LEN];
                Ok(crate::crypto::p256::signature_raw_to_der(raw, &mut der)
                    .map_err(|_| rustls::Error::General("device key signature".to_string()))?
                    .to_vec())
            }
            KeyType::Rsa { .. } => Ok(raw.to_vec()),
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// Which TLS versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.3 and 1.2.
    Both,
    /// TLS 1.3 only.
    Tls13,
    /// TLS 1.2 only (libest-style servers).
    Tls12,
}

/// A [`Connect`] for hosts: TCP to `addr`, TLS with rustls, this crate's server verifier.
pub struct RustlsConnector {
    addr: String,
    host: String,
    config: Arc<ClientConfig>,
    timeout: Duration,
    authenticated: bool,
    /// The last connection or handshake error (for diagnostics).
    pub last_error: Option<std::io::Error>,
}

impl core::fmt::Debug for RustlsConnector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RustlsConnector").field("addr", &self.addr).field("host", &self.host).finish_non_exhaustive()
    }
}

impl RustlsConnector {
    /// A connector to `addr` (`host:port`) for the server named `host`, trusting `anchor`
    /// (DER), or nobody (bootstrap) with `None`. With `client`, authenticates with that
    /// certificate chain (DER, leaf first) and device key.
    pub fn new<S: Signer + Send + core::fmt::Debug + 'static>(
        addr: &str,
        host: &str,
        anchor: Option<&[u8]>,
        versions: TlsVersions,
        client: Option<(Vec<Vec<u8>>, S)>,
    ) -> Result<Self, rustls::Error> {
        let verifier = Arc::new(CrateVerifier {
            anchor: anchor.map(<[u8]>::to_vec),
            host: host.to_string(),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| UnixTime::from_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
        });
        let v: &[&rustls::SupportedProtocolVersion] = match versions {
            TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersions::Tls13 => &[&rustls::version::TLS13],
            TlsVersions::Tls12 => &[&rustls::version::TLS12],
        };
        let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(v)?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match client {
            Some((chain, mut key)) => {
                let key_type = key.key_type();
                let _ = key.public_key_der(&mut [0u8; 8]);
                let chain = chain.into_iter().map(CertificateDer::from).collect();
                let signing = Arc::new(HalKey { key: Arc::new(Mutex::new(key)), key_type });
                builder.with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(rustls::sign::CertifiedKey::new(
                    chain, signing,
                ))))
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = std::vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr: addr.to_string(),
            host: host.to_string(),
            config: Arc::new(config),
            timeout: Duration::from_secs(20),
            authenticated: anchor.is_some(),
            last_error: None,
        })
    }
}

/// A rustls stream as an `embedded_io` stream.
#[derive(Debug)]
pub struct TlsStream(pub StreamOwned<ClientConnection, TcpStream>);

impl embedded_io::ErrorType for TlsStream {
    type Error = super::host::StdIoError;
}

impl embedded_io::Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        use std::io::Read;
        match self.0.read(buf) {
            // A peer that closes without close_notify after a complete response is common.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            r => r.map_err(super::host::StdIoError),
        }
    }
}

impl embedded_io::Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        use std::io::Write;
        self.0.write(buf).map_err(super::host::StdIoError)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        use std::io::Write;
        self.0.flush().map_err(super::host::StdIoError)
    }
}

impl Connect for RustlsConnector {
    type Connection<'c> = TlsStream;
    type Error = std::io::Error;

    fn connect(&mut self) -> Result<TlsStream, std::io::Error> {
        use std::net::ToSocketAddrs;
        let r = (|| -> Result<TlsStream, std::io::Error> {
            let addr = self.addr.to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))?;
            let sock = TcpStream::connect_timeout(&addr, self.timeout)?;
            sock.set_read_timeout(Some(self.timeout))?;
            sock.set_write_timeout(Some(self.timeout))?;
            let name = ServerName::try_from(self.host.clone()).map_err(std::io::Error::other)?;
            let conn = ClientConnection::new(self.config.clone(), name).map_err(std::io::Error::other)?;
            let mut stream = StreamOwned::new(conn, sock);
            // Complete the handshake now, so failures show here and the exporter is ready.
            while stream.conn.is_handshaking() {
                stream.conn.complete_io(&mut stream.sock)?;
            }
            Ok(TlsStream(stream))
        })();
        if let Err(e) = &r {
            self.last_error = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        r
    }

    /// True with a trust anchor: the handshake fails unless the server proved itself.
    fn authenticates_server(&self) -> bool {
        self.authenticated
    }

    /// TCP, the handshake, or the server refused and why.
    fn failure(error: &std::io::Error) -> TransportFailure {
        failure_of(error)
    }

    /// Bounds the socket's reads and writes (rustls reads and writes through them) to the
    /// time left, as the plain host transport does.
    fn set_io_timeout(connection: &mut TlsStream, timeout: crate::time::Duration) {
        super::host::shorten_timeouts(&connection.0.sock, timeout.saturating_add(crate::time::Duration::from_millis(10)));
    }

    fn channel_binding(connection: &TlsStream, out: &mut [u8]) -> usize {
        let conn = &connection.0.conn;
        if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return 0;
        }
        match (out.get_mut(..32), conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)) {
            (Some(dst), Ok(v)) => {
                dst.copy_from_slice(&v);
                32
            }
            _ => 0,
        }
    }
}
