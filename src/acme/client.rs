//! The ACME client as a Sans-IO state machine (RFC 8555), the same [`Step`] shape as the SCEP
//! and EST clients:
//!
//! ```text
//! let mut client = Client::new(config, Operation::Order { .. }, buffers)?;
//! loop {
//!     match client.poll(now)? {
//!         Step::Send(request)    => { write it on a new TLS connection; feed the reply to
//!                                     handle_response_data / handle_response_end, or
//!                                     handle_transport_failure(now, why) }
//!         Step::Sign(req)        => client.signed(now, &key(req.key).sign_prehash(&req.digest)?)?,
//!                                   // KeyRole::Account: a JWS (ES256 raw r || s, RS256);
//!                                   // KeyRole::Requested: the CSR
//!         Step::Publish(task)    => { answer the challenge (http-01: serve task.key_authorization
//!                                     at task.http_path(); dns-01: TXT task.dns_txt_value());
//!                                     client.published(now, true)? }
//!         Step::Withdraw(task)   => { stop answering it; client.withdrawn(now)? }
//!         Step::Wait(instant)    => sleep until then (authorization or order polling, Retry-After),
//!         Step::Done(outcome)    => break,   // Issued: client.certificates()
//!     }
//! }
//! ```
//!
//! What it does: the directory; nonces (newNonce when it has none, the Replay-Nonce of every
//! reply, and the same request again, newly signed, on `badNonce`, at most
//! [`MAX_BAD_NONCE_RETRIES`] times in a row); newAccount with `jwk` (contact, terms agreed,
//! `onlyReturnExisting`, External Account Binding, RFC 8555 section 7.3.4), every other
//! request with `kid`; newOrder for dNSName and IP identifiers (RFC 8738); each authorization,
//! the challenge of a kind the caller says it answers ([`Challenges`]), answered, polled and
//! withdrawn; finalize with the crate's CSR (signed by the certificate key); order polling;
//! the certificate chain (`application/pem-certificate-chain`), whose leaf must carry the
//! requested key and, when [`Config::trust_anchor`] is given, chain to it (else the
//! alternates of `Link: rel="alternate"` are tried, at most [`MAX_ALTERNATES`]). Polling and
//! Retry-After (`rateLimited`, `serverInternal`, `processing`) follow [`Config::retry`]. A
//! problem document ends the client with [`Outcome::Problem`]: its type, status and the
//! server's detail text.
//!
//! The other operations: revocation by the account key or the certificate's own key
//! ([`Operation::Revoke`]), account key rollover ([`Operation::KeyChange`]: the inner JWS
//! signed by the new key), deactivation ([`Operation::Deactivate`]), and the renewal window
//! of a certificate (ARI, RFC 9773: [`Operation::RenewalInfo`]); a renewal order names the
//! certificate it replaces ([`Config::replaces`]).
//!
//! Limits: at most [`MAX_IDENTIFIERS`] identifiers per order, [`message::MAX_CHALLENGES`]
//! challenges per authorization, 8 certificates per chain, a Replay-Nonce of at most
//! [`MAX_NONCE`] bytes; every URL and token is used as sent, so one that carries JSON escapes
//! is refused. Sizes: the `work` buffer keeps the URLs, the CSR and the chain (4 KiB for a
//! P-256 account and pebble's two-certificate chains; 8 KiB for RSA keys or longer chains);
//! `io` holds one request or reply with its head (the PEM chain is the largest reply: 4 to
//! 8 KiB).
//!
//! Every request goes to the server the client was configured with: a URL in a reply that
//! names another origin ends the client ([`Outcome::Protocol`]), so one connector serves the
//! whole run.

use super::json::Writer;
use super::jws::{AccountKey, Jwk, b64url, b64url_len, hs256};
use super::message::{self, Authorization, Directory, JsonError, Problem, ProblemDocument, ProblemKind};
use crate::asn1::cert::CertificateRef;
use crate::asn1::csr::{self, CsrBuilder};
use crate::client_core;
use crate::crypto::{Digest, HashAlgorithm};
use crate::error::{ClientError, EncodeError, HttpError};
use crate::hal::KeyRole;
use crate::http::response::header_values;
use crate::http::{RequestHead, ResponseReader, write_request};
use crate::retry::{RetryPolicy, RetrySchedule};
use crate::span::Span;
use crate::time::{Duration, Instant, UnixTime};
use crate::transport::TransportFailure;

/// The most `badNonce` answers to one request before the client gives up.
pub const MAX_BAD_NONCE_RETRIES: u8 = 3;
/// The longest Replay-Nonce kept.
pub const MAX_NONCE: usize = 128;
/// The most identifiers in one order.
pub const MAX_IDENTIFIERS: usize = message::MAX_AUTHORIZATIONS;

/// An identifier to order a certificate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// A DNS name (dNSName in the certificate).
    Dns(&'a str),
    /// An IP address (RFC 8738), in its textual form (`192.0.2.1`, `2001:db8::1`).
    Ip(&'a str),
}

impl Identifier<'_> {
    fn object(&self) -> message::IdentifierObject<'_> {
        match self {
            Self::Dns(v) => message::IdentifierObject { kind: "dns", value: v },
            Self::Ip(v) => message::IdentifierObject { kind: "ip", value: v },
        }
    }
}

/// The challenge kinds the caller can answer (the client picks the first offered, in the
/// order http-01, dns-01, tls-alpn-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Challenges {
    /// http-01: the firmware's web server serves the key authorization on port 80.
    pub http01: bool,
    /// dns-01: the caller publishes a TXT record.
    pub dns01: bool,
    /// tls-alpn-01 (RFC 8737): the caller's TLS server presents the validation certificate.
    pub tls_alpn01: bool,
}

/// A challenge kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChallengeKind {
    /// http-01.
    Http01,
    /// dns-01.
    Dns01,
    /// tls-alpn-01.
    TlsAlpn01,
}

impl ChallengeKind {
    fn from_type(t: &str) -> Option<Self> {
        match t {
            "http-01" => Some(Self::Http01),
            "dns-01" => Some(Self::Dns01),
            "tls-alpn-01" => Some(Self::TlsAlpn01),
            _ => None,
        }
    }
    fn wanted(self, c: Challenges) -> bool {
        match self {
            Self::Http01 => c.http01,
            Self::Dns01 => c.dns01,
            Self::TlsAlpn01 => c.tls_alpn01,
        }
    }
}

/// The challenge the caller is asked to answer ([`Step::Publish`]) or to stop answering
/// ([`Step::Withdraw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeTask<'c> {
    /// Its kind.
    pub kind: ChallengeKind,
    /// The identifier being validated (a DNS name or an IP address).
    pub identifier: &'c str,
    /// The challenge token.
    pub token: &'c str,
    /// The key authorization, `token "." thumbprint` (RFC 8555 section 8.1): the http-01
    /// response body.
    pub key_authorization: &'c str,
}

impl ChallengeTask<'_> {
    /// The http-01 path, `/.well-known/acme-challenge/<token>`.
    pub fn http_path(&self) -> heapless::String<128> {
        let mut s = heapless::String::new();
        let _ = s.push_str("/.well-known/acme-challenge/");
        let _ = s.push_str(self.token);
        s
    }

    /// The SHA-256 of the key authorization: the dns-01 TXT value (base64url) and the
    /// tls-alpn-01 acmeIdentifier extension's content.
    pub fn key_authorization_digest(&self) -> [u8; 32] {
        let d = Digest::sha256(self.key_authorization.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_bytes().get(..32).unwrap_or(&[0u8; 32]));
        out
    }

    /// The dns-01 TXT record value for `_acme-challenge.<identifier>`.
    pub fn dns_txt_value(&self) -> heapless::String<43> {
        let mut b = [0u8; 43];
        let s = b64url(&self.key_authorization_digest(), &mut b).unwrap_or("");
        heapless::String::try_from(s).unwrap_or_default()
    }
}

/// External Account Binding (RFC 8555 section 7.3.4): the key identifier and MAC key the CA
/// gave out of band.
#[derive(Clone, Copy)]
pub struct ExternalAccountBinding<'a> {
    /// The key identifier.
    pub kid: &'a str,
    /// The HMAC key (decoded from the base64url the CA hands out).
    pub hmac_key: &'a [u8],
}

impl core::fmt::Debug for ExternalAccountBinding<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExternalAccountBinding").field("kid", &self.kid).field("hmac_key", &"<redacted>").finish()
    }
}

/// How the client reaches the server and who it is there.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// The server's host (the Host header, and the origin every URL must have).
    pub host: &'a str,
    /// The server's port (443 for ACME over HTTPS).
    pub port: u16,
    /// The directory's path (`/directory`, pebble: `/dir`).
    pub directory: &'a str,
    /// The account key's SubjectPublicKeyInfo (DER; P-256 or RSA). Requests are signed with
    /// [`KeyRole::Account`]. May be empty for [`Operation::RenewalInfo`] (a plain GET) and a
    /// revocation by the certificate's key.
    pub account_key: &'a [u8],
    /// The account URL when known (saved from an earlier run): newAccount is skipped.
    pub account_url: Option<&'a str>,
    /// Contact URIs for a new account (`mailto:...`), at most four.
    pub contact: &'a [&'a str],
    /// Agree to the terms of service.
    pub terms_agreed: bool,
    /// External Account Binding for a CA that requires it.
    pub eab: Option<ExternalAccountBinding<'a>>,
    /// The challenges the caller can answer.
    pub challenges: Challenges,
    /// Authorization and order polling, and Retry-After waits.
    pub retry: RetryPolicy,
    /// The certificate key's SubjectPublicKeyInfo (DER): the CSR's key, which the issued
    /// certificate must carry. Its signature is asked for with [`KeyRole::Requested`].
    pub public_key: &'a [u8],
    /// The CA certificate (DER) the issued chain must lead to; `None`: the chain is not
    /// checked beyond its leaf. When the chain the server gives first does not lead there,
    /// its alternates (`Link: rel="alternate"`, at most [`MAX_ALTERNATES`]) are tried.
    pub trust_anchor: Option<&'a [u8]>,
    /// The certificate (DER) a new order replaces (ARI, RFC 9773 section 5): sent as the
    /// order's `replaces` when the server's directory offers ARI, so the CA knows the renewal
    /// is the one it suggested.
    pub replaces: Option<&'a [u8]>,
}

impl<'a> Config<'a> {
    /// A configuration for the server at `host:port` with its directory at `directory`;
    /// terms agreed, http-01 answered, the default polling policy, no EAB, no trust anchor.
    pub fn new(host: &'a str, port: u16, directory: &'a str, account_key: &'a [u8], public_key: &'a [u8]) -> Self {
        Self {
            host,
            port,
            directory,
            account_key,
            account_url: None,
            contact: &[],
            terms_agreed: true,
            eab: None,
            challenges: Challenges { http01: true, dns01: false, tls_alpn01: false },
            retry: RetryPolicy::new(Duration::from_secs(1), 2, Duration::from_secs(60), 30, Duration::from_secs(900)),
            public_key,
            trust_anchor: None,
            replaces: None,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// Register the account (or find it: `only_existing`) and end with its URL.
    Account {
        /// Send `onlyReturnExisting`: find the account of this key, create none.
        only_existing: bool,
    },
    /// Order a certificate for `identifiers` with a CSR from `csr` (its SANs should name them).
    Order {
        /// What the certificate is for.
        identifiers: &'a [Identifier<'a>],
        /// The CSR to build (signed by the certificate key).
        csr: CsrBuilder<'a>,
    },
    /// Revoke a certificate (RFC 8555 section 7.6), signed by the account key (the account
    /// is looked up with `onlyReturnExisting` when its URL is not configured) or, with
    /// `by_certificate_key`, by the certificate's own key ([`KeyRole::Certificate`], its JWK
    /// in the request).
    Revoke {
        /// The certificate (DER).
        certificate: &'a [u8],
        /// The CRL reason code (RFC 5280 section 5.3.1), if any.
        reason: Option<u8>,
        /// Sign with the certificate's key instead of the account key.
        by_certificate_key: bool,
    },
    /// Roll the account over to a new key (RFC 8555 section 7.3.5): the inner JWS is
    /// signed by the new key ([`KeyRole::Requested`]), the outer by the current account key.
    /// Afterwards the account key is `new_key`.
    KeyChange {
        /// The new key's SubjectPublicKeyInfo (DER; P-256 or RSA).
        new_key: &'a [u8],
    },
    /// Deactivate the account (RFC 8555 section 7.3.6); it cannot be used again.
    Deactivate,
    /// Ask when to renew `certificate` (ARI, RFC 9773): ends with
    /// [`Outcome::RenewalWindow`], or [`Outcome::NoRenewalInfo`] when the server offers no
    /// ARI (then the caller's own renewal policy applies).
    RenewalInfo {
        /// The certificate (DER; it must carry an authority key identifier).
        certificate: &'a [u8],
    },
}

/// The most alternate chains tried (`Link: rel="alternate"`).
pub const MAX_ALTERNATES: usize = 4;

/// The caller's buffers.
#[derive(Debug)]
pub struct Buffers<'b> {
    /// URLs, the account and order state, the CSR, then the issued chain (DER): 4 KiB is
    /// enough for pebble's two-certificate chains, 8 KiB for most public CAs.
    pub work: &'b mut [u8],
    /// The request out and the reply in (head kept): the largest reply is the PEM chain.
    pub io: &'b mut [u8],
}

/// A signature the client asks for.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The digest (SHA-256).
    pub digest: Digest,
    /// [`KeyRole::Account`] (a JWS) or [`KeyRole::Requested`] (the CSR).
    pub key: KeyRole,
}

/// What to do next.
#[derive(Debug)]
pub enum Step<'c> {
    /// Send this request on a new connection and feed the reply back.
    Send(&'c [u8]),
    /// Sign a digest.
    Sign(SignRequest),
    /// Answer this challenge, then call [`Client::published`].
    Publish(ChallengeTask<'c>),
    /// Stop answering this challenge, then call [`Client::withdrawn`].
    Withdraw(ChallengeTask<'c>),
    /// Nothing to do before then.
    Wait(Instant),
    /// Finished.
    Done(&'c Outcome),
}

/// How the client ended.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The certificate was issued: [`Client::certificates`].
    Issued,
    /// The account exists ([`Operation::Account`]): [`Client::account_url`].
    Account,
    /// The certificate was revoked.
    Revoked,
    /// The account key was changed: the new key is the account key from now on.
    KeyChanged,
    /// The account was deactivated.
    Deactivated,
    /// The server's suggested renewal window (ARI): renew at a time chosen uniformly
    /// inside it (the lifecycle policy's jitter), and ask again after `retry_after_secs`.
    RenewalWindow {
        /// The window's start.
        start: UnixTime,
        /// The window's end.
        end: UnixTime,
        /// When to ask again (the reply's Retry-After; 6 hours when it has none).
        retry_after_secs: u64,
    },
    /// The server offers no ARI (no `renewalInfo` in its directory).
    NoRenewalInfo,
    /// The server answered with a problem document.
    Problem(Problem),
    /// An authorization failed (the challenge's problem, when the server gave one).
    AuthorizationFailed(Option<Problem>),
    /// The order became invalid (its problem, when the server gave one).
    OrderInvalid(Option<Problem>),
    /// No challenge offered for an identifier is of a kind the caller answers.
    NoUsableChallenge,
    /// The caller could not answer the challenge ([`Client::published`] with false).
    ChallengeNotPublished,
    /// Polling or Retry-After waits ran out ([`Config::retry`]).
    TimedOut,
    /// The account is not valid (deactivated or revoked).
    AccountNotValid,
    /// The issued certificate does not carry the requested key.
    WrongKey,
    /// The issued chain does not lead to the trust anchor.
    Untrusted,
    /// A reply is not what ACME specifies here (which part).
    Protocol(&'static str),
    /// A reply's JSON was refused.
    Json(JsonError),
    /// An unexpected HTTP status without a problem document.
    HttpStatus(u16),
    /// The HTTP response was unusable (malformed, or larger than the `io` buffer: the size
    /// it allows is in the error).
    Http(HttpError),
    /// Connecting, writing or reading failed, and why.
    Transport(TransportFailure),
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Issued => f.write_str("the certificate was issued"),
            Self::Account => f.write_str("the account exists"),
            Self::Revoked => f.write_str("the certificate was revoked"),
            Self::KeyChanged => f.write_str("the account key was changed"),
            Self::Deactivated => f.write_str("the account was deactivated"),
            Self::RenewalWindow { start, end, .. } => {
                write!(f, "the server suggests renewing between {} and {} (Unix time)", start.as_secs(), end.as_secs())
            }
            Self::NoRenewalInfo => f.write_str("the server offers no renewal information (ARI)"),
            Self::Problem(p) => write!(f, "{p}"),
            Self::AuthorizationFailed(Some(p)) => write!(f, "the authorization failed: {p}"),
            Self::AuthorizationFailed(None) => f.write_str("the authorization failed (no reason given)"),
            Self::OrderInvalid(Some(p)) => write!(f, "the order became invalid: {p}"),
            Self::OrderInvalid(None) => f.write_str("the order became invalid (no reason given)"),
            Self::NoUsableChallenge => f.write_str("no challenge offered is of a kind this device answers"),
            Self::ChallengeNotPublished => f.write_str("the challenge answer could not be published"),
            Self::TimedOut => f.write_str("the server did not finish within the polling policy"),
            Self::AccountNotValid => f.write_str("the account is deactivated or revoked"),
            Self::WrongKey => f.write_str("the issued certificate does not carry the requested key"),
            Self::Untrusted => f.write_str("the issued chain does not lead to the trust anchor"),
            Self::Protocol(what) => write!(f, "the reply is not valid ACME: {what}"),
            Self::Json(e) => write!(f, "{e}"),
            Self::HttpStatus(s) => write!(f, "unexpected HTTP status {s} without a problem document"),
            Self::Http(e) => write!(f, "the HTTP response was unusable: {e}"),
            Self::Transport(why) => write!(f, "{why}"),
        }
    }
}

/// Where the client is in its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Directory,
    Account,
    Order,
    /// POST-as-GET authorization `n`.
    Authz(u8),
    /// POST `{}` to the challenge of authorization `n`.
    Respond(u8),
    /// POST-as-GET authorization `n` until it is final.
    PollAuthz(u8),
    Csr,
    Finalize,
    PollOrder,
    Certificate,
    /// The alternate chain `n` (`Link: rel="alternate"` of the certificate).
    Alternate(u8),
    Revoke,
    /// The inner JWS of a key change is built and signed (no request).
    KeyChangeInner,
    #[cfg_attr(not(feature = "acme-manage"), allow(dead_code))]
    KeyChange,
    Deactivate,
    RenewalInfo,
}

/// What a request in flight is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Nonce,
    Phase(Phase),
}

// Without an allocator there is nothing to box into; one Stage lives in each client.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Stage {
    Ready,
    /// A JWS waits for its signature, whose base64url goes to `io[at..]`.
    Signing {
        digest: Digest,
        at: usize,
        what: Request,
        role: KeyRole,
        sig_len: usize,
    },
    /// The inner JWS of a key change (`work[at..]` gets the signature) waits for the new
    /// key's signature.
    #[cfg_attr(not(feature = "acme-manage"), allow(dead_code))]
    InnerSigning {
        digest: Digest,
        at: usize,
        sig_len: usize,
    },
    /// The CSR (`work[arena..arena + len]`) waits for its signature.
    CsrSigning {
        digest: Digest,
        len: usize,
    },
    Awaiting {
        what: Request,
        reader: ResponseReader,
    },
    Publishing,
    Withdrawing {
        then: Option<Outcome>,
    },
    Waiting {
        until: Instant,
    },
    Done(Outcome),
    Failed(ClientError),
}

/// The URLs and values kept in `work`'s arena.
#[derive(Debug, Clone, Default)]
struct Kept {
    new_nonce: Span,
    new_account: Span,
    new_order: Span,
    account: Span,
    order: Span,
    finalize: Span,
    certificate: Span,
    authorizations: heapless::Vec<Span, { message::MAX_AUTHORIZATIONS }>,
    challenge: Span,
    identifier: Span,
    token: Span,
    key_authorization: Span,
    csr: Span,
    chain: Span,
    revoke_cert: Span,
    key_change: Span,
    renewal_info: Span,
    /// The key change's inner JWS.
    #[cfg_attr(not(feature = "acme-manage"), allow(dead_code))]
    inner: Span,
    alternates: heapless::Vec<Span, MAX_ALTERNATES>,
}

/// The ACME client. See the module documentation.
pub struct Client<'a, 'b> {
    config: Config<'a>,
    operation: Operation<'a>,
    bufs: Buffers<'b>,
    key: AccountKey<'a>,
    thumbprint: heapless::String<43>,
    stage: Stage,
    phase: Phase,
    nonce: heapless::String<MAX_NONCE>,
    kept: Kept,
    /// The end of the arena in `work` (what is kept); scratch space follows.
    arena: usize,
    challenge_kind: Option<ChallengeKind>,
    retry: Option<RetrySchedule>,
    bad_nonces: u8,
    request_len: usize,
    /// The end has been logged.
    #[cfg(any(feature = "log", feature = "defmt"))]
    end_logged: bool,
}

impl core::fmt::Debug for Client<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("acme::Client").field("phase", &self.phase).field("stage", &self.stage).finish_non_exhaustive()
    }
}

fn enc(buffer: &'static str) -> impl Fn(EncodeError) -> ClientError {
    move |e| match e {
        EncodeError::BufferTooSmall { needed } => ClientError::BufferTooSmall { buffer, needed },
        e => ClientError::Encode(e),
    }
}

/// A JWS protected header (RFC 8555 section 6.2).
struct Protected<'x> {
    alg: &'x str,
    kid: Option<&'x str>,
    jwk: Option<Jwk<'x>>,
    nonce: Option<&'x str>,
    url: &'x str,
}

impl Protected<'_> {
    /// Writes the header's JSON into `out`: its length, or the size needed.
    fn write(&self, out: &mut [u8]) -> Result<usize, usize> {
        let mut w = Writer::new(out);
        w.raw(b"{").name("alg", true).str(self.alg);
        if let Some(kid) = self.kid {
            w.name("kid", false).str(kid);
        }
        if let Some(jwk) = &self.jwk {
            w.name("jwk", false);
            jwk.write(&mut w);
        }
        if let Some(nonce) = self.nonce {
            w.name("nonce", false).str(nonce);
        }
        w.name("url", false).str(self.url).raw(b"}");
        w.finish()
    }
}

/// A newAccount payload (RFC 8555 section 7.3): `contact` when there is one,
/// `onlyReturnExisting` when true, the EAB's flattened JWS (protected, payload, signature)
/// when given.
fn write_new_account(out: &mut [u8], config: &Config<'_>, only_existing: bool, eab: Option<[&str; 3]>) -> Result<usize, usize> {
    let mut w = Writer::new(out);
    w.raw(b"{");
    if !config.contact.is_empty() {
        w.name("contact", true).raw(b"[");
        for (i, c) in config.contact.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            w.str(c);
        }
        w.raw(b"]");
    }
    w.name("termsOfServiceAgreed", config.contact.is_empty()).raw(if config.terms_agreed { b"true" } else { b"false" });
    if only_existing {
        w.name("onlyReturnExisting", false).raw(b"true");
    }
    if let Some([protected, payload, signature]) = eab {
        w.name("externalAccountBinding", false).raw(b"{").name("protected", true).str(protected);
        w.name("payload", false).str(payload).name("signature", false).str(signature).raw(b"}");
    }
    w.raw(b"}");
    w.finish()
}

/// What a POST carries.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "acme-manage"), allow(dead_code))]
enum Payload {
    /// POST-as-GET: empty.
    Empty,
    /// `{}` (a challenge response).
    EmptyObject,
    NewAccount,
    NewOrder,
    Finalize,
    /// `{"certificate": .., "reason": ..}`.
    Revoke,
    /// The key change's inner JWS, as it is in the arena.
    Inner,
    /// `{"status":"deactivated"}`.
    Deactivate,
}

/// Which key signs a JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JwsKey {
    /// The account key ([`KeyRole::Account`]): `kid`, or `jwk` for newAccount.
    Account,
    /// The key of the certificate being revoked ([`KeyRole::Certificate`]): `jwk`.
    Certificate,
}

/// Writes a flattened JWS into `out` with the signature left blank (base64url of
/// `sig_len` bytes to come): its length, where the signature goes, and the digest to sign
/// (SHA-256 of `protected.payload` in base64url). The protected header's JSON is made in
/// `out`'s tail first.
fn flattened_jws(protected: &Protected<'_>, payload: &[u8], sig_len: usize, out: &mut [u8]) -> Result<(usize, usize, Digest), ClientError> {
    let room = out.len();
    let too_small = || ClientError::BufferTooSmall { buffer: "work", needed: room.saturating_add(1) };
    let split = room.saturating_sub((room / 3).min(1400));
    let (body, h_area) = out.split_at_mut(split);
    let h_len = protected.write(h_area).map_err(|_| too_small())?;
    let h_json = h_area.get(..h_len).unwrap_or(&[]);
    let put = |at: &mut usize, bytes: &[u8], body: &mut [u8]| -> Result<(), ClientError> {
        let end = at.checked_add(bytes.len()).ok_or_else(too_small)?;
        body.get_mut(*at..end).ok_or_else(too_small)?.copy_from_slice(bytes);
        *at = end;
        Ok(())
    };
    let mut at = 0usize;
    let mut hasher = crate::crypto::digest::Hasher::sha256();
    put(&mut at, b"{\"protected\":\"", body)?;
    let start = at;
    at = at.saturating_add(b64url(h_json, body.get_mut(at..).ok_or_else(too_small)?).map_err(enc("work"))?.len());
    hasher.update(body.get(start..at).unwrap_or(&[]));
    hasher.update(b".");
    put(&mut at, b"\",\"payload\":\"", body)?;
    let start = at;
    at = at.saturating_add(b64url(payload, body.get_mut(at..).ok_or_else(too_small)?).map_err(enc("work"))?.len());
    hasher.update(body.get(start..at).unwrap_or(&[]));
    put(&mut at, b"\",\"signature\":\"", body)?;
    let sig_at = at;
    at = at.checked_add(b64url_len(sig_len)).filter(|e| *e <= body.len()).ok_or_else(too_small)?;
    put(&mut at, b"\"}", body)?;
    Ok((at, sig_at, hasher.finalize()))
}

/// The ARI certificate identifier (RFC 9773 section 4.1): base64url of the authority key
/// identifier's keyIdentifier, ".", base64url of the serial number's DER content.
pub fn ari_id(certificate: &[u8]) -> Option<heapless::String<192>> {
    let cert = CertificateRef::parse(certificate).ok()?;
    let aki = cert.authority_key_identifier()?;
    let mut a = [0u8; 96];
    let mut b = [0u8; 96];
    let mut id = heapless::String::new();
    id.push_str(b64url(aki, &mut a).ok()?).ok()?;
    id.push('.').ok()?;
    id.push_str(b64url(cert.serial(), &mut b).ok()?).ok()?;
    Some(id)
}

impl<'a, 'b> Client<'a, 'b> {
    /// A client for `operation`. Refuses an account key that is neither P-256 nor RSA, and an
    /// order with no identifier or more than [`MAX_IDENTIFIERS`].
    pub fn new(config: Config<'a>, operation: Operation<'a>, bufs: Buffers<'b>) -> Result<Self, ClientError> {
        // Renewal information is a plain GET: it needs no account key.
        let (key, thumbprint) = match (operation, config.account_key) {
            // Nothing is signed by the account key: renewal information (a plain GET) and a
            // revocation by the certificate's own key.
            (Operation::RenewalInfo { .. } | Operation::Revoke { by_certificate_key: true, .. }, []) => {
                (AccountKey::P256 { x: &[], y: &[] }, heapless::String::new())
            }
            _ => {
                let key = AccountKey::from_spki(config.account_key)
                    .map_err(|_| ClientError::Config("account key (P-256 or RSA SubjectPublicKeyInfo)"))?;
                (key, key.thumbprint().map_err(enc("thumbprint"))?)
            }
        };
        if let Operation::Order { identifiers, .. } = operation
            && (identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS)
        {
            return Err(ClientError::Config("an order needs 1 to 8 identifiers"));
        }
        if config.contact.len() > 4 {
            return Err(ClientError::Config("at most four contact URIs"));
        }
        if !cfg!(feature = "acme-manage")
            && matches!(operation, Operation::Revoke { .. } | Operation::KeyChange { .. } | Operation::Deactivate)
        {
            return Err(ClientError::Config("revocation, key change and deactivation need the feature acme-manage"));
        }
        Ok(Self {
            config,
            operation,
            bufs,
            key,
            thumbprint,
            stage: Stage::Ready,
            phase: Phase::Directory,
            nonce: heapless::String::new(),
            kept: Kept::default(),
            arena: 0,
            challenge_kind: None,
            retry: None,
            bad_nonces: 0,
            request_len: 0,
            #[cfg(any(feature = "log", feature = "defmt"))]
            end_logged: false,
        })
    }

    /// The outcome, once done.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.stage {
            Stage::Done(o) => Some(o),
            _ => None,
        }
    }

    /// The account URL (the `kid`): the configured one, or the one the server gave. Keep it
    /// to skip newAccount next time ([`Config::account_url`]).
    pub fn account_url(&self) -> Option<&str> {
        if !self.kept.account.is_empty() {
            return core::str::from_utf8(self.kept.account.get(self.bufs.work)).ok();
        }
        self.config.account_url
    }

    /// The issued chain's certificates (DER), leaf first, once [`Outcome::Issued`].
    pub fn certificates(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let chain = if matches!(self.stage, Stage::Done(Outcome::Issued)) { self.kept.chain.get(self.bufs.work) } else { &[] };
        DerSequence(chain)
    }

    /// The issued certificate (DER), once [`Outcome::Issued`].
    pub fn certificate(&self) -> Option<&[u8]> {
        self.certificates().next()
    }

    /// Whether the response being read is complete (then call [`Client::poll`]).
    pub fn response_complete(&self) -> bool {
        client_core::complete(self)
    }

    // ---- inputs ----

    /// Feeds response bytes as they arrive. Returns how many were used.
    pub fn handle_response_data(&mut self, _now: Instant, data: &[u8]) -> Result<usize, ClientError> {
        client_core::feed(self, data)
    }

    /// Reports that the server closed the connection.
    pub fn handle_response_end(&mut self, _now: Instant) -> Result<(), ClientError> {
        client_core::end(self)
    }

    /// Reports that connecting, writing or reading failed, and why: the client ends with
    /// [`Outcome::Transport`].
    pub fn handle_transport_failure(&mut self, _now: Instant, failure: TransportFailure) -> Result<(), ClientError> {
        match self.stage {
            Stage::Awaiting { .. } => {
                self.stage = Stage::Done(Outcome::Transport(failure));
                Ok(())
            }
            Stage::Done(_) => Ok(()),
            _ => Err(ClientError::UnexpectedCall),
        }
    }

    /// The signature the last [`Step::Sign`] asked for (ES256: raw `r || s`; RS256: the
    /// modulus-sized PKCS#1 v1.5 block).
    pub fn signed(&mut self, _now: Instant, signature: &[u8]) -> Result<(), ClientError> {
        let r = match self.stage.clone() {
            Stage::Signing { at, what, sig_len, .. } => self.finish_jws(at, what, sig_len, signature),
            #[cfg(feature = "acme-manage")]
            Stage::InnerSigning { at, sig_len, .. } => self.finish_inner(at, sig_len, signature),
            Stage::CsrSigning { len, .. } => self.finish_csr(len, signature),
            _ => return Err(ClientError::UnexpectedCall),
        };
        client_core::settle(self, r)
    }

    /// The caller answers the challenge of the last [`Step::Publish`] (`ok`), or cannot
    /// (the client ends with [`Outcome::ChallengeNotPublished`]).
    pub fn published(&mut self, _now: Instant, ok: bool) -> Result<(), ClientError> {
        let Phase::Authz(n) = self.phase else { return Err(ClientError::UnexpectedCall) };
        if !matches!(self.stage, Stage::Publishing) {
            return Err(ClientError::UnexpectedCall);
        }
        if ok {
            info!("acme: challenge published for authorization {}", n);
            self.phase = Phase::Respond(n);
            self.stage = Stage::Ready;
        } else {
            self.stage = Stage::Withdrawing { then: Some(Outcome::ChallengeNotPublished) };
        }
        Ok(())
    }

    /// The caller no longer answers the challenge of the last [`Step::Withdraw`].
    pub fn withdrawn(&mut self, _now: Instant) -> Result<(), ClientError> {
        let Stage::Withdrawing { then } = &self.stage else { return Err(ClientError::UnexpectedCall) };
        match then.clone() {
            Some(o) => self.stage = Stage::Done(o),
            None => {
                let next = match self.phase {
                    Phase::PollAuthz(n) | Phase::Respond(n) | Phase::Authz(n) => n.saturating_add(1),
                    _ => return Err(ClientError::UnexpectedCall),
                };
                self.phase = if usize::from(next) < self.kept.authorizations.len() { Phase::Authz(next) } else { Phase::Csr };
                self.stage = Stage::Ready;
            }
        }
        Ok(())
    }

    // ---- outputs ----

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> Result<Step<'_>, ClientError> {
        client_core::advance(self, now, 8)?;
        #[cfg(any(feature = "log", feature = "defmt"))]
        self.log_end();
        Ok(match &self.stage {
            Stage::Ready => return Err(ClientError::UnexpectedCall),
            Stage::Signing { digest, role, .. } => Step::Sign(SignRequest { digest: *digest, key: *role }),
            Stage::InnerSigning { digest, .. } => Step::Sign(SignRequest { digest: *digest, key: KeyRole::Requested }),
            Stage::CsrSigning { digest, .. } => Step::Sign(SignRequest { digest: *digest, key: KeyRole::Requested }),
            Stage::Awaiting { reader, .. } if !reader.is_started() => Step::Send(self.bufs.io.get(..self.request_len).unwrap_or(&[])),
            Stage::Awaiting { .. } => return Err(ClientError::UnexpectedCall),
            Stage::Publishing => Step::Publish(self.task().ok_or(ClientError::UnexpectedCall)?),
            Stage::Withdrawing { .. } => Step::Withdraw(self.task().ok_or(ClientError::UnexpectedCall)?),
            Stage::Waiting { until } => Step::Wait(*until),
            Stage::Done(o) => Step::Done(o),
            Stage::Failed(e) => return Err(*e),
        })
    }

    fn task(&self) -> Option<ChallengeTask<'_>> {
        let w: &[u8] = self.bufs.work;
        let s = |span: Span| core::str::from_utf8(span.get(w)).ok();
        Some(ChallengeTask {
            kind: self.challenge_kind?,
            identifier: s(self.kept.identifier)?,
            token: s(self.kept.token)?,
            key_authorization: s(self.kept.key_authorization)?,
        })
    }

    #[cfg(any(feature = "log", feature = "defmt"))]
    fn log_end(&mut self) {
        if self.end_logged {
            return;
        }
        match &self.stage {
            Stage::Done(outcome @ (Outcome::Issued | Outcome::Account)) => info!("acme: done: {}", outcome),
            Stage::Done(outcome) => error!("acme: failed: {}", outcome),
            Stage::Failed(e) => error!("acme: the client stopped: {}", e),
            _ => return,
        }
        self.end_logged = true;
    }

    // ---- requests ----

    fn prepare_next(&mut self) -> Result<(), ClientError> {
        match self.phase {
            Phase::Directory => return self.get(self.config.directory, Request::Phase(Phase::Directory)),
            Phase::Csr => return self.prepare_csr(),
            #[cfg(feature = "acme-manage")]
            Phase::KeyChangeInner => return self.prepare_inner(),
            Phase::RenewalInfo => return self.get_renewal_info(),
            _ => {}
        }
        if self.nonce.is_empty() {
            let w: &[u8] = self.bufs.work;
            let url = core::str::from_utf8(self.kept.new_nonce.get(w)).map_err(|_| ClientError::UnexpectedCall)?;
            let path = path_of(self.config.host, self.config.port, url).ok_or(ClientError::UnexpectedCall)?;
            let mut p = heapless::String::<256>::new();
            p.push_str(path).map_err(|_| ClientError::BufferTooSmall { buffer: "path", needed: path.len() })?;
            return self.get(&p, Request::Nonce);
        }
        let account = JwsKey::Account;
        let (url, payload, key) = match self.phase {
            Phase::Account => (self.kept.new_account, Payload::NewAccount, account),
            Phase::Order => (self.kept.new_order, Payload::NewOrder, account),
            Phase::Authz(n) | Phase::PollAuthz(n) => {
                (*self.kept.authorizations.get(usize::from(n)).ok_or(ClientError::UnexpectedCall)?, Payload::Empty, account)
            }
            Phase::Respond(_) => (self.kept.challenge, Payload::EmptyObject, account),
            Phase::Finalize => (self.kept.finalize, Payload::Finalize, account),
            Phase::PollOrder => (self.kept.order, Payload::Empty, account),
            Phase::Certificate => (self.kept.certificate, Payload::Empty, account),
            Phase::Alternate(n) => (*self.kept.alternates.get(usize::from(n)).ok_or(ClientError::UnexpectedCall)?, Payload::Empty, account),
            #[cfg(feature = "acme-manage")]
            Phase::Revoke => {
                let by_cert = matches!(self.operation, Operation::Revoke { by_certificate_key: true, .. });
                (self.kept.revoke_cert, Payload::Revoke, if by_cert { JwsKey::Certificate } else { account })
            }
            #[cfg(feature = "acme-manage")]
            Phase::KeyChange => (self.kept.key_change, Payload::Inner, account),
            #[cfg(feature = "acme-manage")]
            Phase::Deactivate => (self.account_span().ok_or(ClientError::UnexpectedCall)?, Payload::Deactivate, account),
            _ => return Err(ClientError::UnexpectedCall),
        };
        if url.is_empty() && !matches!(self.phase, Phase::Deactivate) {
            return self.done(Outcome::Protocol("the directory lacks the URL this operation needs"));
        }
        self.post(url, payload, key)
    }

    /// The account URL in the arena (the server's, or the configured one kept at directory time), if there is one.
    fn account_span(&self) -> Option<Span> {
        (!self.kept.account.is_empty()).then_some(self.kept.account)
    }

    /// A GET of `path` (the directory, newNonce, renewalInfo).
    fn get(&mut self, path: &str, what: Request) -> Result<(), ClientError> {
        let head = RequestHead { port: Some(self.config.port), ..RequestHead::get(self.config.host, path) };
        self.request_len = write_request(&head, &[], self.bufs.io).map_err(enc("io"))?.len();
        debug!("acme: GET {}", path);
        self.stage = Stage::Awaiting { what, reader: ResponseReader::keeping_head() };
        Ok(())
    }

    /// The renewalInfo GET for the certificate of [`Operation::RenewalInfo`].
    fn get_renewal_info(&mut self) -> Result<(), ClientError> {
        let Operation::RenewalInfo { certificate } = self.operation else { return Err(ClientError::UnexpectedCall) };
        if self.kept.renewal_info.is_empty() {
            return self.done(Outcome::NoRenewalInfo);
        }
        let Some(id) = ari_id(certificate) else {
            return Err(ClientError::Config("the certificate has no authority key identifier (ARI needs one)"));
        };
        let w: &[u8] = self.bufs.work;
        let base = core::str::from_utf8(self.kept.renewal_info.get(w)).ok().and_then(|u| path_of(self.config.host, self.config.port, u));
        let base = base.ok_or(ClientError::UnexpectedCall)?;
        let mut p = heapless::String::<384>::new();
        let room = |_| ClientError::BufferTooSmall { buffer: "path", needed: base.len() + id.len() + 1 };
        p.push_str(base.trim_end_matches('/')).map_err(room)?;
        p.push('/').map_err(room)?;
        p.push_str(&id).map_err(room)?;
        self.get(&p, Request::Phase(Phase::RenewalInfo))
    }

    /// A JWS POST to `url` (a span in the arena) carrying `payload`, signed by `key`. The
    /// body is built in the scratch space after the arena with room for the signature, then
    /// written after the HTTP head into `io`; [`Self::finish_jws`] fills the signature in.
    fn post(&mut self, url: Span, payload: Payload, key: JwsKey) -> Result<(), ClientError> {
        let what = Request::Phase(self.phase);
        let account_url = self.account_span();
        let signer = match (key, self.operation) {
            #[cfg(feature = "acme-manage")]
            (JwsKey::Certificate, Operation::Revoke { certificate, .. }) => CertificateRef::parse(certificate)
                .ok()
                .and_then(|c| AccountKey::from_spki(c.spki().as_der()).ok())
                .ok_or(ClientError::Config("the certificate to revoke (P-256 or RSA key)"))?,
            _ => self.key,
        };
        let Self { config, operation, bufs, kept, arena, nonce, .. } = self;
        let (arena_bytes, scratch) = bufs.work.split_at_mut(*arena);
        let arena_bytes: &[u8] = arena_bytes;
        let url = core::str::from_utf8(url.get(arena_bytes)).map_err(|_| ClientError::UnexpectedCall)?;
        let path = path_of(config.host, config.port, url).ok_or(ClientError::UnexpectedCall)?;
        // 1. The payload JSON.
        let from = PayloadFrom { config, operation, key: &signer, kept, arena: arena_bytes };
        let p_len = write_payload(payload, &from, scratch)?;
        let (p_json, rest) = scratch.split_at_mut(p_len);
        // 2. The protected header: the JWK for newAccount and a certificate-key revocation,
        // the account URL (kid) otherwise.
        let (jwk_buf, rest) = rest.split_at_mut(rest.len().min(720));
        let kid = match (payload, key, account_url) {
            (Payload::NewAccount, _, _) | (_, JwsKey::Certificate, _) => None,
            (_, _, Some(span)) => Some(core::str::from_utf8(span.get(arena_bytes)).map_err(|_| ClientError::UnexpectedCall)?),
            (_, _, None) => None,
        };
        let jwk = if kid.is_none() { Some(signer.jwk(jwk_buf).map_err(enc("work"))?) } else { None };
        let protected = Protected { alg: signer.alg(), kid, jwk, nonce: Some(nonce.as_str()), url };
        let (len, sig_at, digest) = flattened_jws(&protected, p_json, signer.signature_len(), rest)?;
        let body = rest.get(..len).unwrap_or(&[]);
        // 3. The request.
        let head = RequestHead { port: Some(config.port), ..RequestHead::post(config.host, path, "application/jose+json") };
        let request = write_request(&head, body, bufs.io).map_err(enc("io"))?;
        self.request_len = request.len();
        let at = self.request_len.saturating_sub(body.len()).saturating_add(sig_at);
        debug!("acme: POST {} ({} bytes of JWS)", path, body.len());
        let role = if key == JwsKey::Certificate { KeyRole::Certificate } else { KeyRole::Account };
        self.stage = Stage::Signing { digest, at, what, role, sig_len: signer.signature_len() };
        Ok(())
    }

    /// Puts the JWS signature into the request.
    fn finish_jws(&mut self, at: usize, what: Request, sig_len: usize, signature: &[u8]) -> Result<(), ClientError> {
        if signature.len() != sig_len {
            return Err(ClientError::Answer);
        }
        let end = at.checked_add(b64url_len(sig_len)).ok_or(ClientError::UnexpectedCall)?;
        let dst = self.bufs.io.get_mut(at..end).ok_or(ClientError::UnexpectedCall)?;
        b64url(signature, dst).map_err(enc("io"))?;
        // A nonce is good for one request.
        self.nonce.clear();
        self.stage = Stage::Awaiting { what, reader: ResponseReader::keeping_head() };
        Ok(())
    }

    /// The key change's inner JWS (RFC 8555 section 7.3.5) into the arena: protected
    /// {alg, jwk of the new key, url of keyChange} (no nonce), payload {account, oldKey},
    /// signed by the new key.
    #[cfg(feature = "acme-manage")]
    fn prepare_inner(&mut self) -> Result<(), ClientError> {
        let Operation::KeyChange { new_key } = self.operation else { return Err(ClientError::UnexpectedCall) };
        let new_key =
            AccountKey::from_spki(new_key).map_err(|_| ClientError::Config("the new account key (P-256 or RSA SubjectPublicKeyInfo)"))?;
        let account_url = self.account_span();
        let Self { bufs, kept, arena, key, .. } = self;
        let (arena_bytes, scratch) = bufs.work.split_at_mut(*arena);
        let arena_bytes: &[u8] = arena_bytes;
        let url = core::str::from_utf8(kept.key_change.get(arena_bytes)).map_err(|_| ClientError::UnexpectedCall)?;
        let account = match account_url {
            Some(span) => core::str::from_utf8(span.get(arena_bytes)).map_err(|_| ClientError::UnexpectedCall)?,
            None => return Err(ClientError::UnexpectedCall),
        };
        let room = scratch.len();
        let too_small = |_| ClientError::BufferTooSmall { buffer: "work", needed: room.saturating_add(1) };
        let (old_jwk_buf, rest) = scratch.split_at_mut(room.min(720));
        let old_key = key.jwk(old_jwk_buf).map_err(enc("work"))?;
        let (p_json, rest) = rest.split_at_mut(rest.len() / 3);
        let mut w = Writer::new(p_json);
        w.raw(b"{").name("account", true).str(account).name("oldKey", false);
        old_key.write(&mut w);
        w.raw(b"}");
        let p_len = w.finish().map_err(too_small)?;
        let (new_jwk_buf, rest) = rest.split_at_mut(rest.len().min(720));
        let jwk = Some(new_key.jwk(new_jwk_buf).map_err(enc("work"))?);
        let protected = Protected { alg: new_key.alg(), kid: None, jwk, nonce: None, url };
        let body_offset = room.saturating_sub(rest.len());
        let (len, sig_at, digest) = flattened_jws(&protected, p_json.get(..p_len).unwrap_or(&[]), new_key.signature_len(), rest)?;
        let sig_len = new_key.signature_len();
        // The JWS moves to the arena's end (it is the outer request's payload).
        let start = *arena;
        let body_start = start.saturating_add(body_offset);
        bufs.work.copy_within(body_start..body_start.saturating_add(len), start);
        kept.inner = Span { start, end: start.saturating_add(len) };
        *arena = kept.inner.end;
        debug!("acme: key change: the inner JWS built ({} bytes), to be signed by the new key", len);
        self.stage = Stage::InnerSigning { digest, at: start.saturating_add(sig_at), sig_len };
        Ok(())
    }

    /// Puts the new key's signature into the inner JWS.
    #[cfg(feature = "acme-manage")]
    fn finish_inner(&mut self, at: usize, sig_len: usize, signature: &[u8]) -> Result<(), ClientError> {
        if signature.len() != sig_len {
            return Err(ClientError::Answer);
        }
        let end = at.checked_add(b64url_len(sig_len)).ok_or(ClientError::UnexpectedCall)?;
        b64url(signature, self.bufs.work.get_mut(at..end).ok_or(ClientError::UnexpectedCall)?).map_err(enc("work"))?;
        self.phase = Phase::KeyChange;
        self.stage = Stage::Ready;
        Ok(())
    }

    fn prepare_csr(&mut self) -> Result<(), ClientError> {
        let Operation::Order { csr, .. } = self.operation else { return Err(ClientError::UnexpectedCall) };
        let scratch = self.bufs.work.get_mut(self.arena..).unwrap_or_default();
        let tbs = csr.encode_info(self.config.public_key, scratch).map_err(enc("work"))?;
        debug!("acme: CSR built ({} bytes), to be signed", tbs.len());
        self.stage = Stage::CsrSigning { digest: Digest::sha256(tbs), len: tbs.len() };
        Ok(())
    }

    fn finish_csr(&mut self, len: usize, signature: &[u8]) -> Result<(), ClientError> {
        let key = crate::asn1::spki::SpkiRef::parse(self.config.public_key)
            .ok()
            .and_then(|k| k.key_type())
            .ok_or(ClientError::Config("certificate key (P-256 or RSA SubjectPublicKeyInfo)"))?;
        if signature.len() != key.signature_len() {
            return Err(ClientError::Answer);
        }
        let start = self.arena;
        let tbs_end = start.checked_add(len).ok_or(ClientError::UnexpectedCall)?;
        let (tbs_area, out) = self.bufs.work.split_at_mut(tbs_end);
        let tbs = tbs_area.get(start..).ok_or(ClientError::UnexpectedCall)?;
        let der_len = csr::assemble(tbs, key, HashAlgorithm::Sha256, signature, out).map_err(enc("work"))?.len();
        self.bufs.work.copy_within(tbs_end..tbs_end.saturating_add(der_len), start);
        self.kept.csr = Span { start, end: start.saturating_add(der_len) };
        self.arena = self.kept.csr.end;
        self.phase = Phase::Finalize;
        self.stage = Stage::Ready;
        Ok(())
    }

    // ---- replies ----

    fn process_response(&mut self, now: Instant) -> Result<(), ClientError> {
        let Stage::Awaiting { what, reader } = core::mem::replace(&mut self.stage, Stage::Ready) else {
            return Err(ClientError::UnexpectedCall);
        };
        // `io` is lent out while the reply is read (the arena in `work` takes what is kept).
        let io = core::mem::take(&mut self.bufs.io);
        let r = self.take_reply(what, &reader, io, now);
        self.bufs.io = io;
        r
    }

    fn take_reply(&mut self, what: Request, reader: &ResponseReader, io: &[u8], now: Instant) -> Result<(), ClientError> {
        let head_bytes = reader.head_bytes(io);
        let Some(head) = reader.head() else { return Err(ClientError::UnexpectedCall) };
        let status = head.status;
        // Every reply may carry the next nonce (base64url, bounded).
        if let Some(n) = header_values(head_bytes, "replay-nonce").next()
            && n.len() <= MAX_NONCE
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.nonce.clear();
            let _ = self.nonce.push_str(n);
        }
        let hint = crate::http::date::retry_after(&head.retry_after, None);
        if status >= 400 || head.content_type_is("application/problem+json") {
            return self.problem(what, status, reader.body(io), hint, now);
        }
        let Request::Phase(phase) = what else {
            // newNonce: 200 or 204 with the nonce.
            if self.nonce.is_empty() {
                return self.done(Outcome::Protocol("newNonce answered without a Replay-Nonce"));
            }
            return Ok(());
        };
        self.bad_nonces = 0;
        let location = header_values(head_bytes, "location").next();
        let pem = head.content_type_is("application/pem-certificate-chain");
        let io_body = reader.body(io);
        match phase {
            Phase::Directory => self.take_directory(io_body),
            Phase::Account => self.take_account(io_body, location),
            Phase::Order | Phase::Finalize | Phase::PollOrder => self.take_order(phase, io_body, location, hint, now),
            Phase::Authz(n) | Phase::PollAuthz(n) => self.take_authorization(phase, n, io_body, hint, now),
            Phase::Respond(n) => {
                self.phase = Phase::PollAuthz(n);
                self.retry = None;
                self.schedule(now, hint, false)
            }
            Phase::Certificate | Phase::Alternate(_) if pem => self.take_chain(phase, io_body, head_bytes),
            Phase::Certificate | Phase::Alternate(_) => {
                self.done(Outcome::Protocol("the certificate is not application/pem-certificate-chain"))
            }
            #[cfg(feature = "acme-manage")]
            Phase::Revoke => {
                info!("acme: certificate revoked");
                self.done(Outcome::Revoked)
            }
            #[cfg(feature = "acme-manage")]
            Phase::KeyChange => {
                info!("acme: account key changed");
                self.done(Outcome::KeyChanged)
            }
            #[cfg(feature = "acme-manage")]
            Phase::Deactivate => match message::parse::<message::Account<'_>>(io_body) {
                Ok(a) if a.status == "deactivated" => self.done(Outcome::Deactivated),
                Ok(_) => self.done(Outcome::Protocol("the account is not deactivated after the request")),
                Err(e) => self.done(Outcome::Json(e)),
            },
            Phase::RenewalInfo => self.take_renewal_info(io_body, hint),
            _ => Err(ClientError::UnexpectedCall),
        }
    }

    /// A problem document (or an error status without one).
    fn problem(&mut self, what: Request, status: u16, body: &[u8], hint: Option<Duration>, now: Instant) -> Result<(), ClientError> {
        let problem = message::parse::<ProblemDocument<'_>>(body).map(|d| Problem::from_document(&d, status));
        let Ok(problem) = problem else { return self.done(Outcome::HttpStatus(status)) };
        warn!("acme: {}", problem);
        match problem.kind {
            ProblemKind::BadNonce if matches!(what, Request::Phase(_)) && self.bad_nonces < MAX_BAD_NONCE_RETRIES => {
                // The same request again with the reply's nonce, signed anew.
                self.bad_nonces = self.bad_nonces.saturating_add(1);
                info!("acme: badNonce: the request again with a fresh nonce ({} of {})", self.bad_nonces, MAX_BAD_NONCE_RETRIES);
                self.stage = Stage::Ready;
                Ok(())
            }
            ProblemKind::RateLimited | ProblemKind::ServerInternal if hint.is_some() => {
                let sched = self.retry.get_or_insert(RetrySchedule::new(self.config.retry, now));
                match sched.next(now, hint) {
                    Some(until) => {
                        info!("acme: {:?}: the request again in {} ms", problem.kind, (until - now).as_millis());
                        self.stage = Stage::Waiting { until };
                        Ok(())
                    }
                    None => self.done(Outcome::Problem(problem)),
                }
            }
            _ => self.done(Outcome::Problem(problem)),
        }
    }

    /// Waits for the next poll (the server's Retry-After within the policy), or ends (or
    /// withdraws the challenge first, `withdraw`) when the policy is used up.
    fn schedule(&mut self, now: Instant, hint: Option<Duration>, withdraw: bool) -> Result<(), ClientError> {
        let sched = self.retry.get_or_insert(RetrySchedule::new(self.config.retry, now));
        self.stage = match sched.next(now, hint) {
            Some(until) => Stage::Waiting { until },
            None if withdraw => Stage::Withdrawing { then: Some(Outcome::TimedOut) },
            None => Stage::Done(Outcome::TimedOut),
        };
        Ok(())
    }

    fn take_directory(&mut self, body: &[u8]) -> Result<(), ClientError> {
        let d: Directory<'_> = match message::parse(body) {
            Ok(d) => d,
            Err(e) => return self.done(Outcome::Json(e)),
        };
        let urls = [Some(d.new_nonce), Some(d.new_account), Some(d.new_order), d.revoke_cert, d.key_change, d.renewal_info];
        for (slot, url) in urls.into_iter().enumerate() {
            let Some(url) = url else { continue };
            let span = match keep_url(&mut self.bufs.work[..], &mut self.arena, self.config.host, self.config.port, url)? {
                Ok(s) => s,
                Err(o) => return self.done(o),
            };
            match slot {
                0 => self.kept.new_nonce = span,
                1 => self.kept.new_account = span,
                2 => self.kept.new_order = span,
                3 => self.kept.revoke_cert = span,
                4 => self.kept.key_change = span,
                _ => self.kept.renewal_info = span,
            }
        }
        info!("acme: directory read (ARI: {})", !self.kept.renewal_info.is_empty());
        // A configured account URL is kept like one the server gives (same origin checked).
        if let Some(url) = self.config.account_url {
            self.kept.account = match keep_url(&mut self.bufs.work[..], &mut self.arena, self.config.host, self.config.port, url)? {
                Ok(s) => s,
                Err(o) => return self.done(o),
            };
        }
        let known = self.config.account_url.is_some();
        self.phase = match self.operation {
            Operation::Account { .. } => Phase::Account,
            Operation::RenewalInfo { .. } => Phase::RenewalInfo,
            Operation::Revoke { by_certificate_key: true, .. } => Phase::Revoke,
            _ if !known => Phase::Account,
            _ => self.after_account(),
        };
        Ok(())
    }

    /// The phase that follows once the account is known.
    fn after_account(&self) -> Phase {
        match self.operation {
            Operation::Order { .. } => Phase::Order,
            Operation::Revoke { .. } => Phase::Revoke,
            Operation::KeyChange { .. } => Phase::KeyChangeInner,
            Operation::Deactivate => Phase::Deactivate,
            Operation::Account { .. } | Operation::RenewalInfo { .. } => Phase::Account,
        }
    }

    fn take_account(&mut self, body: &[u8], location: Option<&str>) -> Result<(), ClientError> {
        let a: message::Account<'_> = match message::parse(body) {
            Ok(a) => a,
            Err(e) => return self.done(Outcome::Json(e)),
        };
        let Some(location) = location else { return self.done(Outcome::Protocol("newAccount answered without a Location")) };
        self.kept.account = match keep_url(&mut self.bufs.work[..], &mut self.arena, self.config.host, self.config.port, location)? {
            Ok(s) => s,
            Err(o) => return self.done(o),
        };
        if a.status != "valid" {
            return self.done(Outcome::AccountNotValid);
        }
        info!("acme: account ready");
        match self.operation {
            Operation::Account { .. } | Operation::RenewalInfo { .. } => self.done(Outcome::Account),
            _ => {
                self.phase = self.after_account();
                Ok(())
            }
        }
    }

    fn take_order(
        &mut self,
        phase: Phase,
        body: &[u8],
        location: Option<&str>,
        hint: Option<Duration>,
        now: Instant,
    ) -> Result<(), ClientError> {
        let o: message::Order<'_> = match message::parse(body) {
            Ok(o) => o,
            Err(e) => return self.done(Outcome::Json(e)),
        };
        let (host, port) = (self.config.host, self.config.port);
        if phase == Phase::Order {
            let Some(location) = location else { return self.done(Outcome::Protocol("newOrder answered without a Location")) };
            let urls = o.authorizations.iter().copied().chain([o.finalize, location]);
            let mut spans: heapless::Vec<Span, { message::MAX_AUTHORIZATIONS + 2 }> = heapless::Vec::new();
            for url in urls {
                match keep_url(&mut self.bufs.work[..], &mut self.arena, host, port, url)? {
                    Ok(s) => {
                        let _ = spans.push(s);
                    }
                    Err(outcome) => return self.done(outcome),
                }
            }
            self.kept.order = spans.pop().unwrap_or_default();
            self.kept.finalize = spans.pop().unwrap_or_default();
            self.kept.authorizations = spans.into_iter().collect();
            info!("acme: order created with {} authorizations", self.kept.authorizations.len());
        }
        match o.status {
            "pending" if phase == Phase::Order && !self.kept.authorizations.is_empty() => {
                self.phase = Phase::Authz(0);
                Ok(())
            }
            "ready" if phase != Phase::Finalize => {
                self.phase = Phase::Csr;
                Ok(())
            }
            "processing" | "ready" | "pending" if phase != Phase::Order => {
                self.phase = Phase::PollOrder;
                self.schedule(now, hint, false)
            }
            "valid" => {
                let Some(cert) = o.certificate else { return self.done(Outcome::Protocol("a valid order without a certificate URL")) };
                self.kept.certificate = match keep_url(&mut self.bufs.work[..], &mut self.arena, host, port, cert)? {
                    Ok(s) => s,
                    Err(outcome) => return self.done(outcome),
                };
                self.phase = Phase::Certificate;
                Ok(())
            }
            "invalid" => {
                let p = o.error.as_ref().map(|d| Problem::from_document(d, 0));
                self.done(Outcome::OrderInvalid(p))
            }
            _ => self.done(Outcome::Protocol("an order status out of place")),
        }
    }

    fn take_authorization(&mut self, phase: Phase, n: u8, body: &[u8], hint: Option<Duration>, now: Instant) -> Result<(), ClientError> {
        let a: Authorization<'_> = match message::parse(body) {
            Ok(a) => a,
            Err(e) => return self.done(Outcome::Json(e)),
        };
        let failure = || a.challenges.iter().find_map(|c| c.error.as_ref()).map(|d| Problem::from_document(d, 0));
        match (phase, a.status) {
            (Phase::Authz(_), "valid") => {
                // Already valid (reused): nothing to answer.
                let next = n.saturating_add(1);
                self.phase = if usize::from(next) < self.kept.authorizations.len() { Phase::Authz(next) } else { Phase::Csr };
                Ok(())
            }
            (Phase::Authz(_), "pending") => {
                let order = [ChallengeKind::Http01, ChallengeKind::Dns01, ChallengeKind::TlsAlpn01];
                let chosen = order.iter().filter(|k| k.wanted(self.config.challenges)).find_map(|k| {
                    a.challenges.iter().find(|c| ChallengeKind::from_type(c.kind) == Some(*k) && c.token.is_some()).map(|c| (*k, c))
                });
                let Some((kind, c)) = chosen else { return self.done(Outcome::NoUsableChallenge) };
                let token = c.token.unwrap_or("");
                if message::plain(token).is_err()
                    || token.is_empty()
                    || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return self.done(Outcome::Protocol("a challenge token that is not base64url"));
                }
                let (host, port) = (self.config.host, self.config.port);
                let work = &mut self.bufs.work[..];
                self.kept.challenge = match keep_url(work, &mut self.arena, host, port, c.url)? {
                    Ok(s) => s,
                    Err(o) => return self.done(o),
                };
                self.kept.identifier = keep(work, &mut self.arena, message::plain(a.identifier.value).unwrap_or("").as_bytes())?;
                self.kept.token = keep(work, &mut self.arena, token.as_bytes())?;
                let ka_start = self.kept.token.start;
                keep(work, &mut self.arena, b".")?;
                keep(work, &mut self.arena, self.thumbprint.as_bytes())?;
                self.kept.key_authorization = Span { start: ka_start, end: self.arena };
                self.challenge_kind = Some(kind);
                info!("acme: authorization {}: {:?} challenge to answer", n, kind);
                self.stage = Stage::Publishing;
                Ok(())
            }
            (Phase::Authz(_), _) => self.done(Outcome::AuthorizationFailed(failure())),
            (_, "valid") => {
                info!("acme: authorization {} valid", n);
                self.retry = None;
                self.stage = Stage::Withdrawing { then: None };
                Ok(())
            }
            (_, "pending" | "processing") => self.schedule(now, hint, true),
            (_, _) => {
                let p = failure();
                self.stage = Stage::Withdrawing { then: Some(Outcome::AuthorizationFailed(p)) };
                Ok(())
            }
        }
    }

    /// The PEM chain into the arena as DER certificates, checked: the leaf carries the
    /// requested key; with a trust anchor, the chain leads to it.
    fn take_chain(&mut self, phase: Phase, body: &[u8], head: &[u8]) -> Result<(), ClientError> {
        if phase == Phase::Certificate {
            // The alternates, kept before the chain (which goes after them).
            let (host, port) = (self.config.host, self.config.port);
            for value in header_values(head, "link") {
                for link in value.split(',') {
                    let Some((url, params)) = link.trim().strip_prefix('<').and_then(|l| l.split_once('>')) else { continue };
                    let alternate = params.split(';').any(|p| {
                        p.split_once('=')
                            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("rel") && v.trim().trim_matches('"') == "alternate")
                    });
                    if alternate
                        && !self.kept.alternates.is_full()
                        && let Ok(span) = keep_url(&mut self.bufs.work[..], &mut self.arena, host, port, url)?
                    {
                        let _ = self.kept.alternates.push(span);
                    }
                }
            }
        }
        let start = self.arena;
        let mut end = start;
        let mut rest = body;
        let mut count = 0usize;
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        const END: &[u8] = b"-----END CERTIFICATE-----";
        while let Some(b) = find(rest, BEGIN) {
            let after = rest.get(b.saturating_add(BEGIN.len())..).unwrap_or(&[]);
            let Some(e) = find(after, END) else { return self.done(Outcome::Protocol("a PEM certificate without its end line")) };
            let out = self.bufs.work.get_mut(end..).unwrap_or_default();
            let room = out.len();
            match crate::http::base64::decode(after.get(..e).unwrap_or(&[]), out) {
                Ok(der) => end = end.saturating_add(der.len()),
                Err(crate::error::DecodeError::OutputTooSmall { .. }) => {
                    let _ = room;
                    return Err(ClientError::BufferTooSmall { buffer: "work", needed: end.saturating_add(e / 4 * 3) });
                }
                Err(_) => return self.done(Outcome::Protocol("a PEM certificate that is not base64")),
            }
            count = count.saturating_add(1);
            rest = after.get(e.saturating_add(END.len())..).unwrap_or(&[]);
        }
        let chain = Span { start, end };
        let outcome = self.check_chain(chain, count);
        if matches!(outcome, Outcome::Issued) {
            info!("acme: certificate chain of {} received", count);
            self.kept.chain = chain;
            self.arena = end;
        }
        let next = match phase {
            Phase::Alternate(n) => usize::from(n).saturating_add(1),
            _ => 0,
        };
        if matches!(outcome, Outcome::Untrusted) && next < self.kept.alternates.len() {
            info!("acme: the chain does not lead to the trust anchor: alternate {} next", next);
            self.phase = Phase::Alternate(u8::try_from(next).unwrap_or(u8::MAX));
            return Ok(());
        }
        self.done(outcome)
    }

    fn take_renewal_info(&mut self, body: &[u8], hint: Option<Duration>) -> Result<(), ClientError> {
        let info: message::RenewalInfo<'_> = match message::parse(body) {
            Ok(i) => i,
            Err(e) => return self.done(Outcome::Json(e)),
        };
        let window = message::parse_rfc3339(info.suggested_window.start).zip(message::parse_rfc3339(info.suggested_window.end));
        let Some((start, end)) = window.filter(|(s, e)| s <= e) else {
            return self.done(Outcome::Protocol("the suggested window's times are not RFC 3339, or end before they start"));
        };
        let retry_after_secs = hint.map_or(6 * 3600, Duration::as_secs);
        self.done(Outcome::RenewalWindow { start, end, retry_after_secs })
    }

    /// [`Outcome::Issued`] when the chain in `work` is `count` certificates, its leaf carries
    /// the requested key and (with a trust anchor) it leads to the anchor; else why not.
    fn check_chain(&self, chain: Span, count: usize) -> Outcome {
        let der = chain.get(self.bufs.work);
        let certs: heapless::Vec<&[u8], 8> = DerSequence(der).take(8).collect();
        let Some(leaf) = certs.first().and_then(|c| CertificateRef::parse(c).ok()) else {
            return Outcome::Protocol("no certificate in the chain");
        };
        if count != certs.len() || DerSequence(der).count() != count {
            return Outcome::Protocol("a PEM block that is not one DER certificate, or more than 8");
        }
        if leaf.spki().as_der() != self.config.public_key {
            return Outcome::WrongKey;
        }
        if let Some(anchor) = self.config.trust_anchor {
            use crate::asn1::path;
            let opts = path::Options::new(path::Usage::EndEntity, path::ValidationTime::Floor(crate::time::UnixTime::CRATE_FLOOR));
            let rest = certs.get(1..).unwrap_or(&[]);
            let trusted = CertificateRef::parse(anchor).is_ok_and(|a| path::validate(&leaf, rest, [a].as_slice(), &opts).is_ok());
            if !trusted {
                return Outcome::Untrusted;
            }
        }
        Outcome::Issued
    }

    fn done(&mut self, outcome: Outcome) -> Result<(), ClientError> {
        self.stage = Stage::Done(outcome);
        Ok(())
    }
}

/// What a request's payload is made from: the client's settings and what it kept.
struct PayloadFrom<'x, 'c> {
    config: &'x Config<'c>,
    operation: &'x Operation<'c>,
    /// The key that signs the request (its JWK for newAccount and the EAB).
    key: &'x AccountKey<'x>,
    kept: &'x Kept,
    /// The arena the spans in `kept` point into.
    arena: &'x [u8],
}

/// Writes a request's JSON payload into `out`; its length.
fn write_payload(payload: Payload, from: &PayloadFrom<'_, '_>, out: &mut [u8]) -> Result<usize, ClientError> {
    let PayloadFrom { config, operation, kept, arena, .. } = *from;
    let room = out.len();
    match payload {
        Payload::Empty => Ok(0),
        Payload::EmptyObject => {
            out.get_mut(..2).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: 2 })?.copy_from_slice(b"{}");
            Ok(2)
        }
        Payload::NewOrder => {
            let Operation::Order { identifiers, .. } = operation else { return Err(ClientError::UnexpectedCall) };
            // `replaces` only to a server that offers ARI (RFC 9773 section 5).
            let id = match config.replaces.filter(|_| !kept.renewal_info.is_empty()) {
                Some(cert) => Some(ari_id(cert).ok_or(ClientError::Config("the replaced certificate has no authority key identifier"))?),
                None => None,
            };
            let mut w = Writer::new(out);
            w.raw(b"{").name("identifiers", true).raw(b"[");
            for (i, id) in identifiers.iter().map(Identifier::object).enumerate() {
                w.raw(if i > 0 { b",{" } else { b"{" }).name("type", true).str(id.kind).name("value", false).str(id.value).raw(b"}");
            }
            w.raw(b"]");
            if let Some(id) = &id {
                w.name("replaces", false).str(id);
            }
            w.raw(b"}");
            w.finish().map_err(|_| ClientError::BufferTooSmall { buffer: "work", needed: room.saturating_add(1) })
        }
        #[cfg(feature = "acme-manage")]
        Payload::Revoke => {
            let Operation::Revoke { certificate, reason, .. } = operation else { return Err(ClientError::UnexpectedCall) };
            let needed = b64url_len(certificate.len()).saturating_add(40);
            let too_small = || ClientError::BufferTooSmall { buffer: "work", needed };
            let (open, rest) = out.split_at_mut(16.min(room));
            open.copy_from_slice(b"{\"certificate\":\"".get(..open.len()).unwrap_or(&[]));
            let mut at = b64url(certificate, rest).map_err(|_| too_small())?.len();
            let mut tail = heapless::String::<24>::new();
            let _ = tail.push('"');
            if let Some(r) = reason {
                let _ = core::fmt::Write::write_fmt(&mut tail, format_args!(",\"reason\":{r}"));
            }
            let _ = tail.push('}');
            rest.get_mut(at..at.saturating_add(tail.len())).ok_or_else(too_small)?.copy_from_slice(tail.as_bytes());
            at = at.saturating_add(tail.len());
            Ok(at.saturating_add(16))
        }
        #[cfg(feature = "acme-manage")]
        Payload::Inner => {
            let inner = kept.inner.get(arena);
            out.get_mut(..inner.len()).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: inner.len() })?.copy_from_slice(inner);
            Ok(inner.len())
        }
        #[cfg(feature = "acme-manage")]
        Payload::Deactivate => {
            const BODY: &[u8] = b"{\"status\":\"deactivated\"}";
            out.get_mut(..BODY.len()).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: BODY.len() })?.copy_from_slice(BODY);
            Ok(BODY.len())
        }
        Payload::Finalize => {
            // {"csr":"<base64url DER>"}: base64url needs no escaping.
            let der = kept.csr.get(arena);
            let needed = b64url_len(der.len()).saturating_add(10);
            let (open, rest) = out.split_at_mut(8.min(room));
            open.copy_from_slice(b"{\"csr\":\"".get(..open.len()).unwrap_or(&[]));
            let n = b64url(der, rest).map_err(|_| ClientError::BufferTooSmall { buffer: "work", needed })?.len();
            let close = rest.get_mut(n..n.saturating_add(2)).ok_or(ClientError::BufferTooSmall { buffer: "work", needed })?;
            close.copy_from_slice(b"\"}");
            Ok(n.saturating_add(10))
        }
        Payload::NewAccount => new_account_payload(from, out),
        #[cfg(not(feature = "acme-manage"))]
        Payload::Revoke | Payload::Inner | Payload::Deactivate => Err(ClientError::UnexpectedCall),
    }
}

fn new_account_payload(from: &PayloadFrom<'_, '_>, out: &mut [u8]) -> Result<usize, ClientError> {
    let PayloadFrom { config, operation, key, kept, arena } = *from;
    let room = out.len();
    let too_small = |_| ClientError::BufferTooSmall { buffer: "work", needed: room.saturating_add(1) };
    // Revocation, key change and deactivation need the account as it is: found, not made.
    let only_existing = matches!(
        operation,
        Operation::Account { only_existing: true } | Operation::Revoke { .. } | Operation::KeyChange { .. } | Operation::Deactivate
    );
    let Some(eab) = config.eab.filter(|_| !only_existing) else {
        return write_new_account(out, config, only_existing, None).map_err(too_small);
    };
    // The EAB's inner JWS (RFC 8555 section 7.3.4): protected {alg HS256, kid, url}, payload
    // the account JWK, signature the MAC, all built in `out`'s tail.
    let url = core::str::from_utf8(kept.new_account.get(arena)).map_err(|_| ClientError::UnexpectedCall)?;
    let (head, tail) = out.split_at_mut(room / 2);
    let (jwk, tail) = tail.split_at_mut(tail.len().min(720));
    let jwk_len = key.write_jwk(jwk).map_err(enc("work"))?.len();
    let (prot, tail) = tail.split_at_mut(tail.len().min(512));
    let mut w = Writer::new(prot);
    w.raw(b"{").name("alg", true).str("HS256").name("kid", false).str(eab.kid).name("url", false).str(url).raw(b"}");
    let prot_len = w.finish().map_err(too_small)?;
    let (prot64, tail) = tail.split_at_mut(tail.len().min(683));
    let prot64 = b64url(prot.get(..prot_len).unwrap_or(&[]), prot64).map_err(enc("work"))?;
    let (jwk64, tail) = tail.split_at_mut(tail.len().min(960));
    let jwk64 = b64url(jwk.get(..jwk_len).unwrap_or(&[]), jwk64).map_err(enc("work"))?;
    let mac = zeroize::Zeroizing::new(hs256(eab.hmac_key, &[prot64.as_bytes(), b".", jwk64.as_bytes()]));
    let sig64 = b64url(&*mac, tail).map_err(enc("work"))?;
    write_new_account(head, config, false, Some([prot64, jwk64, sig64])).map_err(too_small)
}

/// Keeps `bytes` at the end of the arena in `work`.
fn keep(work: &mut [u8], arena: &mut usize, bytes: &[u8]) -> Result<Span, ClientError> {
    let start = *arena;
    let end = start.checked_add(bytes.len()).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: usize::MAX })?;
    work.get_mut(start..end).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: end })?.copy_from_slice(bytes);
    *arena = end;
    Ok(Span { start, end })
}

/// Keeps a URL from a reply: a plain string on the configured server (else the outcome that
/// ends the client).
fn keep_url(work: &mut [u8], arena: &mut usize, host: &str, port: u16, url: &str) -> Result<Result<Span, Outcome>, ClientError> {
    match message::plain(url) {
        Err(e) => Ok(Err(Outcome::Json(e))),
        // What a request line cannot carry (a control character, a space, non-ASCII).
        Ok(u) if !u.bytes().all(|b| b.is_ascii_graphic()) => Ok(Err(Outcome::Protocol("a URL with characters a request cannot carry"))),
        Ok(u) if path_of(host, port, u).is_none() => Ok(Err(Outcome::Protocol("a URL names another server"))),
        Ok(u) => keep(work, arena, u.as_bytes()).map(Ok),
    }
}

/// The path of `url` when it is on `https://host:port` (port omitted when 443; the host
/// compared without case, an IPv6 literal in brackets), else `None`. The port is 1 to 5
/// digits.
fn path_of<'u>(host: &str, port: u16, url: &'u str) -> Option<&'u str> {
    let rest = url.strip_prefix("https://")?;
    let cut = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
    let (authority, path) = (rest.get(..cut)?, rest.get(cut..)?);
    let (h, p) = match authority.bytes().rposition(|b| b == b':') {
        // A bracketed IPv6 literal without a port has its colons inside the brackets.
        Some(i) if !authority.ends_with(']') => (authority.get(..i)?, decimal_port(authority.get(i.saturating_add(1)..)?)?),
        _ => (authority, 443),
    };
    let h = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(h);
    (h.eq_ignore_ascii_case(host) && p == port).then_some(if path.is_empty() { "/" } else { path })
}

/// A port number: 1 to 5 ASCII digits, at most 65535.
fn decimal_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    digits.bytes().try_fold(0u16, |n, b| n.checked_mul(10)?.checked_add(u16::from(b.checked_sub(b'0').filter(|d| *d <= 9)?)))
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The DER elements one after another in a buffer.
struct DerSequence<'x>(&'x [u8]);

impl<'x> Iterator for DerSequence<'x> {
    type Item = &'x [u8];
    fn next(&mut self) -> Option<&'x [u8]> {
        let (tlv, rest) = crate::asn1::tlv::Tlv::read(self.0).ok()?;
        self.0 = rest;
        Some(tlv.raw)
    }
}

impl client_core::Core for Client<'_, '_> {
    crate::client_core::stage_core!();
    fn prepare(&mut self, _now: Instant) -> Result<(), ClientError> {
        self.prepare_next()
    }
    fn process(&mut self, now: Instant) -> Result<(), ClientError> {
        self.process_response(now)
    }
    fn retry(&mut self, _now: Instant) {
        debug!("acme: poll due");
        self.stage = Stage::Ready;
    }
}

/// Answers ACME challenges for the drivers ([`crate::transport::blocking::run_acme`]): the
/// firmware's http-01 server, DNS updater or tls-alpn-01 listener.
pub trait Responder {
    /// Starts answering `task`; false when it cannot (the client ends with
    /// [`Outcome::ChallengeNotPublished`]).
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool;
    /// Stops answering `task`.
    fn withdraw(&mut self, task: &ChallengeTask<'_>);
}

impl<R: Responder + ?Sized> Responder for &mut R {
    fn publish(&mut self, task: &ChallengeTask<'_>) -> bool {
        (**self).publish(task)
    }
    fn withdraw(&mut self, task: &ChallengeTask<'_>) {
        (**self).withdraw(task)
    }
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn path_of_keeps_only_urls_on_the_configured_origin() {
        let ok = [
            ("acme.example", 443, "https://acme.example/dir", "/dir"),
            ("acme.example", 443, "https://ACME.example", "/"),
            ("acme.example", 14000, "https://acme.example:14000/a/b?c", "/a/b?c"),
            ("::1", 443, "https://[::1]/x", "/x"),
            ("::1", 8443, "https://[::1]:8443/x", "/x"),
            ("acme.example", 443, "https://acme.example:00443/x", "/x"),
        ];
        for (host, port, url, path) in ok {
            assert_eq!(path_of(host, port, url), Some(path), "{url}");
        }
        let refused = [
            ("acme.example", 443, "http://acme.example/dir"),
            ("acme.example", 443, "https://other.example/dir"),
            ("acme.example", 443, "https://acme.example:8443/dir"),
            ("acme.example", 443, "https://acme.example:+443/dir"),
            ("acme.example", 443, "https://acme.example:/dir"),
            ("acme.example", 443, "https://acme.example:443443/dir"),
            ("acme.example", 443, "https://acme.example:65979/dir"),
            ("acme.example", 443, "https://acme.example.evil/dir"),
            ("acme.example", 443, "https://user@acme.example/dir"),
            ("::1", 443, "https://[::2]/x"),
            ("acme.example", 443, "https://acme.exampl\u{e9}/x"),
        ];
        for (host, port, url) in refused {
            assert_eq!(path_of(host, port, url), None, "{url}");
        }
    }
}
