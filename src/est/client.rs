//! The EST client as a Sans-IO state machine (RFC 7030, RFC 8951; shape: docs/architecture.md
//! section 3), the same [`Step`] shape as the SCEP client.
//!
//! ```text
//! let mut client = Client::new(config, Operation::Enroll(csr), buffers, rng)?;
//! loop {
//!     match client.poll(now)? {
//!         Step::Bind            => { open the TLS connection the next request goes on; give its
//!                                    channel-binding value: client.bound(now, &exporter) }
//!         Step::Send(bytes)     => { write on the open connection (open one if none), feed the
//!                                    response: client.handle_response_data / _end; then close }
//!         Step::Sign(req)       => { key.sign_prehash(&req.digest, ..); client.signed(now, &sig) }
//!         Step::Wait(until)     => { sleep (a 202 Retry-After) }
//!         Step::Done(outcome)   => break,
//!     }
//! }
//! ```
//!
//! # Flow
//! - [`Operation::CaCerts`]: GET `/cacerts`; the certificates are checked against
//!   [`CaCertsTrust`] (a TLS-authenticated server, a pinned fingerprint for the bootstrap of
//!   RFC 7030 section 4.1.1, or an anchor they must chain to).
//! - [`Operation::CsrAttrs`]: GET `/csrattrs` (204 and 404 mean "none").
//! - [`Operation::Enroll`], [`Operation::ReEnroll`], [`Operation::ServerKeyGen`]: optionally
//!   `/csrattrs` first ([`Config::fetch_csr_attributes`]); the channel binding when the server
//!   asks for it there or [`Config::channel_binding`] says always ([`Step::Bind`]); the CSR
//!   ([`Step::Sign`]); POST with the CSR in base64 (wrapped or one line, with
//!   `Content-Transfer-Encoding: base64`). 200: the certificate for our key is taken from the
//!   certs-only reply and, with [`Config::ca_certificate`], checked to be signed by the CA.
//!   202: [`Step::Wait`] until Retry-After (delay-seconds or an HTTP-date, capped by the
//!   [`RetryPolicy`]), then the same request again. 401: once, with Basic or Digest
//!   credentials ([`Config::credentials`]); Basic can also be sent up front.
//!
//! # Features
//! The client itself comes with `est`; three parts are built only with their own feature
//! (each implies `est`). Without it, the client refuses what needs it when it is made, with
//! [`ClientError::FeatureDisabled`], rather than skip it:
//!
//! | feature | what | without it |
//! |---|---|---|
//! | `csrattrs` | [`Operation::CsrAttrs`], [`Config::fetch_csr_attributes`], `Client::csr_attributes`, `Client::attribute_report`, `est::csrattrs` | [`Client::new`] refuses both with `FeatureDisabled("csrattrs")`; [`ChannelBinding::WhenAsked`] never binds (nothing asks) |
//! | `serverkeygen` | [`Operation::ServerKeyGen`], `Client::server_key`, `est::multipart` | [`Client::new`] refuses the operation with `FeatureDisabled("serverkeygen")`; a `multipart/mixed` reply is refused as malformed |
//! | `http-digest` | answers to Digest challenges (RFC 7616, SHA-256 and MD5) | a 401 that offers Digest only ends in [`Outcome::InvalidReply`]`(`[`ReplyError::UnsupportedChallenge`]`)` with no credentials sent; Basic, when offered beside it, is answered |
//!
//! # Buffers
//! | buffer | holds | typical need |
//! |---|---|---|
//! | `own` | the CSR | 1 KiB (P-256), 2 KiB (RSA) |
//! | `work` | the decoded reply (certificates, CSR attributes, the server-generated key) | 4 KiB |
//! | `io` | one HTTP request, then one HTTP response | 6 KiB |

#[cfg(feature = "csrattrs")]
use super::csrattrs;
use crate::asn1::ber;
use crate::asn1::cert::CertificateRef;
use crate::asn1::cms::signed_data::SignedDataRef;
use crate::asn1::csr::{self, ChallengePassword, CsrBuilder};
use crate::asn1::path::{self, CertificateSet as _};
use crate::asn1::spki::SpkiRef;
use crate::client_core;
use crate::crypto::{Digest, HashAlgorithm};
use crate::error::{DecodeError, EncodeError, HttpError};
use crate::hal::{KeyRole, KeyType};
use crate::http::base64::{self, LineStyle};
use crate::http::{RequestHead, ResponseHead, ResponseReader, write_request};
use crate::retry::{RetryPolicy, RetrySchedule};
use crate::span::Span;
use crate::time::{Instant, UnixTime};
use crate::transport::TransportFailure;
use rand_core::CryptoRngCore;

/// How the certificates of `/cacerts` are trusted (RFC 7030 section 4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaCertsTrust<'a> {
    /// The TLS connection was authenticated with an explicit trust anchor: the server's
    /// answer is taken as it is.
    TlsAuthenticated,
    /// Bootstrap (RFC 7030 section 4.1.1): the TLS server was not authenticated, and one of
    /// the returned certificates must have this SHA-256 fingerprint, learnt out of band.
    Fingerprint([u8; 32]),
    /// One of the returned certificates must be this one or be signed by it (DER).
    Anchor(&'a [u8]),
}

/// Username and password for HTTP authentication (RFC 7030 section 3.2.3).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The user name.
    pub user: &'a str,
    /// The password.
    pub password: &'a str,
    /// Send Basic credentials with the first request, without waiting for a 401 (only over
    /// TLS, as EST always is).
    pub preemptive_basic: bool,
}

impl core::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("preemptive_basic", &self.preemptive_basic).finish_non_exhaustive()
    }
}

/// When the CSR carries the TLS channel-binding value in its challengePassword (RFC 7030
/// section 3.5: proof that the CSR was made by the party on this TLS connection).
///
/// Only `/csrattrs` can ask ([`Config::fetch_csr_attributes`], feature `csrattrs`): without
/// it [`ChannelBinding::WhenAsked`] never binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChannelBinding {
    /// Never.
    Never,
    /// When `/csrattrs` asks for a challengePassword.
    #[default]
    WhenAsked,
    /// Always.
    Always,
}

/// The most answers to 401 challenges in one operation: one, and a second only when a Digest
/// challenge says the first nonce was stale. Then the outcome is [`Outcome::Unauthorized`].
pub const MAX_AUTH_ATTEMPTS: u8 = 2;

/// Where the EST server is and how the client behaves.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// Host name for the `Host` header.
    pub host: &'a str,
    /// The port, if not 443.
    pub port: Option<u16>,
    /// The optional CA label: `/.well-known/est/<label>/...`.
    pub label: Option<&'a str>,
    /// How `/cacerts` is trusted.
    pub cacerts_trust: CaCertsTrust<'a>,
    /// The CA certificate (DER) the issued certificate must be signed by, when known.
    pub ca_certificate: Option<&'a [u8]>,
    /// HTTP credentials: the answer to a Basic challenge (or sent up front), and with the
    /// `http-digest` feature to a Digest one.
    pub credentials: Option<Credentials<'a>>,
    /// Request body line style (libest needs line breaks, est-ca refuses them).
    pub body_style: LineStyle,
    /// 202 retries: delays, cap and bounds.
    pub retry: RetryPolicy,
    /// SubjectPublicKeyInfo (DER) of the key to certify (for server key generation: the
    /// key that signs the request CSR).
    pub public_key: &'a [u8],
    /// Fetch `/csrattrs` before enrolling. Needs the `csrattrs` feature: without it
    /// [`Client::new`] refuses `true` ([`ClientError::FeatureDisabled`]).
    pub fetch_csr_attributes: bool,
    /// The proof-of-possession link.
    pub channel_binding: ChannelBinding,
    /// Wall-clock time, when known (HTTP-date Retry-After values need it, and certificate
    /// validity is checked at it).
    pub wall_time: Option<UnixTime>,
    /// Without `wall_time`: certificates that expired before this are refused (the firmware's
    /// build date at least; default [`UnixTime::CRATE_FLOOR`]).
    pub time_floor: UnixTime,
}

impl<'a> Config<'a> {
    /// A configuration with the defaults: no label, no credentials, 64-column bodies, the
    /// default retry policy, no `/csrattrs`, channel binding when asked.
    pub fn new(host: &'a str, cacerts_trust: CaCertsTrust<'a>, public_key: &'a [u8]) -> Self {
        Self {
            host,
            port: None,
            label: None,
            cacerts_trust,
            ca_certificate: None,
            credentials: None,
            body_style: LineStyle::default(),
            retry: RetryPolicy::default(),
            public_key,
            fetch_csr_attributes: false,
            channel_binding: ChannelBinding::default(),
            wall_time: None,
            time_floor: UnixTime::CRATE_FLOOR,
        }
    }
}

/// What the client is to do.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// `/cacerts` ([`Outcome::CaCerts`]).
    CaCerts,
    /// `/csrattrs` ([`Outcome::CsrAttrs`]). Needs the `csrattrs` feature: without it
    /// [`Client::new`] refuses it ([`ClientError::FeatureDisabled`]).
    CsrAttrs,
    /// `/simpleenroll` for the CSR.
    Enroll(CsrBuilder<'a>),
    /// `/simplereenroll` for the CSR, over a TLS connection authenticated with the current
    /// certificate (the transport's job).
    ReEnroll(CsrBuilder<'a>),
    /// `/serverkeygen`: the server makes the key; the CSR (signed by the device key) names
    /// the subject. Needs the `serverkeygen` feature: without it [`Client::new`] refuses it
    /// ([`ClientError::FeatureDisabled`]).
    ServerKeyGen(CsrBuilder<'a>),
}

/// The caller's buffers.
#[derive(Debug)]
pub struct Buffers<'b> {
    /// The CSR.
    pub own: &'b mut [u8],
    /// The decoded reply.
    pub work: &'b mut [u8],
    /// One HTTP request or response.
    pub io: &'b mut [u8],
}

/// A signature the device key must make (the CSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignRequest {
    /// The digest to sign.
    pub digest: Digest,
    /// Which key: [`KeyRole::Requested`].
    pub key: KeyRole,
}

/// What to do next.
#[derive(Debug)]
pub enum Step<'c> {
    /// Open the (TLS) connection the next [`Step::Send`] goes out on, and answer with its
    /// channel-binding value ([`Client::bound`]): tls-exporter (RFC 9266) on TLS 1.3,
    /// tls-unique on TLS 1.2.
    Bind,
    /// Send these bytes (a whole HTTP/1.1 request) on the open connection, or a new one;
    /// then feed the response.
    Send(&'c [u8]),
    /// Sign a digest with the device key; answer with [`Client::signed`].
    Sign(SignRequest),
    /// Nothing to do before this instant (the server said 202 Retry-After).
    Wait(Instant),
    /// Finished.
    Done(&'c Outcome),
}

/// The most certificates of a `/cacerts` reply that [`Client::trusted_ca_certificates`]
/// considers (in the server's order).
pub const MAX_CA_CERTS: usize = 16;

/// Why a reply was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReplyError {
    /// The body is not valid base64 (or not DER) of what was asked for.
    Malformed(DecodeError),
    /// No certificate for our key in the reply.
    NotFound,
    /// The issued certificate is not signed by [`Config::ca_certificate`].
    NotIssuedByCa,
    /// `/serverkeygen` (feature `serverkeygen`): the private key the server sent is not the
    /// key of the certificate it issued (or is of a kind that cannot be checked); the key is
    /// wiped.
    ServerKeyMismatch,
    /// `/cacerts` did not match [`CaCertsTrust`].
    UntrustedCaCerts,
    /// A 401 challenge this client cannot answer (scheme, algorithm; or Digest, offered
    /// without Basic, in a build without the `http-digest` feature). No credentials were
    /// sent in answer.
    UnsupportedChallenge,
}

impl core::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "the reply's body is not what was asked for: {e}"),
            Self::NotFound => f.write_str("the reply holds no certificate for our key"),
            Self::NotIssuedByCa => f.write_str("the issued certificate is not signed by the configured CA"),
            Self::ServerKeyMismatch => {
                f.write_str("the private key the server generated is not the key of the certificate it issued (wiped)")
            }
            Self::UntrustedCaCerts => f.write_str("the /cacerts reply does not match the configured trust"),
            Self::UnsupportedChallenge => {
                f.write_str("the server asks for an authentication this client cannot answer (no credentials were sent)")
            }
        }
    }
}

impl core::error::Error for ReplyError {}

/// How the operation ended.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// `/cacerts` done and trusted: [`Client::certificates`].
    CaCerts,
    /// `/csrattrs` done: `Client::csr_attributes` (empty when the server has none). Only with
    /// the `csrattrs` feature.
    CsrAttrs,
    /// The certificate was issued: [`Client::certificate`] (and [`Client::certificates`]).
    Issued,
    /// `/serverkeygen` done: [`Client::certificate`] and `Client::server_key`. Only with the
    /// `serverkeygen` feature.
    ServerKeyGenerated,
    /// The server refused with this status and the start of its text.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, if textual.
        text: heapless::String<128>,
    },
    /// 401 again after credentials were sent (or none configured).
    Unauthorized,
    /// 202 until the retry policy ran out.
    RetryLimit {
        /// Retries made.
        attempts: u32,
    },
    /// The HTTP response was malformed or too large for `io`.
    Http(HttpError),
    /// The connection failed, and why ([`Client::handle_transport_failure`]).
    Transport(TransportFailure),
    /// A reply was refused.
    InvalidReply(ReplyError),
}

impl core::fmt::Display for Outcome {
    /// One sentence: what happened (the cause chained in).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CaCerts => f.write_str("/cacerts done: the CA certificates are trusted"),
            Self::CsrAttrs => f.write_str("/csrattrs done"),
            Self::Issued => f.write_str("the certificate was issued"),
            Self::ServerKeyGenerated => f.write_str("/serverkeygen done: a certificate and its server-generated key"),
            Self::HttpStatus { status, text } => {
                write!(f, "the server answered HTTP {status}")?;
                if !text.is_empty() {
                    write!(f, " ({text:?})")?;
                }
                Ok(())
            }
            Self::Unauthorized => f.write_str("the server refused the credentials (401 again, or none configured)"),
            Self::RetryLimit { attempts } => write!(f, "the server still answered 202 after {attempts} retries"),
            Self::Http(e) => write!(f, "the HTTP response was unusable: {e}"),
            Self::Transport(why) => write!(f, "the connection failed: {why}"),
            Self::InvalidReply(e) => write!(f, "{e}"),
        }
    }
}

/// What the client made of the server's `/csrattrs` when it enrolled
/// ([`Config::fetch_csr_attributes`]; feature `csrattrs`).
#[cfg(feature = "csrattrs")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AttributeReport {
    /// The server asked for a challengePassword (the channel binding went in when the
    /// configuration allows: [`ChannelBinding::WhenAsked`]).
    pub challenge_password: bool,
    /// Extensions with values fixed by the server, copied into the CSR.
    pub applied_extensions: u8,
    /// Extensions the server asked for that this request already carries (the caller's win).
    pub kept_own_extensions: u8,
    /// Extensions the server wants completed (no value, or placeholders): not added; fill
    /// them from [`Client::csr_attributes`] and [`super::csrattrs::CsrAttrs::hints`].
    pub to_fill: u8,
    /// The server asked for another key type than the device key.
    pub key_mismatch: bool,
    /// The server asked for a hash other than SHA-256 (not applied: CSRs are signed with
    /// SHA-256).
    pub other_hash: bool,
    /// Items not understood (and, with an RFC 9908 template, items ignored).
    pub not_understood: u16,
}

/// A caller-side error: the one type both protocol clients return ([`crate::error::ClientError`]).
pub use crate::error::ClientError;

/// The feature that `config` and `operation` need and this build lacks, if any.
fn needed_feature(config: &Config<'_>, operation: &Operation<'_>) -> Option<&'static str> {
    if !cfg!(feature = "csrattrs") && (config.fetch_csr_attributes || matches!(operation, Operation::CsrAttrs)) {
        return Some("csrattrs");
    }
    if !cfg!(feature = "serverkeygen") && matches!(operation, Operation::ServerKeyGen(_)) {
        return Some("serverkeygen");
    }
    None
}

fn enc(buffer: &'static str) -> impl Fn(EncodeError) -> ClientError {
    move |e| match e {
        EncodeError::BufferTooSmall { needed } => ClientError::BufferTooSmall { buffer, needed },
        other => ClientError::Encode(other),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    CaCerts,
    #[cfg(feature = "csrattrs")]
    CsrAttrs,
    Enroll,
}

#[cfg(any(feature = "log", feature = "defmt"))]
impl Request {
    /// The request's path segment, or for an enrollment its kind (for log lines).
    fn name(self) -> &'static str {
        match self {
            Self::CaCerts => "/cacerts",
            #[cfg(feature = "csrattrs")]
            Self::CsrAttrs => "/csrattrs",
            Self::Enroll => "the enrollment",
        }
    }
}

#[cfg(any(feature = "log", feature = "defmt"))]
impl Operation<'_> {
    /// The operation's name (for log lines).
    fn name(&self) -> &'static str {
        match self {
            Self::CaCerts => "/cacerts",
            Self::CsrAttrs => "/csrattrs",
            Self::Enroll(_) => "/simpleenroll",
            Self::ReEnroll(_) => "/simplereenroll",
            Self::ServerKeyGen(_) => "/serverkeygen",
        }
    }
}

// Without an allocator there is nothing to box into; one Stage lives in each client.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Stage {
    Ready,
    Binding,
    Signing { digest: Digest, len: usize },
    Awaiting { what: Request, reader: ResponseReader },
    Waiting { until: Instant },
    Done(Outcome),
    Failed(ClientError),
}

/// A 401 challenge kept for the next request: with `http-digest` the WWW-Authenticate value
/// (a Digest answer needs its realm and nonce); without it only that Basic was offered (320
/// bytes less in the client, which lives on the stack).
#[cfg(feature = "http-digest")]
type StoredChallenge = heapless::String<320>;
#[cfg(not(feature = "http-digest"))]
type StoredChallenge = BasicOffered;

/// A 401 offered Basic (what a build without `http-digest` answers).
#[cfg(not(feature = "http-digest"))]
#[derive(Debug, Clone, Copy)]
struct BasicOffered;

/// The EST client. See the module documentation.
pub struct Client<'a, 'b, R> {
    config: Config<'a>,
    operation: Operation<'a>,
    bufs: Buffers<'b>,
    /// The Digest client nonces come from it (nothing else needs randomness).
    #[cfg_attr(not(feature = "http-digest"), allow(dead_code))]
    rng: R,
    key: KeyType,
    stage: Stage,
    request_len: usize,
    /// `io[..request_len]` holds a request with an Authorization header not yet wiped.
    request_has_credentials: bool,
    /// `/csrattrs` was fetched (for an enrollment).
    #[cfg(feature = "csrattrs")]
    attrs_done: bool,
    /// `/csrattrs` asked for a challengePassword (never without the `csrattrs` feature).
    challenge_asked: bool,
    /// The channel-binding value of the open connection.
    binding: Option<heapless::Vec<u8, 64>>,
    /// The CSR in `own` (built for the current binding), after the attributes.
    csr: Span,
    /// What `/csrattrs` led to.
    #[cfg(feature = "csrattrs")]
    report: Option<AttributeReport>,
    /// A 401 challenge to answer on the next request.
    challenge: Option<StoredChallenge>,
    /// Challenges answered.
    auth_attempts: u8,
    /// Digest nonce count.
    #[cfg(feature = "http-digest")]
    nonce_count: u32,
    retry: Option<RetrySchedule>,
    /// Results in `work`.
    certs: Span,
    certificate: Span,
    /// The `/csrattrs` DER, at the start of `own` (always empty without the `csrattrs`
    /// feature).
    attributes: Span,
    /// The server-generated key.
    #[cfg(feature = "serverkeygen")]
    key_span: Span,
    /// The end has been logged.
    #[cfg(any(feature = "log", feature = "defmt"))]
    end_logged: bool,
}

impl<R> core::fmt::Debug for Client<'_, '_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("est::Client").field("stage", &self.stage).finish_non_exhaustive()
    }
}

impl<R> Drop for Client<'_, '_, R> {
    /// A server-generated private key, and a request that carried credentials, never outlive
    /// the client in its buffers.
    fn drop(&mut self) {
        #[cfg(feature = "serverkeygen")]
        if let Some(k) = self.bufs.work.get_mut(self.key_span.start..self.key_span.end) {
            use zeroize::Zeroize;
            k.zeroize();
        }
        self.wipe_request();
    }
}

impl<R> Client<'_, '_, R> {
    /// Wipes a sent request that carried an Authorization header (the Basic credentials or a
    /// Digest answer), once it is no longer needed: when its response starts, when the
    /// exchange fails, or when the client is dropped.
    fn wipe_request(&mut self) {
        use zeroize::Zeroize;
        if core::mem::take(&mut self.request_has_credentials)
            && let Some(r) = self.bufs.io.get_mut(..self.request_len)
        {
            r.zeroize();
        }
    }
}

impl<'a, 'b, R: CryptoRngCore> Client<'a, 'b, R> {
    /// A client for `operation`.
    ///
    /// Refused with [`ClientError::FeatureDisabled`] when the operation or the configuration
    /// needs a feature this build lacks ([`Operation::CsrAttrs`] or
    /// [`Config::fetch_csr_attributes`] without `csrattrs`, [`Operation::ServerKeyGen`]
    /// without `serverkeygen`); with [`ClientError::Config`] when the configuration is
    /// unusable.
    pub fn new(config: Config<'a>, operation: Operation<'a>, bufs: Buffers<'b>, rng: R) -> Result<Self, ClientError> {
        if let Some(feature) = needed_feature(&config, &operation) {
            return Err(ClientError::FeatureDisabled(feature));
        }
        let spki = SpkiRef::parse(config.public_key).map_err(|_| ClientError::Config("public key is not a SubjectPublicKeyInfo"))?;
        let key = spki.key_type().ok_or(ClientError::Config("public key type (RSA 2048-4096 or P-256)"))?;
        if let Some(l) = config.label
            && (l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)))
        {
            return Err(ClientError::Config("CA label (unreserved characters only)"));
        }
        info!("est: {} with {} (CA label {})", operation.name(), config.host, config.label.unwrap_or("none"));
        Ok(Self {
            config,
            operation,
            bufs,
            rng,
            key,
            stage: Stage::Ready,
            request_len: 0,
            request_has_credentials: false,
            #[cfg(feature = "csrattrs")]
            attrs_done: !config.fetch_csr_attributes,
            challenge_asked: false,
            binding: None,
            csr: Span::default(),
            #[cfg(feature = "csrattrs")]
            report: None,
            challenge: None,
            auth_attempts: 0,
            #[cfg(feature = "http-digest")]
            nonce_count: 0,
            retry: None,
            certs: Span::default(),
            certificate: Span::default(),
            attributes: Span::default(),
            #[cfg(feature = "serverkeygen")]
            key_span: Span::default(),
            #[cfg(any(feature = "log", feature = "defmt"))]
            end_logged: false,
        })
    }

    // ---- getters ----

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.stage {
            Stage::Done(o) => Some(o),
            _ => None,
        }
    }

    /// The issued certificate (DER).
    pub fn certificate(&self) -> Option<&[u8]> {
        (!self.certificate.is_empty()).then(|| self.certificate.get(self.bufs.work))
    }

    /// The certs-only reply as the server sent it (the CA certificates of `/cacerts`, or the
    /// issued certificate and whatever the server sent with it). After `/cacerts` under a
    /// fingerprint or anchor it may hold certificates nobody vouched for: take the CA
    /// certificates from [`Client::trusted_ca_certificates`].
    pub fn certificates(&self) -> Option<SignedDataRef<'_>> {
        if self.certs.is_empty() {
            return None;
        }
        SignedDataRef::parse(self.certs.get(self.bufs.work)).ok()
    }

    /// After `/cacerts`: the certificates that the configured [`CaCertsTrust`] vouches for,
    /// in the server's order. Under [`CaCertsTrust::Fingerprint`] or [`CaCertsTrust::Anchor`]
    /// these are the pinned certificate and those that chain to it (each signed by one
    /// already vouched for, issuer name and signature checked; the first [`MAX_CA_CERTS`]
    /// of the reply are considered); anything else the reply carried (another root placed
    /// first, say) is left out. Under [`CaCertsTrust::TlsAuthenticated`], all of them.
    pub fn trusted_ca_certificates(&self) -> impl Iterator<Item = CertificateRef<'_>> + '_ {
        let trusted = if matches!(self.outcome(), Some(Outcome::CaCerts)) { self.trusted_mask() } else { 0 };
        self.certificates()
            .into_iter()
            .flat_map(|sd| sd.certificates().take(MAX_CA_CERTS).enumerate())
            .filter(move |(i, _)| trusted & (1u16 << i) != 0)
            .map(|(_, c)| c)
    }

    /// Bit `i` set: certificate `i` of the reply is vouched for by the configured trust: it
    /// has a valid path ([`path::validate`], any kind of certificate, validity at
    /// `wall_time` or against `time_floor`) to the pinned certificate through the others.
    fn trusted_mask(&self) -> u16 {
        let Some(sd) = self.certificates() else { return 0 };
        let set = ReplyCerts(&sd);
        let n = set.count();
        let all = (0..n).fold(0u16, |m, i| m | (1u16 << i));
        let anchor = match self.config.cacerts_trust {
            CaCertsTrust::TlsAuthenticated => return all,
            CaCertsTrust::Fingerprint(fp) => match (0..n).find_map(|i| set.get(i).filter(|c| c.fingerprint_sha256() == fp)) {
                Some(c) => c,
                None => return 0,
            },
            CaCertsTrust::Anchor(anchor) => match CertificateRef::parse(anchor) {
                Ok(a) => a,
                Err(_) => return 0,
            },
        };
        let opts = path::Options::new(path::Usage::Any, self.validation_time());
        let anchors = [anchor];
        (0..n)
            .filter(|&i| set.get(i).is_some_and(|c| path::validate(&c, &set, anchors.as_slice(), &opts).is_ok()))
            .fold(0, |m, i| m | (1u16 << i))
    }

    /// Whether `issued` may be taken as issued by [`Config::ca_certificate`] (true when none
    /// is configured): an end entity with a path to it through the reply's other
    /// certificates, not expired at the time (or the floor); a notBefore a little ahead of a
    /// skewed device clock is the lifecycle manager's business.
    fn issued_by_ca(config: &Config<'_>, issued: &CertificateRef<'_>, reply: &SignedDataRef<'_>) -> bool {
        let Some(ca) = config.ca_certificate else { return true };
        let floor = config.wall_time.unwrap_or(config.time_floor);
        let opts = path::Options::new(path::Usage::EndEntity, path::ValidationTime::Floor(floor));
        let set = ReplyCerts(reply);
        CertificateRef::parse(ca).is_ok_and(|ca| path::validate(issued, &set, [ca].as_slice(), &opts).is_ok())
    }

    fn validation_time(&self) -> path::ValidationTime {
        path::ValidationTime::new(self.config.wall_time, self.config.time_floor)
    }

    /// The `CsrAttrs` DER (empty when the server has none), after `/csrattrs` (feature
    /// `csrattrs`).
    #[cfg(feature = "csrattrs")]
    pub fn csr_attributes(&self) -> Option<&[u8]> {
        (self.attrs_done && (self.config.fetch_csr_attributes || matches!(self.operation, Operation::CsrAttrs)))
            .then(|| self.attributes.get(self.bufs.own))
    }

    /// What the client applied from `/csrattrs` to the CSR, and what it left (after an
    /// enrollment with [`Config::fetch_csr_attributes`]; feature `csrattrs`).
    #[cfg(feature = "csrattrs")]
    pub fn attribute_report(&self) -> Option<AttributeReport> {
        self.report
    }

    /// The server-generated private key (DER: PKCS#8, or PKCS#1 from libest) after a
    /// `/serverkeygen` that ended in [`Outcome::ServerKeyGenerated`]. It is zeroized when the
    /// client is dropped, and at once when the reply is refused for any reason; copy it into
    /// the key store at once. Feature `serverkeygen`.
    #[cfg(feature = "serverkeygen")]
    pub fn server_key(&self) -> Option<&[u8]> {
        (matches!(self.outcome(), Some(Outcome::ServerKeyGenerated)) && !self.key_span.is_empty())
            .then(|| self.key_span.get(self.bufs.work))
    }

    /// Retries after 202 so far.
    pub fn retries(&self) -> u32 {
        self.retry.map_or(0, |r| r.attempts())
    }

    /// Whether the response being read is complete (then call [`Client::poll`]).
    pub fn response_complete(&self) -> bool {
        client_core::complete(self)
    }

    // ---- inputs ----

    /// The channel-binding value of the connection opened for [`Step::Bind`] (at most 64
    /// bytes: 32 for tls-exporter, 12 to 48 for tls-unique). An empty value means the
    /// transport cannot provide one: the CSR goes without it.
    pub fn bound(&mut self, _now: Instant, value: &[u8]) -> Result<(), ClientError> {
        if !matches!(self.stage, Stage::Binding) {
            return Err(ClientError::UnexpectedCall);
        }
        self.binding = Some(heapless::Vec::from_slice(value).map_err(|_| ClientError::Answer)?);
        debug!("est: channel binding of the new connection: {} bytes", value.len());
        self.csr = Span::default();
        self.stage = Stage::Ready;
        Ok(())
    }

    /// Feeds response bytes as they arrive. Returns how many were used.
    pub fn handle_response_data(&mut self, _now: Instant, data: &[u8]) -> Result<usize, ClientError> {
        client_core::feed(self, data)
    }

    /// Reports that the server closed the connection (ends a close-delimited body, e.g.
    /// libest's 202 without Content-Length).
    pub fn handle_response_end(&mut self, _now: Instant) -> Result<(), ClientError> {
        client_core::end(self)
    }

    /// Reports that connecting (or the TLS handshake), writing or reading failed, without the
    /// reason: [`Self::handle_transport_failure`] with [`TransportFailure::Unspecified`].
    pub fn handle_transport_error(&mut self, now: Instant) -> Result<(), ClientError> {
        self.handle_transport_failure(now, TransportFailure::Unspecified)
    }

    /// Reports that connecting (or the TLS handshake), writing or reading failed, and why (the
    /// drivers say which: TCP, the TLS handshake, the server's certificate and why, a read cut
    /// short, the deadline): the client ends with [`Outcome::Transport`] and the reason.
    pub fn handle_transport_failure(&mut self, _now: Instant, failure: TransportFailure) -> Result<(), ClientError> {
        match self.stage {
            Stage::Awaiting { .. } | Stage::Binding => {
                self.wipe_request();
                self.stage = Stage::Done(Outcome::Transport(failure));
                Ok(())
            }
            Stage::Done(_) => Ok(()),
            _ => Err(ClientError::UnexpectedCall),
        }
    }

    /// The signature the last [`Step::Sign`] asked for.
    pub fn signed(&mut self, _now: Instant, signature: &[u8]) -> Result<(), ClientError> {
        let Stage::Signing { len, .. } = self.stage else {
            return Err(ClientError::UnexpectedCall);
        };
        let r = self.finish_csr(len, signature);
        client_core::settle(self, r)
    }

    // ---- outputs ----

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> Result<Step<'_>, ClientError> {
        client_core::advance(self, now, 8)?;
        #[cfg(any(feature = "log", feature = "defmt"))]
        self.log_end();
        Ok(match &self.stage {
            Stage::Ready => return Err(ClientError::UnexpectedCall),
            Stage::Binding => Step::Bind,
            Stage::Signing { digest, .. } => Step::Sign(SignRequest { digest: *digest, key: KeyRole::Requested }),
            Stage::Awaiting { reader, .. } if !reader.is_started() => Step::Send(self.bufs.io.get(..self.request_len).unwrap_or(&[])),
            Stage::Awaiting { .. } => return Err(ClientError::UnexpectedCall),
            Stage::Waiting { until } => Step::Wait(*until),
            Stage::Done(o) => Step::Done(o),
            Stage::Failed(e) => return Err(*e),
        })
    }

    /// Logs how the client ended, once (features `log` and `defmt`): every end is seen here,
    /// since the caller learns of it from [`Client::poll`].
    #[cfg(any(feature = "log", feature = "defmt"))]
    fn log_end(&mut self) {
        if self.end_logged {
            return;
        }
        match &self.stage {
            Stage::Done(outcome) => match outcome {
                Outcome::CaCerts | Outcome::CsrAttrs | Outcome::Issued | Outcome::ServerKeyGenerated => info!("est: done: {}", outcome),
                _ => error!("est: failed: {}", outcome),
            },
            Stage::Failed(e) => error!("est: the client stopped: {}", e),
            _ => return,
        }
        self.end_logged = true;
    }

    #[inline(never)]
    fn done(&mut self, o: Outcome) -> Result<(), ClientError> {
        self.stage = Stage::Done(o);
        Ok(())
    }

    fn csr_builder(&self) -> Option<CsrBuilder<'a>> {
        match self.operation {
            Operation::Enroll(b) | Operation::ReEnroll(b) | Operation::ServerKeyGen(b) => Some(b),
            _ => None,
        }
    }

    fn wants_binding(&self) -> bool {
        match self.config.channel_binding {
            ChannelBinding::Never => false,
            ChannelBinding::Always => true,
            ChannelBinding::WhenAsked => self.challenge_asked,
        }
    }

    fn prepare_next(&mut self) -> Result<(), ClientError> {
        // `new` refused what this build cannot do; asked again here so that no path can skip it.
        if let Some(feature) = needed_feature(&self.config, &self.operation) {
            return Err(ClientError::FeatureDisabled(feature));
        }
        match self.operation {
            Operation::CaCerts => return self.send(Request::CaCerts),
            #[cfg(feature = "csrattrs")]
            Operation::CsrAttrs => return self.send(Request::CsrAttrs),
            _ => {}
        }
        #[cfg(feature = "csrattrs")]
        if !self.attrs_done {
            return self.send(Request::CsrAttrs);
        }
        if self.wants_binding() && self.binding.is_none() {
            debug!("est: the CSR carries the channel binding: a new connection first");
            self.stage = Stage::Binding;
            return Ok(());
        }
        if self.csr.is_empty() {
            return self.prepare_csr();
        }
        self.send(Request::Enroll)
    }

    fn prepare_csr(&mut self) -> Result<(), ClientError> {
        let builder = self.csr_builder().ok_or(ClientError::UnexpectedCall)?;
        let mut b64 = [0u8; 88];
        let binding: Option<&str> = match (&self.binding, self.wants_binding()) {
            (Some(v), true) if !v.is_empty() => {
                let s = base64::encode(v, LineStyle::OneLine, &mut b64).map_err(ClientError::Encode)?;
                core::str::from_utf8(s).ok()
            }
            _ => None,
        };
        let builder = match binding {
            Some(s) => builder.challenge_password(ChallengePassword::Printable(s)),
            None => builder,
        };
        // What /csrattrs asked for: fixed-value extensions join the caller's (whose own win).
        #[cfg(feature = "csrattrs")]
        let mut extensions: heapless::Vec<crate::asn1::csr::Extension<'_>, 16> = heapless::Vec::new();
        #[cfg(feature = "csrattrs")]
        let _ = extensions.extend_from_slice(builder.extra_extensions());
        #[cfg(feature = "csrattrs")]
        let Buffers { own, work, .. } = &mut self.bufs;
        #[cfg(not(feature = "csrattrs"))]
        let Buffers { work, .. } = &mut self.bufs;
        #[cfg(feature = "csrattrs")]
        let own: &[u8] = own;
        #[cfg(feature = "csrattrs")]
        let builder = match csrattrs::CsrAttrs::parse(self.attributes.get(own)) {
            Ok(attrs) if !self.attributes.is_empty() => {
                let hints = attrs.hints();
                let mut report = AttributeReport {
                    challenge_password: hints.challenge_password,
                    to_fill: u8::try_from(hints.to_fill.len()).unwrap_or(u8::MAX),
                    key_mismatch: hints.key.is_some_and(|k| !k.accepts(self.key)),
                    other_hash: hints.hash.is_some_and(|h| h != HashAlgorithm::Sha256),
                    not_understood: hints.not_understood.saturating_add(hints.ignored),
                    ..AttributeReport::default()
                };
                for e in hints.extensions.iter() {
                    if builder.covers_extension(&e.oid) {
                        report.kept_own_extensions = report.kept_own_extensions.saturating_add(1);
                    } else if extensions.push(*e).is_ok() {
                        report.applied_extensions = report.applied_extensions.saturating_add(1);
                    } else {
                        report.not_understood = report.not_understood.saturating_add(1);
                    }
                }
                debug!("est: /csrattrs applied: {}", crate::fmt::Dbg(report));
                self.report = Some(report);
                builder.extensions(&extensions)
            }
            _ => builder,
        };
        // SHA-256 for every key (what `finish_csr` names in the CSR).
        let tbs = builder.encode_info(self.config.public_key, work).map_err(enc("work"))?;
        debug!("est: CSR built ({} bytes, channel binding in it: {}), to be signed", tbs.len(), binding.is_some());
        self.stage = Stage::Signing { digest: Digest::sha256(tbs), len: tbs.len() };
        Ok(())
    }

    fn finish_csr(&mut self, len: usize, signature: &[u8]) -> Result<(), ClientError> {
        if signature.len() != self.key.signature_len() {
            return Err(ClientError::Answer);
        }
        let tbs = self.bufs.work.get(..len).ok_or(ClientError::UnexpectedCall)?;
        let start = self.attributes.end;
        let dst = self.bufs.own.get_mut(start..).ok_or(ClientError::BufferTooSmall { buffer: "own", needed: start })?;
        let der = csr::assemble(tbs, self.key, HashAlgorithm::Sha256, signature, dst).map_err(enc("own"))?;
        self.csr = Span { start, end: start + der.len() };
        self.stage = Stage::Ready;
        Ok(())
    }

    /// `/.well-known/est/[<label>/]<op>` into `out` (pieces pushed one by one: no
    /// `core::fmt` in the image for this).
    fn path(&self, op: &str, out: &'_ mut heapless::String<96>) -> Result<(), ClientError> {
        out.clear();
        let (label, slash) = match self.config.label {
            Some(l) => (l, "/"),
            None => ("", ""),
        };
        ["/.well-known/est/", label, slash, op]
            .iter()
            .try_for_each(|part| out.push_str(part))
            .map_err(|_| ClientError::Config("CA label too long"))
    }

    /// Writes the request for `what` into `io` and waits for its response.
    fn send(&mut self, what: Request) -> Result<(), ClientError> {
        let op = match (what, self.operation) {
            (Request::CaCerts, _) => "cacerts",
            #[cfg(feature = "csrattrs")]
            (Request::CsrAttrs, _) => "csrattrs",
            (Request::Enroll, Operation::ReEnroll(_)) => "simplereenroll",
            #[cfg(feature = "serverkeygen")]
            (Request::Enroll, Operation::ServerKeyGen(_)) => "serverkeygen",
            #[cfg(not(feature = "serverkeygen"))]
            (Request::Enroll, Operation::ServerKeyGen(_)) => return Err(ClientError::FeatureDisabled("serverkeygen")),
            (Request::Enroll, _) => "simpleenroll",
        };
        let mut path = heapless::String::<96>::new();
        self.path(op, &mut path)?;
        // Authorization: a challenge to answer, or Basic up front.
        // Wiped when it goes out of scope: it holds the credentials (Basic) or a Digest answer.
        let mut auth = zeroize::Zeroizing::new([0u8; 512]);
        let method = if what == Request::Enroll { crate::http::Method::Post } else { crate::http::Method::Get };
        let auth_len = self.authorization(method, &path, &mut auth[..])?;
        let auth = core::str::from_utf8(auth.get(..auth_len).unwrap_or(&[])).map_err(|_| ClientError::Answer)?;
        let with_auth = [("Authorization", auth)];
        let Buffers { own, work, io } = &mut self.bufs;
        let headers: &[(&str, &str)] = if auth_len > 0 { &with_auth } else { &[] };
        self.request_len = if what == Request::Enroll {
            // The CSR as base64 in `work` (free until the response), then the request.
            let csr = self.csr.get(own);
            let body = base64::encode(csr, self.config.body_style, work).map_err(enc("work"))?;
            let hdrs = [("Content-Transfer-Encoding", "base64")];
            let mut all: heapless::Vec<(&str, &str), 2> = heapless::Vec::new();
            let _ = all.extend_from_slice(&hdrs);
            let _ = all.extend_from_slice(headers);
            let head =
                RequestHead { port: self.config.port, headers: &all, ..RequestHead::post(self.config.host, &path, "application/pkcs10") };
            write_request(&head, body, io).map_err(enc("io"))?.len()
        } else {
            let head = RequestHead { port: self.config.port, headers, ..RequestHead::get(self.config.host, &path) };
            write_request(&head, &[], io).map_err(enc("io"))?.len()
        };
        // The scheme only: never the header's value.
        info!(
            "est: sending {} {} (Authorization: {})",
            if what == Request::Enroll { "POST" } else { "GET" },
            path.as_str(),
            if auth_len == 0 {
                "none"
            } else if auth.starts_with("Digest") {
                "Digest"
            } else {
                "Basic"
            }
        );
        self.request_has_credentials = auth_len > 0;
        self.stage = Stage::Awaiting { what, reader: ResponseReader::new() };
        Ok(())
    }

    /// The Authorization header value for the next request into `out` (0: none).
    fn authorization(&mut self, method: crate::http::Method, uri: &str, out: &mut [u8]) -> Result<usize, ClientError> {
        use crate::http::auth;
        let Some(creds) = self.config.credentials else { return Ok(0) };
        let credentials = auth::Credentials::new(creds.user, creds.password.as_bytes());
        let unusable = |_| ClientError::Config("credentials unusable in an Authorization header");
        #[cfg(not(feature = "http-digest"))]
        let _ = (method, uri);
        #[cfg(not(feature = "http-digest"))]
        return match self.challenge {
            Some(BasicOffered) => auth::basic_authorization(&credentials, out).map(str::len).map_err(unusable),
            None if creds.preemptive_basic => auth::basic_authorization(&credentials, out).map(str::len).map_err(unusable),
            None => Ok(0),
        };
        #[cfg(feature = "http-digest")]
        match &self.challenge {
            Some(value) => match auth::Challenge::parse(value).map_err(unusable)? {
                auth::Challenge::Basic(_) => auth::basic_authorization(&credentials, out).map(str::len).map_err(unusable),
                #[cfg(feature = "http-digest")]
                auth::Challenge::Digest(challenge) => {
                    self.nonce_count = self.nonce_count.saturating_add(1);
                    let mut random = [0u8; 16];
                    self.rng.fill_bytes(&mut random);
                    let mut hex = [0u8; 32];
                    let cnonce = auth::cnonce_hex(&random, &mut hex).map_err(unusable)?;
                    let request = auth::DigestRequest { method, uri, cnonce, nc: self.nonce_count };
                    auth::digest_authorization(&challenge, &credentials, &request, out).map(str::len).map_err(unusable)
                }
            },
            None if creds.preemptive_basic => auth::basic_authorization(&credentials, out).map(str::len).map_err(unusable),
            None => Ok(0),
        }
    }

    fn process_response(&mut self, now: Instant) -> Result<(), ClientError> {
        let Stage::Awaiting { what, reader } = core::mem::replace(&mut self.stage, Stage::Ready) else {
            return Err(ClientError::UnexpectedCall);
        };
        let none = ResponseHead::default();
        let head = reader.head().unwrap_or(&none);
        debug!("est: {} answered HTTP {} ({} bytes)", what.name(), head.status, reader.body(self.bufs.io).len());
        match head.status {
            200 => {}
            202 if what == Request::Enroll => return self.schedule_retry(now, head),
            #[cfg(feature = "csrattrs")]
            204 | 404 if what == Request::CsrAttrs => {
                debug!("est: /csrattrs: none (HTTP {})", head.status);
                self.attrs_done = true;
                self.attributes = Span::default();
                return if matches!(self.operation, Operation::CsrAttrs) { self.done(Outcome::CsrAttrs) } else { Ok(()) };
            }
            401 => {
                // Answer a challenge once (again only for a stale Digest nonce).
                if self.config.credentials.is_none() || head.www_authenticate.is_empty() {
                    return self.done(Outcome::Unauthorized);
                }
                let parsed = crate::http::auth::Challenge::parse(&head.www_authenticate);
                let stale = matches!(parsed, Ok(crate::http::auth::Challenge::Digest(d)) if d.stale);
                if self.challenge.is_some() && !(stale && self.auth_attempts < MAX_AUTH_ATTEMPTS) {
                    return self.done(Outcome::Unauthorized);
                }
                // Nothing this build answers (a Digest challenge without the `http-digest`
                // feature, unless Basic is offered too): the request is not sent again.
                if parsed.is_err() {
                    return self.done(Outcome::InvalidReply(ReplyError::UnsupportedChallenge));
                }
                self.auth_attempts = self.auth_attempts.saturating_add(1);
                warn!(
                    "est: 401: answering the {} challenge (attempt {})",
                    if matches!(parsed, Ok(crate::http::auth::Challenge::Digest(_))) { "Digest" } else { "Basic" },
                    self.auth_attempts
                );
                #[cfg(feature = "http-digest")]
                {
                    self.challenge = Some(head.www_authenticate.clone());
                }
                // Without `http-digest` a challenge that parses is Basic (Digest is refused above).
                #[cfg(not(feature = "http-digest"))]
                {
                    self.challenge = Some(BasicOffered);
                }
                // A new connection: a new binding and CSR when bound.
                if self.binding.is_some() {
                    self.binding = None;
                    self.csr = Span::default();
                }
                return Ok(());
            }
            status => {
                let body = reader.body(self.bufs.io);
                return self.done(Outcome::HttpStatus { status, text: status_text(body) });
            }
        }
        // (Without the `serverkeygen` feature such a reply does not decode as base64 below.)
        #[cfg(feature = "serverkeygen")]
        if head.content_type_is("multipart/mixed") {
            return self.take_server_keygen(&reader, head);
        }
        // 200: a base64 body (whatever Content-Transfer-Encoding says, RFC 8951).
        #[cfg(feature = "csrattrs")]
        let Buffers { own, work, io } = &mut self.bufs;
        #[cfg(not(feature = "csrattrs"))]
        let Buffers { work, io, .. } = &mut self.bufs;
        let body = reader.body(io);
        let decoded_len = match base64::decode(body, work) {
            Ok(d) => d.len(),
            Err(DecodeError::OutputTooSmall { needed }) => return Err(ClientError::BufferTooSmall { buffer: "work", needed }),
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Malformed(e))),
        };
        #[cfg(feature = "csrattrs")]
        if what == Request::CsrAttrs {
            self.attrs_done = true;
            let der = work.get(..decoded_len).unwrap_or(&[]);
            match csrattrs::CsrAttrs::parse(der) {
                Ok(a) => {
                    self.challenge_asked = a.challenge_password_requested();
                    debug!("est: /csrattrs received ({} bytes; challengePassword asked: {})", decoded_len, self.challenge_asked);
                }
                Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Malformed(e))),
            }
            // Kept in `own`, ahead of the CSR, to shape it.
            own.get_mut(..decoded_len).ok_or(ClientError::BufferTooSmall { buffer: "own", needed: decoded_len })?.copy_from_slice(der);
            self.attributes = Span { start: 0, end: decoded_len };
            return if matches!(self.operation, Operation::CsrAttrs) { self.done(Outcome::CsrAttrs) } else { Ok(()) };
        }
        // certs-only, perhaps BER: normalized through `io` (the raw response is spent).
        let der_len = match normalize_in_place(work, io, decoded_len) {
            Ok(n) => n,
            Err(DecodeError::OutputTooSmall { needed }) => return Err(ClientError::BufferTooSmall { buffer: "io", needed }),
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Malformed(e))),
        };
        self.certs = Span { start: 0, end: der_len };
        let outcome = self.check_certificates(what);
        self.done(outcome)
    }

    fn schedule_retry(&mut self, now: Instant, head: &ResponseHead) -> Result<(), ClientError> {
        let hint = crate::http::date::retry_after(&head.retry_after, self.config.wall_time);
        let policy = self.config.retry;
        let retry = self.retry.get_or_insert_with(|| RetrySchedule::new(policy, now));
        self.stage = match retry.next(now, hint) {
            Some(until) => {
                info!(
                    "est: 202: retry {} in {} ms (Retry-After: {})",
                    retry.attempts(),
                    (until - now).as_millis(),
                    head.retry_after.as_str()
                );
                Stage::Waiting { until }
            }
            None => Stage::Done(Outcome::RetryLimit { attempts: retry.attempts() }),
        };
        Ok(())
    }

    fn check_certificates(&mut self, what: Request) -> Outcome {
        let work: &[u8] = self.bufs.work;
        let Ok(sd) = SignedDataRef::parse(self.certs.get(work)) else {
            return Outcome::InvalidReply(ReplyError::Malformed(DecodeError::InvalidValue { what: "certs-only SignedData" }));
        };
        if what == Request::CaCerts {
            let trusted = self.trusted_mask();
            if trusted != 0 {
                info!("est: /cacerts trusted (certificates matching the configured trust: {})", trusted.count_ones());
            }
            return if trusted != 0 { Outcome::CaCerts } else { Outcome::InvalidReply(ReplyError::UntrustedCaCerts) };
        }
        let Some(issued) = sd.certificates().find(|c| c.spki().as_der() == self.config.public_key) else {
            return Outcome::InvalidReply(ReplyError::NotFound);
        };
        if !Self::issued_by_ca(&self.config, &issued, &sd) {
            return Outcome::InvalidReply(ReplyError::NotIssuedByCa);
        }
        info!("est: certificate issued: subject {}, serial {}", issued.subject(), crate::fmt::Hex(issued.serial()));
        self.certificate = Span::of(work, issued.as_der()).unwrap_or_default();
        Outcome::Issued
    }

    #[cfg(feature = "serverkeygen")]
    fn take_server_keygen(&mut self, reader: &ResponseReader, head: &ResponseHead) -> Result<(), ClientError> {
        let r = self.take_server_keygen_inner(reader, head);
        if r.is_err() || !matches!(self.outcome(), Some(Outcome::ServerKeyGenerated)) {
            // Whatever went wrong, the key (decoded in `work`, base64 in the response in
            // `io`) does not stay behind, and `server_key` has nothing to hand out.
            use zeroize::Zeroize;
            self.bufs.work.zeroize();
            self.bufs.io.zeroize();
            self.key_span = Span::default();
            self.certs = Span::default();
            self.certificate = Span::default();
        }
        r
    }

    #[cfg(feature = "serverkeygen")]
    fn take_server_keygen_inner(&mut self, reader: &ResponseReader, head: &ResponseHead) -> Result<(), ClientError> {
        use super::multipart::{ServerKeyGen, wipe_key_part};
        let Buffers { work, io, .. } = &mut self.bufs;
        let (key_len, certs_len) = {
            let body = reader.body(io);
            let parsed = match ServerKeyGen::parse(&head.content_type, body) {
                Ok(p) if p.key_is_encrypted() => {
                    return self.done(Outcome::InvalidReply(ReplyError::Malformed(DecodeError::Unsupported {
                        what: "encrypted server-generated key",
                    })));
                }
                Ok(p) => p,
                Err(_) => {
                    return self.done(Outcome::InvalidReply(ReplyError::Malformed(DecodeError::InvalidValue { what: "multipart body" })));
                }
            };
            // The key first, the certificates after it, both in `work`.
            let key_len = match parsed.key_part().decode_base64(work) {
                Ok(k) => k.len(),
                Err(_) => return Err(ClientError::BufferTooSmall { buffer: "work", needed: body.len() }),
            };
            let rest = work.get_mut(key_len..).unwrap_or(&mut []);
            let certs_len = match parsed.decode_certificates(rest) {
                Ok(c) => c.len(),
                Err(_) => return Err(ClientError::BufferTooSmall { buffer: "work", needed: body.len() }),
            };
            (key_len, certs_len)
        };
        self.key_span = Span { start: 0, end: key_len };
        // The base64 key in the response is wiped at once.
        let body_len = reader.body(io).len();
        if let Some(body) = io.get_mut(..body_len) {
            // The body's start in `io`: the parser keeps it at the front.
            let _ = wipe_key_part(&head.content_type, body);
        }
        let rest = work.get_mut(key_len..).unwrap_or(&mut []);
        let n = match normalize_in_place(rest, io, certs_len) {
            Ok(n) => n,
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Malformed(e))),
        };
        self.certs = Span { start: key_len, end: key_len + n };
        let work: &[u8] = work;
        let Ok(sd) = SignedDataRef::parse(self.certs.get(work)) else {
            return self.done(Outcome::InvalidReply(ReplyError::Malformed(DecodeError::InvalidValue { what: "certs-only SignedData" })));
        };
        // The certificate for the new key: the end-entity certificate of the reply.
        let Some(issued) = sd.certificates().find(|c| !c.basic_constraints().ok().flatten().is_some_and(|b| b.ca)) else {
            return self.done(Outcome::InvalidReply(ReplyError::NotFound));
        };
        if !Self::issued_by_ca(&self.config, &issued, &sd) {
            return self.done(Outcome::InvalidReply(ReplyError::NotIssuedByCa));
        }
        // The key must be the one the certificate certifies; otherwise it is of no use (and
        // is wiped with the rest, above).
        if !super::multipart::key_matches_spki(self.key_span.get(work), &issued.spki()).unwrap_or(false) {
            return self.done(Outcome::InvalidReply(ReplyError::ServerKeyMismatch));
        }
        info!(
            "est: certificate and server-generated key received: subject {}, serial {}",
            issued.subject(),
            crate::fmt::Hex(issued.serial())
        );
        self.certificate = Span::of(work, issued.as_der()).unwrap_or_default();
        self.done(Outcome::ServerKeyGenerated)
    }
}

/// The first [`MAX_CA_CERTS`] certificates of a certs-only reply as a path-validation set,
/// each looked up by index through [`reply_cert`] (one copy of the iteration code for every
/// use).
struct ReplyCerts<'s, 'w>(&'s SignedDataRef<'w>);

impl<'w> path::CertificateSet<'w> for ReplyCerts<'_, 'w> {
    fn count(&self) -> usize {
        (0..MAX_CA_CERTS).take_while(|&i| reply_cert(self.0, i).is_some()).count()
    }
    fn get(&self, i: usize) -> Option<CertificateRef<'w>> {
        if i < MAX_CA_CERTS { reply_cert(self.0, i) } else { None }
    }
}

/// Certificate `i` of `reply` (those that do not parse skipped, as
/// [`SignedDataRef::certificates`] does).
#[inline(never)]
fn reply_cert<'w>(reply: &SignedDataRef<'w>, i: usize) -> Option<CertificateRef<'w>> {
    reply.certificates().nth(i)
}

/// The start of a refusal's body as text: its first 128 bytes when they are UTF-8 (else
/// nothing), up to the first control character (C0, DEL or C1). Byte-wise: a C1 control is
/// `C2 80` to `C2 9F` in UTF-8, and `C2` is never a continuation byte.
fn status_text(body: &[u8]) -> heapless::String<128> {
    let text = core::str::from_utf8(body.get(..body.len().min(128)).unwrap_or(&[])).unwrap_or("");
    let b = text.as_bytes();
    let end = (0..b.len())
        .find(|&i| match b.get(i) {
            Some(&c) if c < 0x20 || c == 0x7f => true,
            Some(0xc2) => b.get(i.saturating_add(1)).is_some_and(|n| (0x80..=0x9f).contains(n)),
            _ => false,
        })
        .unwrap_or(b.len());
    let mut out = heapless::String::new();
    // At most 128 bytes: it fits.
    let _ = out.push_str(text.get(..end).unwrap_or(""));
    out
}

/// Normalizes the BER element in `work[..len]` to DER, through `scratch`, back into `work`.
fn normalize_in_place(work: &mut [u8], scratch: &mut [u8], len: usize) -> Result<usize, DecodeError> {
    let input = work.get(..len).ok_or(DecodeError::Truncated)?;
    if ber::is_definite(input) {
        return Ok(len);
    }
    let n = ber::normalize(input, scratch)?.len();
    work.get_mut(..n).ok_or(DecodeError::OutputTooSmall { needed: n })?.copy_from_slice(scratch.get(..n).unwrap_or(&[]));
    Ok(n)
}

impl<R: CryptoRngCore> client_core::Core for Client<'_, '_, R> {
    crate::client_core::stage_core!();
    fn response_starts(&mut self) {
        // The request has been sent: its credentials are wiped before the response lands.
        self.wipe_request();
    }
    fn prepare(&mut self, _now: Instant) -> Result<(), ClientError> {
        self.prepare_next()
    }
    fn process(&mut self, now: Instant) -> Result<(), ClientError> {
        self.process_response(now)
    }
    fn retry(&mut self, _now: Instant) {
        debug!("est: retry due: the same request again");
        // The same request again, on a new connection (a new binding, a new CSR).
        if self.binding.is_some() {
            self.binding = None;
            self.csr = Span::default();
        }
        self.stage = Stage::Ready;
    }
}
