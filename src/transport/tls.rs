//! TLS 1.3 on devices (feature `tls`): embedded-tls 0.19 with this crate's server
//! verifier ([`super::verify`]) and the device key for client authentication.
//!
//! - The server chain is checked against the configured anchor by the crate's own X.509 code,
//!   so servers with RSA certificates work without an allocator (RSA PKCS#1 v1.5 chains,
//!   RSA-PSS and ECDSA P-256/P-384 CertificateVerify; `enable_rsa_signatures` is offered in
//!   the ClientHello).
//! - A handshake is accepted only if the verifier saw the chain and the CertificateVerify
//!   (embedded-tls 0.19 would otherwise finish a handshake that has neither).
//! - Client certificates: embedded-tls 0.19 can send one certificate and, without its `rsa`
//!   feature (which needs `alloc`), only ECDSA signatures: the device key must be P-256 for
//!   mutual TLS on this path. An RSA device key is refused before the handshake, not left to
//!   panic inside embedded-tls.
//! - Channel binding: embedded-tls 0.19 exposes neither a TLS exporter nor tls-unique, so this
//!   transport reports none ([`super::blocking::Connect::channel_binding`] gives 0); EST
//!   servers that require the proof-of-possession link need the host transport or a future
//!   embedded-tls.
//! - Cipher suite TLS_AES_128_GCM_SHA256, key share P-256; the server's Certificate message
//!   must fit one record and the read buffer (16 640 bytes recommended).

use super::TransportFailure;
use super::blocking::Connect;
use super::verify::{ServerTrust, ServerVerifier, VerifyError};
use crate::crypto::HashAlgorithm;
use crate::hal::{KeyType, MessageSigner, SignatureBytes, Signer};
use crate::time::UnixTime;
use embedded_tls::SignatureScheme;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider, TlsConfig, TlsConnection,
    TlsContext, TlsError, TlsVerifier,
};
use rand_core::CryptoRngCore;

/// embedded-tls' `TlsVerifier` over [`ServerVerifier`].
#[derive(Debug)]
pub struct Verifier<'a> {
    inner: ServerVerifier<'a>,
    transcript: Option<[u8; 32]>,
    /// Why the server was refused, if it was.
    refused: Option<VerifyError>,
}

impl<'a> Verifier<'a> {
    /// A verifier for `host` under `trust`.
    pub fn new(inner: ServerVerifier<'a>) -> Self {
        Self { inner, transcript: None, refused: None }
    }

    /// The checks made so far.
    pub fn checks(&self) -> &ServerVerifier<'a> {
        &self.inner
    }

    /// Why the server was refused (its chain, host name or handshake signature), if it was.
    pub fn refused(&self) -> Option<VerifyError> {
        self.refused
    }
}

impl TlsVerifier<Aes128GcmSha256> for Verifier<'_> {
    fn set_hostname_verification(&mut self, _hostname: &str) -> Result<(), TlsError> {
        // The host is fixed when the verifier is made.
        Ok(())
    }

    fn verify_certificate(&mut self, transcript: &sha2::Sha256, cert: CertificateRef<'_>) -> Result<(), TlsError> {
        use sha2::Digest;
        let chain = cert.entries.iter().filter_map(|e| match e {
            CertificateEntryRef::X509(der) => Some(*der),
            CertificateEntryRef::RawPublicKey(_) => None,
        });
        if let Err(e) = self.inner.verify_chain(chain) {
            warn!("tls: the server's certificate was refused: {}", e);
            self.refused = Some(e);
            return Err(TlsError::InvalidCertificate);
        }
        // CertificateVerify signs the transcript up to and including this Certificate.
        self.transcript = Some(transcript.clone().finalize().into());
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        let th = self.transcript.ok_or(TlsError::InvalidSignature)?;
        self.inner.verify_tls13(verify.signature_scheme.as_u16(), verify.signature, &th).map_err(|e| {
            warn!("tls: the server's handshake signature was refused: {}", e);
            self.refused = Some(e);
            TlsError::InvalidSignature
        })
    }
}

/// The embedded-tls crypto provider: RNG, verifier, and the device key as client identity.
#[derive(Debug)]
pub struct Provider<'a, 'k, R, S> {
    rng: R,
    /// The verifier (inspect it after the handshake).
    pub verifier: Verifier<'a>,
    client: Option<(&'a [u8], &'k mut S)>,
}

impl<R: CryptoRngCore, S: Signer> CryptoProvider for Provider<'_, '_, R, S> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = SignatureBytes;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(&mut self) -> Result<(impl signature::SignerMut<SignatureBytes>, SignatureScheme), TlsError> {
        let (_, key) = self.client.as_mut().ok_or(TlsError::Unimplemented)?;
        if key.key_type() != KeyType::EcP256 {
            return Err(TlsError::InvalidPrivateKey);
        }
        Ok((MessageSigner::new(&mut **key, HashAlgorithm::Sha256), SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        self.client.as_ref().map(|(c, _)| Certificate::X509(*c))
    }
}

/// Why a TLS connection was not made.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsConnectError<E> {
    /// The TCP connection failed.
    Tcp(E),
    /// The handshake failed (embedded-tls' reason).
    Handshake(TlsErrorKind),
    /// The server's certificate chain, host name or handshake signature was refused (why).
    ServerRefused(VerifyError),
    /// The handshake completed without the server proving its identity (no chain or no
    /// CertificateVerify, or a chain that does not lead to the anchor).
    NotAuthenticated,
    /// Client authentication needs a P-256 device key on this transport.
    ClientKeyNotSupported,
}

impl<E: core::fmt::Debug> core::fmt::Display for TlsConnectError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Tcp(e) => write!(f, "the TCP connection failed ({e:?})"),
            Self::Handshake(kind) => write!(f, "the TLS handshake failed ({kind:?}; `TlsConnector::last_error` has embedded-tls' reason)"),
            Self::ServerRefused(why) => write!(f, "{why}"),
            Self::NotAuthenticated => f.write_str(
                "the server did not prove its identity (no chain, no CertificateVerify, or a chain that does not lead to the anchor)",
            ),
            Self::ClientKeyNotSupported => f.write_str("TLS client authentication on this transport needs a P-256 device key"),
        }
    }
}

/// embedded-tls' error, as a plain code (its type is not `PartialEq`).
pub type TlsErrorKind = embedded_io::ErrorKind;

/// A [`Connect`] (or, with feature `async`, an `AsyncConnect`) that opens TCP connections
/// with `tcp` and runs TLS 1.3 over them.
pub struct TlsConnector<'a, 'k, T, R, S> {
    tcp: T,
    read_buf: &'a mut [u8],
    write_buf: &'a mut [u8],
    rng: R,
    trust: ServerTrust<'a>,
    host: &'a str,
    now: Option<UnixTime>,
    floor: UnixTime,
    client: Option<(&'a [u8], &'k mut S)>,
    /// What the last handshake failure was (for diagnostics).
    pub last_error: Option<TlsError>,
}

impl<T, R, S> core::fmt::Debug for TlsConnector<'_, '_, T, R, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConnector").field("host", &self.host).field("trust", &self.trust).finish_non_exhaustive()
    }
}

const ALPN: &[&[u8]] = &[b"http/1.1"];

impl<'a, 'k, T, R: CryptoRngCore, S: Signer> TlsConnector<'a, 'k, T, R, S> {
    /// A connector to `host` over `tcp`, with embedded-tls record buffers (`read_buf`:
    /// 16 640 bytes recommended; `write_buf`: the client certificate plus 200 bytes, 4 KiB is
    /// ample).
    pub fn new(tcp: T, read_buf: &'a mut [u8], write_buf: &'a mut [u8], rng: R, trust: ServerTrust<'a>, host: &'a str) -> Self {
        Self { tcp, read_buf, write_buf, rng, trust, host, now: None, floor: UnixTime::CRATE_FLOOR, client: None, last_error: None }
    }

    /// Checks certificate validity at `now`.
    pub fn with_time(mut self, now: UnixTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Without [`TlsConnector::with_time`]: refuses server certificates that expired before
    /// `floor` (the firmware's build date; default [`UnixTime::CRATE_FLOOR`]).
    pub fn with_time_floor(mut self, floor: UnixTime) -> Self {
        self.floor = floor;
        self
    }

    /// Authenticates as `certificate` (DER) with the device key `key` (P-256).
    pub fn with_client_certificate(mut self, certificate: &'a [u8], key: &'k mut S) -> Self {
        self.client = Some((certificate, key));
        self
    }

    fn client_key_ok(&self) -> bool {
        let ok = self.client.as_ref().is_none_or(|(_, key)| key.key_type() == KeyType::EcP256);
        if !ok {
            warn!("tls: client authentication on this transport needs a P-256 device key");
        }
        ok
    }
}

/// A failed handshake's error: the verifier's refusal when it refused the server, else
/// embedded-tls' reason.
fn handshake_error<E>(verifier: &Verifier<'_>, e: &TlsError) -> TlsConnectError<E> {
    match verifier.refused() {
        Some(why) => TlsConnectError::ServerRefused(why),
        None => TlsConnectError::Handshake(embedded_io::Error::kind(e)),
    }
}

/// What a connect error tells the client.
fn failure_of<E>(error: &TlsConnectError<E>) -> TransportFailure {
    match error {
        TlsConnectError::Tcp(_) => TransportFailure::Connect,
        TlsConnectError::Handshake(_) => TransportFailure::TlsHandshake,
        TlsConnectError::ServerRefused(why) => TransportFailure::ServerRefused(*why),
        TlsConnectError::NotAuthenticated => TransportFailure::ServerNotAuthenticated,
        TlsConnectError::ClientKeyNotSupported => TransportFailure::ClientKeyUnsupported,
    }
}

/// Whether the handshake authenticated the server as `trust` requires.
fn authenticated(trust: ServerTrust<'_>, verifier: &Verifier<'_>) -> bool {
    let checks = verifier.checks();
    match trust {
        ServerTrust::Anchor(_) | ServerTrust::Anchors(_) => checks.is_authenticated(),
        ServerTrust::Unauthenticated => checks.signature_verified(),
    }
}

impl<'a, T: Connect, R: CryptoRngCore, S: Signer> Connect for TlsConnector<'a, '_, T, R, S> {
    type Connection<'c>
        = TlsConnection<'c, T::Connection<'c>, Aes128GcmSha256>
    where
        Self: 'c;
    type Error = TlsConnectError<T::Error>;

    /// True with a trust anchor: a connection opens only when the server proved itself.
    fn authenticates_server(&self) -> bool {
        !matches!(self.trust, ServerTrust::Unauthenticated)
    }

    /// TCP, the handshake, or the server refused and why.
    fn failure(error: &Self::Error) -> TransportFailure {
        failure_of(error)
    }

    fn connect(&mut self) -> Result<Self::Connection<'_>, Self::Error> {
        let mut slot = None;
        self.connect_in(&mut slot)?;
        slot.ok_or(TlsConnectError::NotAuthenticated)
    }

    /// The TLS connection is made in `slot` and its handshake runs there (no copy of it in
    /// this frame, under the handshake's).
    fn connect_in<'c>(&'c mut self, slot: &mut Option<Self::Connection<'c>>) -> Result<(), Self::Error> {
        *slot = None;
        if !self.client_key_ok() {
            return Err(TlsConnectError::ClientKeyNotSupported);
        }
        let socket = self.tcp.connect().map_err(TlsConnectError::Tcp)?;
        let config = TlsConfig::new().with_server_name(self.host).with_alpn(ALPN).enable_rsa_signatures();
        // Built in place (the verifier is about 700 bytes; each by-value step was a copy on
        // the stack under the handshake).
        let verifier = Verifier::new(ServerVerifier::new(self.trust, self.host, self.now).map_err(|_| TlsConnectError::NotAuthenticated)?);
        let mut provider = Provider { rng: &mut self.rng, verifier, client: self.client.as_mut().map(|(c, k)| (*c, &mut **k)) };
        provider.verifier.inner.set_time_floor(self.floor);
        let conn = slot.insert(TlsConnection::new(socket, self.read_buf, self.write_buf));
        let result = match conn.open(TlsContext::new(&config, &mut provider)) {
            Err(e) => {
                warn!("tls: the handshake with {} failed: {}", self.host, crate::fmt::Dbg(e));
                self.last_error = Some(e);
                Err(handshake_error(&provider.verifier, &e))
            }
            Ok(()) if !authenticated(self.trust, &provider.verifier) => {
                warn!("tls: the handshake with {} ended without the server proving its identity", self.host);
                Err(TlsConnectError::NotAuthenticated)
            }
            Ok(()) => {
                debug!("tls: connected to {}", self.host);
                Ok(())
            }
        };
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

#[cfg(feature = "async")]
impl<'a, T: super::asynch::AsyncConnect, R: CryptoRngCore, S: Signer> super::asynch::AsyncConnect for TlsConnector<'a, '_, T, R, S> {
    type Connection<'c>
        = embedded_tls::TlsConnection<'c, T::Connection<'c>, Aes128GcmSha256>
    where
        Self: 'c;
    type Error = TlsConnectError<T::Error>;

    /// True with a trust anchor: a connection opens only when the server proved itself.
    fn authenticates_server(&self) -> bool {
        !matches!(self.trust, ServerTrust::Unauthenticated)
    }

    /// TCP, the handshake, or the server refused and why.
    fn failure(error: &Self::Error) -> TransportFailure {
        failure_of(error)
    }

    async fn connect(&mut self) -> Result<Self::Connection<'_>, Self::Error> {
        if !self.client_key_ok() {
            return Err(TlsConnectError::ClientKeyNotSupported);
        }
        let socket = self.tcp.connect().await.map_err(TlsConnectError::Tcp)?;
        let mut conn = embedded_tls::TlsConnection::new(socket, self.read_buf, self.write_buf);
        let config = embedded_tls::TlsConfig::new().with_server_name(self.host).with_alpn(ALPN).enable_rsa_signatures();
        // Built in place (the verifier is about 700 bytes; each by-value step was a copy on
        // the stack under the handshake).
        let verifier = Verifier::new(ServerVerifier::new(self.trust, self.host, self.now).map_err(|_| TlsConnectError::NotAuthenticated)?);
        let mut provider = Provider { rng: &mut self.rng, verifier, client: self.client.as_mut().map(|(c, k)| (*c, &mut **k)) };
        provider.verifier.inner.set_time_floor(self.floor);
        if let Err(e) = conn.open(embedded_tls::TlsContext::new(&config, &mut provider)).await {
            warn!("tls: the handshake with {} failed: {}", self.host, crate::fmt::Dbg(e));
            self.last_error = Some(e);
            return Err(handshake_error(&provider.verifier, &e));
        }
        if !authenticated(self.trust, &provider.verifier) {
            warn!("tls: the handshake with {} ended without the server proving its identity", self.host);
            return Err(TlsConnectError::NotAuthenticated);
        }
        debug!("tls: connected to {}", self.host);
        Ok(conn)
    }
}
