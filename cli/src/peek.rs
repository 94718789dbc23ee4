//! When the server's TLS certificate does not name the host connected to: the names it is
//! for, read from a second handshake that records the certificate, trusts nothing and sends
//! no request (only on that failure, for the outcome line).

use embedded_enroll::asn1::cert::{CertificateRef, GeneralName};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Records the end-entity certificate and refuses it.
#[derive(Debug, Default)]
struct Record(Mutex<Option<Vec<u8>>>);

impl ServerCertVerifier for Record {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(end_entity.as_ref().to_vec());
        Err(rustls::Error::General("recorded, not trusted".into()))
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_signature()
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_signature()
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// The handshake signature check of [`Record`], TLS 1.2 and 1.3 alike: no signature is trusted.
fn refuse_signature() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General("not trusted".into()))
}

/// The DNS names and IP addresses the certificate of the TLS server at `addr` is for (its CN
/// when it has no subjectAltName); `None` when it cannot be read.
pub fn server_names(addr: &str, host: &str) -> Option<Vec<String>> {
    let record = Arc::new(Record::default());
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(record.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).ok()?;
    let mut conn = ClientConnection::new(Arc::new(config), name).ok()?;
    let mut sock = TcpStream::connect(addr).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    sock.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    // Ends at the refusal in `Record`, the certificate recorded (bounded: a handful of flights).
    for _ in 0..8 {
        if conn.complete_io(&mut sock).is_err() || !conn.is_handshaking() {
            break;
        }
    }
    let der = record.0.lock().unwrap_or_else(PoisonError::into_inner).take()?;
    let cert = CertificateRef::parse(&der).ok()?;
    let mut names: Vec<String> = cert
        .subject_alt_names()
        .filter_map(|n| match n {
            GeneralName::Dns(d) => Some(d.to_string()),
            GeneralName::Ip(b) => match b.len() {
                4 => <[u8; 4]>::try_from(b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(b).ok().map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if names.is_empty() {
        names.push(cert.subject().to_string());
    }
    Some(names)
}
