//! The SCEP client as a Sans-IO state machine (RFC 8894; shape: docs/architecture.md section 3).
//!
//! ```text
//! let mut client = Client::new(config, Operation::Enroll(csr), buffers, rng)?;
//! loop {
//!     match client.poll(now)? {
//!         Step::Send(bytes)   => { write bytes to the server; feed the reply with
//!                                  client.handle_response_data(now, chunk) until
//!                                  client.response_complete(), or handle_response_end at EOF }
//!         Step::Sign(req)     => { let n = key.sign_prehash(&req.digest, &mut sig)?; client.signed(now, &sig[..n])?; }
//!         Step::Decrypt(req)  => { let cek = &mut cek[..req.key_len]; key.decrypt_pkcs1v15(req.encrypted_key, cek)?; client.decrypted(now, cek)?; }
//!         Step::Agree(req)    => { key.agree(&req.peer_public_key, &mut z)?; client.agreed(now, &z)?; }
//!         Step::Wait(until)   => { sleep until `until` (a PENDING poll); save client.snapshot() first }
//!         Step::Done(outcome) => break,
//!     }
//! }
//! ```
//!
//! The client never touches a socket, a clock or the private key: requests, key operations
//! and deadlines come out of [`Client::poll`] as [`Step`]s, and bytes, time and key results go
//! in through the `handle_*`/answer methods. Blocking drivers over this machine live in
//! [`crate::transport`].
//!
//! # Flow
//! GetCACaps (the [`AlgorithmChoice`] is visible through [`Client::algorithms`] from then on),
//! GetCACert (trusted by [`CaTrust`]), then per [`Operation`]: the CSR and, for a first
//! enrollment, a self-signed signer certificate (each a [`Step::Sign`]), the pkiMessage (one
//! more [`Step::Sign`]), the CertRep (verified: signer, transaction ID, nonce), and on SUCCESS
//! the envelope opened with the device key ([`Step::Decrypt`] for RSA, [`Step::Agree`] for EC,
//! or the configured password for PWRI). PENDING gives [`Step::Wait`] and then a CertPoll on
//! the same transaction, spaced and bounded by the [`RetryPolicy`].
//!
//! # Buffers
//! Four caller buffers ([`Buffers`]); the figures are for RSA-2048 keys and a CA chain of one
//! or two certificates:
//!
//! | buffer | holds | typical need |
//! |---|---|---|
//! | `ca` | the GetCACert reply, kept for the whole transaction | 1-4 KiB |
//! | `own` | the CSR and the signer certificate | 2 KiB |
//! | `work` | the envelope and pkiMessage, then the CertRep and its plaintext | 6 KiB |
//! | `io` | one HTTP request, then one HTTP response | 6 KiB (GET requests: 8 KiB) |
//!
//! A buffer too small is reported with [`ClientError::BufferTooSmall`] and its name.
//!
//! # Errors and outcomes
//! What the server or the network does ends in an [`Outcome`] (rejected, HTTP status,
//! invalid reply, ...): typed, never a panic. [`ClientError`] is for the caller's side: a
//! call out of order, a buffer too small, a key answer of the wrong shape. After any
//! `ClientError` other than [`ClientError::UnexpectedCall`], the client is finished and keeps
//! returning that error.

use super::ca::{CaCertificates, CaTrust};
use super::caps::{AlgorithmChoice, AlgorithmPolicy, CaCaps};
use super::message::{CertRepError, FailInfo, MessageType, Nonce, RequestAttributes, TransactionId};
use super::snapshot::PendingTransaction;
use crate::asn1::cert::CertificateRef;
use crate::asn1::cms::enveloped_data::EnvelopedDataRef;
use crate::asn1::cms::signed_data::SignedDataRef;
use crate::asn1::csr::CsrBuilder;
use crate::asn1::spki::SpkiRef;
use crate::client_core;
use crate::crypto::Digest;
use crate::error::{CmsError, EncodeError, HttpError, ScepError};
pub use crate::hal::KeyRole;
use crate::hal::KeyType;
use crate::http::ResponseReader;
use crate::retry::{RetryPolicy, RetrySchedule};
use crate::span::Span;
use crate::time::{Instant, UnixTime};
use crate::transport::TransportFailure;
use rand_core::CryptoRngCore;

mod reply;
mod request;

/// Where the SCEP server is and how it is trusted. `Debug` does not show the envelope
/// password.
#[derive(Clone, Copy)]
pub struct Config<'a> {
    /// Host name or address for the `Host` header.
    pub host: &'a str,
    /// The port, if not 80 (for the `Host` header; connecting is the transport's job).
    pub port: Option<u16>,
    /// The CGI path: `/scep`, `/cgi-bin/pkiclient.exe`, `/certsrv/mscep/mscep.dll`.
    pub path: &'a str,
    /// The `message` parameter of GetCACert (a CA identifier), if the server wants one.
    pub ca_identifier: Option<&'a str>,
    /// How the CA certificate is trusted.
    pub trust: CaTrust<'a>,
    /// Which algorithms may be used.
    pub policy: AlgorithmPolicy,
    /// PENDING polling: delays and bounds.
    pub retry: RetryPolicy,
    /// SubjectPublicKeyInfo (DER) of the key to certify.
    pub public_key: &'a [u8],
    /// The password a PWRI envelope is opened with (the challenge password, usually), for
    /// servers that encrypt to a password rather than to the device key.
    pub envelope_password: Option<&'a [u8]>,
    /// Wall-clock time, when the device knows it: CA validity is checked and the self-signed
    /// signer certificate is valid from an hour before it. Without it, CA certificates are
    /// only checked against `time_floor` and the signer certificate covers 2000-2049.
    pub wall_time: Option<UnixTime>,
    /// Without `wall_time`: certificates that expired before this are refused (the firmware's
    /// build date at least; default [`UnixTime::CRATE_FLOOR`]).
    pub time_floor: UnixTime,
}

impl core::fmt::Debug for Config<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("ca_identifier", &self.ca_identifier)
            .field("trust", &self.trust)
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field("public_key", &self.public_key)
            .field("envelope_password", &self.envelope_password.map(|_| "not shown"))
            .field("wall_time", &self.wall_time)
            .field("time_floor", &self.time_floor)
            .finish()
    }
}

impl<'a> Config<'a> {
    /// A configuration with the defaults: path `/scep`, the default policies, no password,
    /// no wall time.
    pub fn new(host: &'a str, trust: CaTrust<'a>, public_key: &'a [u8]) -> Self {
        Self {
            host,
            port: None,
            path: "/scep",
            ca_identifier: None,
            trust,
            policy: AlgorithmPolicy::default(),
            retry: RetryPolicy::default(),
            public_key,
            envelope_password: None,
            wall_time: None,
            time_floor: UnixTime::CRATE_FLOOR,
        }
    }
}

/// What the client is to do.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// GetCACaps only ([`Outcome::CaCaps`]).
    GetCaCaps,
    /// GetCACaps and GetCACert ([`Outcome::CaCertificates`]).
    GetCaCertificates,
    /// GetNextCACert, verified against the current CA ([`Outcome::NextCa`]).
    GetNextCaCertificates,
    /// PKCSReq (19) for the CSR, signed with a self-signed certificate of the same key.
    Enroll(CsrBuilder<'a>),
    /// RenewalReq (17) for the CSR, signed with `certificate` and its key (the key that
    /// answers [`KeyRole::Certificate`] requests). The CSR's key ([`Config::public_key`])
    /// may be the same key or a new one.
    Renew {
        /// The request.
        csr: CsrBuilder<'a>,
        /// The current certificate (DER).
        certificate: &'a [u8],
    },
    /// GetCert (21): the certificate with `serial` issued by the CA, asked for by the
    /// holder of `certificate` ([`Outcome::Certificate`]).
    GetCert {
        /// The requester's certificate (DER); its key signs and decrypts.
        certificate: &'a [u8],
        /// The serial number (INTEGER contents) of the certificate wanted.
        serial: &'a [u8],
    },
    /// GetCRL (22): the CRL covering `certificate` (its issuer and serial), asked for by its
    /// holder ([`Outcome::Crl`]).
    GetCrl {
        /// The requester's certificate (DER).
        certificate: &'a [u8],
    },
}

/// The caller's buffers (see the module documentation for sizes).
#[derive(Debug)]
pub struct Buffers<'b> {
    /// The GetCACert reply.
    pub ca: &'b mut [u8],
    /// The CSR and the signer certificate.
    pub own: &'b mut [u8],
    /// Envelope, pkiMessage, CertRep, plaintext.
    pub work: &'b mut [u8],
    /// One HTTP request or response.
    pub io: &'b mut [u8],
}

/// What is being signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignPurpose {
    /// The PKCS#10 request.
    Csr,
    /// The self-signed signer certificate.
    SignerCertificate,
    /// The pkiMessage's signed attributes.
    Message,
}

/// A signature the device key must make: over `digest`, with [`Signer::sign_prehash`](crate::hal::Signer::sign_prehash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignRequest {
    /// The digest to sign.
    pub digest: Digest,
    /// Which key.
    pub key: KeyRole,
    /// What it is for.
    pub purpose: SignPurpose,
}

/// An RSA decryption the device key must make (KeyTransRecipientInfo): the result is the
/// content-encryption key of `key_len` bytes. Answer with [`Client::decrypted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptRequest<'c> {
    /// The encrypted key (PKCS#1 v1.5).
    pub encrypted_key: &'c [u8],
    /// The expected plaintext length.
    pub key_len: usize,
    /// Which key.
    pub key: KeyRole,
}

/// An ECDH the device key must make (KeyAgreeRecipientInfo): the x-coordinate of the shared
/// point with `peer_public_key`. Answer with [`Client::agreed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreeRequest {
    /// The originator's ephemeral public key (SEC1).
    pub peer_public_key: heapless::Vec<u8, 97>,
    /// Which key.
    pub key: KeyRole,
}

/// What to do next.
#[derive(Debug)]
pub enum Step<'c> {
    /// Send these bytes (a whole HTTP/1.1 request, `Connection: close`) to the server, then
    /// feed the response to [`Client::handle_response_data`].
    Send(&'c [u8]),
    /// Sign a digest with the device key; answer with [`Client::signed`].
    Sign(SignRequest),
    /// Decrypt with the device's RSA key; answer with [`Client::decrypted`].
    Decrypt(DecryptRequest<'c>),
    /// ECDH with the device's EC key; answer with [`Client::agreed`].
    Agree(AgreeRequest),
    /// Nothing to do before this instant (a PENDING poll is due then). Calling
    /// [`Client::poll`] earlier returns the same step.
    Wait(Instant),
    /// Finished.
    Done(&'c Outcome),
}

/// Why a server reply was not accepted.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReplyError {
    /// The CertRep did not verify (signer, transaction ID, nonce, attributes); also a body
    /// that is not a pkiMessage at all (an HTML page).
    CertRep(CertRepError),
    /// The envelope could not be opened, or its content does not parse.
    Envelope(CmsError),
    /// The envelope has no recipient this client can open (no password configured for PWRI).
    NoRecipient,
    /// SUCCESS, but no certificate for our public key (or with the serial asked for, or no
    /// CRL) is in the reply.
    NotFound,
    /// The certificate for our key is not signed by the issuing CA.
    NotIssuedByCa,
    /// The reply uses an algorithm the caller's [`AlgorithmPolicy`] does not allow: `"DES"`,
    /// `"3DES"` (content encryption) or `"SHA-1"` (the reply's signature).
    AlgorithmNotAllowed(&'static str),
}

impl core::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CertRep(e) => write!(f, "the reply was refused: {e}"),
            Self::Envelope(e) => write!(f, "the reply's envelope could not be opened: {e}"),
            Self::NoRecipient => f.write_str("the reply's envelope has no recipient this client can open"),
            Self::NotFound => f.write_str("the CA said SUCCESS but sent no certificate for our key"),
            Self::NotIssuedByCa => f.write_str("the certificate for our key is not signed by the issuing CA"),
            Self::AlgorithmNotAllowed(alg) => write!(f, "the reply uses {alg}, which the algorithm policy does not allow"),
        }
    }
}

impl core::error::Error for ReplyError {}

/// How the operation ended.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// GetCACaps done: [`Client::ca_caps`].
    CaCaps,
    /// GetCACert done: [`Client::ca_certificates`].
    CaCertificates,
    /// GetNextCACert done and verified: [`Client::next_ca_certificates`].
    NextCa,
    /// The certificate for our key was issued: [`Client::certificate`] (and the reply's
    /// other certificates through [`Client::reply_certificates`]).
    Issued,
    /// GetCert done: [`Client::certificate`].
    Certificate,
    /// GetCRL done: [`Client::crl`].
    Crl,
    /// The CA said FAILURE.
    Rejected {
        /// failInfo, if sent.
        fail_info: Option<FailInfo>,
        /// failInfoText, if sent (truncated to 128 bytes).
        text: heapless::String<128>,
    },
    /// The CA kept answering PENDING until the retry policy ran out.
    PendingTimedOut {
        /// Polls made.
        attempts: u32,
    },
    /// The server answered with an HTTP status other than 200.
    HttpStatus(u16),
    /// The HTTP response was malformed or did not fit the `io` buffer.
    Http(HttpError),
    /// The connection failed outside a PENDING poll, and why
    /// ([`Client::handle_transport_failure`]).
    Transport(TransportFailure),
    /// A reply was refused.
    InvalidReply(ReplyError),
    /// The CA certificates or capabilities are unusable (untrusted, no acceptable algorithm,
    /// another CA than the transaction was started with).
    Ca(ScepError),
}

impl core::fmt::Display for Outcome {
    /// One sentence: what happened (the cause chained in).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CaCaps => f.write_str("GetCACaps done"),
            Self::CaCertificates => f.write_str("GetCACert done: the CA certificates are trusted"),
            Self::NextCa => f.write_str("GetNextCACert done and verified"),
            Self::Issued => f.write_str("the certificate was issued"),
            Self::Certificate => f.write_str("GetCert done"),
            Self::Crl => f.write_str("GetCRL done"),
            Self::Rejected { fail_info, text } => {
                f.write_str("the CA refused the request")?;
                if let Some(info) = fail_info {
                    write!(f, ": {info}")?;
                }
                if !text.is_empty() {
                    write!(f, " ({text:?})")?;
                }
                Ok(())
            }
            Self::PendingTimedOut { attempts } => write!(f, "the CA still answered PENDING after {attempts} polls"),
            Self::HttpStatus(status) => write!(f, "the server answered HTTP {status}"),
            Self::Http(e) => write!(f, "the HTTP response was unusable: {e}"),
            Self::Transport(why) => write!(f, "the connection failed: {why}"),
            Self::InvalidReply(e) => write!(f, "{e}"),
            Self::Ca(e) => write!(f, "the CA is unusable: {e}"),
        }
    }
}

/// A caller-side error: the one type both protocol clients return ([`crate::error::ClientError`]).
pub use crate::error::ClientError;

fn enc(buffer: &'static str) -> impl Fn(EncodeError) -> ClientError {
    move |e| match e {
        EncodeError::BufferTooSmall { needed } => ClientError::BufferTooSmall { buffer, needed },
        other => ClientError::Encode(other),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Caps,
    Ca,
    NextCa,
    PkiOperation,
}

#[cfg(any(feature = "log", feature = "defmt"))]
impl Awaiting {
    /// The request's `operation` (for log lines).
    fn name(self) -> &'static str {
        match self {
            Self::Caps => "GetCACaps",
            Self::Ca => "GetCACert",
            Self::NextCa => "GetNextCACert",
            Self::PkiOperation => "PKIOperation",
        }
    }
}

#[cfg(any(feature = "log", feature = "defmt"))]
impl Operation<'_> {
    /// The operation's name (for log lines).
    fn name(&self) -> &'static str {
        match self {
            Self::GetCaCaps => "GetCACaps",
            Self::GetCaCertificates => "GetCACert",
            Self::GetNextCaCertificates => "GetNextCACert",
            Self::Enroll(_) => "enrollment (PKCSReq)",
            Self::Renew { .. } => "renewal (RenewalReq)",
            Self::GetCert { .. } => "GetCert",
            Self::GetCrl { .. } => "GetCRL",
        }
    }
}

// Without an allocator there is nothing to box into; one Stage lives in each client.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Stage {
    /// Decide and prepare the next request.
    Ready,
    /// A request was handed out; its response goes into `io`.
    Awaiting { what: Awaiting, reader: ResponseReader },
    /// A signature is asked for; `len` bytes of what is signed sit in `work` (CSR info,
    /// TBS certificate) or `io` (signed attributes).
    Signing { purpose: SignPurpose, digest: Digest, len: usize, env_len: usize, attrs: Option<RequestAttributes> },
    /// A SUCCESS envelope (`work[start..end]`) waits for the device key.
    Opening { start: usize, end: usize, agreement: bool },
    /// PENDING: the next poll is due at `until`.
    Waiting { until: Instant },
    /// Finished.
    Done(Outcome),
    /// A caller-side error ended the client.
    Failed(ClientError),
}

/// What the reply delivered, within `work`.
#[derive(Debug, Clone, Copy, Default)]
struct Results {
    /// The certs-only (or next-CA) SignedData.
    certs: Span,
    /// The certificate for our key, or the one asked for.
    certificate: Span,
    /// The CRL.
    crl: Span,
}

/// The SCEP client. See the module documentation.
pub struct Client<'a, 'b, R> {
    config: Config<'a>,
    operation: Operation<'a>,
    bufs: Buffers<'b>,
    rng: R,
    key: KeyType,
    caps: Option<CaCaps>,
    choice: Option<AlgorithmChoice>,
    /// The GetCACert reply in `ca` and whether it is a chain.
    ca_len: usize,
    ca_chain: bool,
    recipient: Span,
    issuing_ca: Span,
    /// From a snapshot: the recipient must have this fingerprint.
    expected_ca: Option<[u8; 32]>,
    /// In `own`: the CSR, then the signer certificate.
    csr: Span,
    signer: Span,
    subject: heapless::Vec<u8, { super::snapshot::MAX_SUBJECT }>,
    transaction_id: TransactionId,
    nonce: Nonce,
    /// The message the next PKIOperation sends.
    message_type: MessageType,
    retry: Option<RetrySchedule>,
    stage: Stage,
    results: Results,
    /// The request at the start of `io` (until the response overwrites it).
    request_len: usize,
    /// The end has been logged.
    #[cfg(any(feature = "log", feature = "defmt"))]
    end_logged: bool,
}

impl<R> core::fmt::Debug for Client<'_, '_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("scep::Client")
            .field("stage", &self.stage)
            .field("transaction_id", &self.transaction_id)
            .field("choice", &self.choice)
            .finish_non_exhaustive()
    }
}

impl<R> Drop for Client<'_, '_, R> {
    /// The CSR with its challenge password, and the request built from it (its plaintext
    /// passes through `work` while it is encrypted), never outlive the client in its buffers.
    fn drop(&mut self) {
        if let Some(c) = self.bufs.own.get_mut(self.csr.start..self.csr.end) {
            zeroize::Zeroize::zeroize(c);
        }
    }
}

impl<'a, 'b, R: CryptoRngCore> Client<'a, 'b, R> {
    /// A client for `operation`.
    pub fn new(config: Config<'a>, operation: Operation<'a>, bufs: Buffers<'b>, rng: R) -> Result<Self, ClientError> {
        let spki = SpkiRef::parse(config.public_key).map_err(|_| ClientError::Config("public key is not a SubjectPublicKeyInfo"))?;
        let key = spki.key_type().ok_or(ClientError::Config("public key type (RSA 2048-4096 or P-256)"))?;
        let message_type = match operation {
            Operation::Renew { .. } => MessageType::RenewalReq,
            Operation::GetCert { .. } => MessageType::GetCert,
            Operation::GetCrl { .. } => MessageType::GetCrl,
            _ => MessageType::PkcsReq,
        };
        if let Operation::Renew { certificate, .. } | Operation::GetCert { certificate, .. } | Operation::GetCrl { certificate } = operation
        {
            let c = CertificateRef::parse(certificate).map_err(|_| ClientError::Config("certificate does not parse"))?;
            c.spki().key_type().ok_or(ClientError::Config("certificate key type"))?;
        }
        info!(
            "scep: {} with {}{} (transaction {})",
            operation.name(),
            config.host,
            config.path,
            super::message::transaction_id_for_key(config.public_key).as_str()
        );
        Ok(Self {
            config,
            operation,
            bufs,
            rng,
            key,
            caps: None,
            choice: None,
            ca_len: 0,
            ca_chain: false,
            recipient: Span::default(),
            issuing_ca: Span::default(),
            expected_ca: None,
            csr: Span::default(),
            signer: Span::default(),
            subject: heapless::Vec::new(),
            transaction_id: super::message::transaction_id_for_key(config.public_key),
            nonce: [0; 16],
            message_type,
            retry: None,
            stage: Stage::Ready,
            results: Results::default(),
            request_len: 0,
            #[cfg(any(feature = "log", feature = "defmt"))]
            end_logged: false,
        })
    }

    /// A client that goes on polling the PENDING transaction saved in `snapshot` (from
    /// [`Client::snapshot`]), for the same `config` and `operation` (Enroll or Renew) as the
    /// client that saved it. It fetches the CA certificate again (it must be the same one),
    /// rebuilds the signer certificate, and sends the next CertPoll when it is due.
    ///
    /// Instants in the snapshot are on the caller's clock; if that clock restarted at boot,
    /// a poll due "later" than `now` plus the longest delay is brought forward to `now`.
    pub fn resume(
        config: Config<'a>,
        operation: Operation<'a>,
        bufs: Buffers<'b>,
        rng: R,
        snapshot: &[u8],
        now: Instant,
    ) -> Result<Self, ClientError> {
        let p = PendingTransaction::decode(snapshot).map_err(ClientError::Snapshot)?;
        let mut c = Self::new(config, operation, bufs, rng)?;
        let expected = match operation {
            Operation::Enroll(_) => MessageType::PkcsReq,
            Operation::Renew { .. } => MessageType::RenewalReq,
            _ => return Err(ClientError::Config("only Enroll and Renew transactions resume")),
        };
        if p.request != expected {
            return Err(ClientError::Config("the snapshot is for another operation"));
        }
        c.choice = Some(p.choice);
        c.transaction_id = p.transaction_id;
        c.nonce = p.sender_nonce;
        c.expected_ca = Some(p.ca_fingerprint);
        c.subject = p.subject;
        c.message_type = MessageType::CertPoll;
        let started = if p.retry_started > now { now } else { p.retry_started };
        c.retry = Some(RetrySchedule::resume(config.retry, started, p.retry_attempts));
        let latest = now.saturating_add(config.retry.max_delay);
        let until = if p.next_poll > latest { now } else { p.next_poll };
        c.stage = Stage::Waiting { until };
        info!(
            "scep: resuming PENDING transaction {} (polls made: {}; next in {} ms)",
            c.transaction_id(),
            p.retry_attempts,
            (until - now).as_millis()
        );
        Ok(c)
    }

    // ---- getters ----

    /// The capabilities the server announced (after GetCACaps).
    pub fn ca_caps(&self) -> Option<CaCaps> {
        self.caps
    }

    /// The algorithms chosen for PKIOperation, as soon as they are known (before any request
    /// is built).
    pub fn algorithms(&self) -> Option<AlgorithmChoice> {
        self.choice
    }

    /// The CA certificates, once received and trusted.
    pub fn ca_certificates(&self) -> Option<CaCertificates<'_>> {
        if self.recipient.is_empty() {
            return None;
        }
        let body = self.bufs.ca.get(..self.ca_len)?;
        // Already checked against the trust configuration; only re-read here.
        CaCertificates::from_checked_reply(body, self.ca_chain).ok()
    }

    /// The transaction ID.
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// PENDING polls made so far.
    pub fn pending_attempts(&self) -> u32 {
        self.retry.map_or(0, |r| r.attempts())
    }

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.stage {
            Stage::Done(o) => Some(o),
            _ => None,
        }
    }

    /// The issued certificate (DER), or the one GetCert fetched.
    pub fn certificate(&self) -> Option<&[u8]> {
        self.result(self.results.certificate)
    }

    /// The certs-only SignedData of the reply (the issued certificate and whatever chain the
    /// CA sent), or the next CA certificates after GetNextCACert.
    pub fn reply_certificates(&self) -> Option<SignedDataRef<'_>> {
        SignedDataRef::parse(self.result(self.results.certs)?).ok()
    }

    /// The next CA certificates (after [`Operation::GetNextCaCertificates`]).
    pub fn next_ca_certificates(&self) -> Option<SignedDataRef<'_>> {
        match self.outcome() {
            Some(Outcome::NextCa) => self.reply_certificates(),
            _ => None,
        }
    }

    /// The CRL (DER) GetCRL fetched.
    pub fn crl(&self) -> Option<&[u8]> {
        self.result(self.results.crl)
    }

    /// Whether the response being read is complete (then call [`Client::poll`]).
    pub fn response_complete(&self) -> bool {
        client_core::complete(self)
    }

    /// Saves the PENDING transaction into `out` (at most
    /// [`MAX_SNAPSHOT_LEN`](super::snapshot::MAX_SNAPSHOT_LEN) bytes), for
    /// [`Client::resume`] after a reboot. `None` when there is nothing to resume (not
    /// waiting for a PENDING poll).
    pub fn snapshot<'o>(&self, out: &'o mut [u8]) -> Result<Option<&'o [u8]>, ClientError> {
        let (Stage::Waiting { until }, Some(retry), Some(choice)) = (&self.stage, self.retry, self.choice) else {
            return Ok(None);
        };
        let fingerprint = match self.recipient_cert() {
            Some(c) => c.fingerprint_sha256(),
            None => self.expected_ca.ok_or(ClientError::UnexpectedCall)?,
        };
        let p = PendingTransaction {
            request: match self.operation {
                Operation::Renew { .. } => MessageType::RenewalReq,
                _ => MessageType::PkcsReq,
            },
            choice,
            transaction_id: self.transaction_id.clone(),
            sender_nonce: self.nonce,
            retry_started: retry.started(),
            retry_attempts: retry.attempts(),
            next_poll: *until,
            ca_fingerprint: fingerprint,
            subject: self.subject.clone(),
        };
        let saved = p.encode(out).map(Some).map_err(enc("snapshot"));
        #[cfg(any(feature = "log", feature = "defmt"))]
        if let Ok(Some(s)) = &saved {
            info!("scep: PENDING transaction {} saved in a snapshot ({} bytes)", self.transaction_id(), s.len());
        }
        saved
    }

    fn result(&self, s: Span) -> Option<&[u8]> {
        (!s.is_empty()).then(|| s.get(self.bufs.work))
    }

    fn recipient_cert(&self) -> Option<CertificateRef<'_>> {
        CertificateRef::parse(self.recipient.get(self.bufs.ca)).ok()
    }

    // ---- inputs ----

    /// Feeds response bytes as they arrive (any split). Returns how many were used (all,
    /// unless the response ended inside `data`). A malformed response ends the client with
    /// [`Outcome::Http`]; bytes fed after that are ignored (0 used).
    pub fn handle_response_data(&mut self, _now: Instant, data: &[u8]) -> Result<usize, ClientError> {
        client_core::feed(self, data)
    }

    /// Reports that the server closed the connection (ends a close-delimited body).
    pub fn handle_response_end(&mut self, _now: Instant) -> Result<(), ClientError> {
        client_core::end(self)
    }

    /// Reports that the request could not be sent or the response not read (connection
    /// refused, reset, timed out), without the reason: [`Self::handle_transport_failure`]
    /// with [`TransportFailure::Unspecified`].
    pub fn handle_transport_error(&mut self, now: Instant) -> Result<(), ClientError> {
        self.handle_transport_failure(now, TransportFailure::Unspecified)
    }

    /// Reports that the request could not be sent or the response not read, and why (the
    /// drivers say which: TCP, the TLS handshake, the server's certificate, a read cut short,
    /// the deadline). During PENDING polling this counts as a poll and the next one is
    /// scheduled; otherwise the client ends with [`Outcome::Transport`] and the reason.
    pub fn handle_transport_failure(&mut self, now: Instant, failure: TransportFailure) -> Result<(), ClientError> {
        match self.stage {
            Stage::Awaiting { .. } => {}
            Stage::Done(_) => return Ok(()),
            _ => return Err(ClientError::UnexpectedCall),
        }
        self.stage = match (self.message_type, self.retry.as_mut()) {
            (MessageType::CertPoll, Some(retry)) => match retry.next(now, None) {
                Some(until) => {
                    warn!(
                        "scep: CertPoll failed ({}): counted as poll {}, next in {} ms",
                        failure,
                        retry.attempts(),
                        (until - now).as_millis()
                    );
                    Stage::Waiting { until }
                }
                None => Stage::Done(Outcome::PendingTimedOut { attempts: retry.attempts() }),
            },
            _ => Stage::Done(Outcome::Transport(failure)),
        };
        Ok(())
    }

    /// The signature the last [`Step::Sign`] asked for (raw `r || s` for P-256, the modulus-
    /// sized block for RSA).
    pub fn signed(&mut self, _now: Instant, signature: &[u8]) -> Result<(), ClientError> {
        let Stage::Signing { purpose, len, env_len, attrs, .. } = &self.stage else {
            return Err(ClientError::UnexpectedCall);
        };
        let (purpose, len, env_len, attrs) = (*purpose, *len, *env_len, attrs.clone());
        let r = self.finish_signature(purpose, len, env_len, attrs.as_ref(), signature);
        client_core::settle(self, r)
    }

    /// The content-encryption key the last [`Step::Decrypt`] asked for.
    pub fn decrypted(&mut self, _now: Instant, cek: &[u8]) -> Result<(), ClientError> {
        let Stage::Opening { start, end, agreement: false } = self.stage else {
            return Err(ClientError::UnexpectedCall);
        };
        let Buffers { work, io, .. } = &mut self.bufs;
        let opened = EnvelopedDataRef::parse(work.get(start..end).unwrap_or(&[])).map_err(CmsError::Decode).and_then(|env| {
            if cek.len() != env.cipher().key_len() {
                return Err(CmsError::Decrypt(crate::CryptoError::InvalidLength { what: "content-encryption key" }));
            }
            env.decrypt_with_cek(cek, io).map(|p| p.len())
        });
        let r = self.finish_opened(opened);
        client_core::settle(self, r)
    }

    /// The ECDH shared secret (x-coordinate) the last [`Step::Agree`] asked for.
    pub fn agreed(&mut self, _now: Instant, shared_secret: &[u8; 32]) -> Result<(), ClientError> {
        let Stage::Opening { start, end, agreement: true } = self.stage else {
            return Err(ClientError::UnexpectedCall);
        };
        let Buffers { work, io, own, .. } = &mut self.bufs;
        let signer = CertificateRef::parse(self.signer.get(own)).map_err(CmsError::Decode);
        let opened = EnvelopedDataRef::parse(work.get(start..end).unwrap_or(&[])).map_err(CmsError::Decode).and_then(|env| {
            let kari = env.key_agreement_recipient(&signer?)?;
            env.decrypt_with_shared_secret(&kari, shared_secret, io).map(|p| p.len())
        });
        let r = self.finish_opened(opened);
        client_core::settle(self, r)
    }

    // ---- outputs ----

    /// What to do next (see [`Step`]). `now` is the caller's monotonic time.
    pub fn poll(&mut self, now: Instant) -> Result<Step<'_>, ClientError> {
        // Advance through everything that needs no input from the caller.
        client_core::advance(self, now, 16)?;
        #[cfg(any(feature = "log", feature = "defmt"))]
        self.log_end();
        self.current_step()
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
                Outcome::CaCaps | Outcome::CaCertificates | Outcome::NextCa | Outcome::Issued | Outcome::Certificate | Outcome::Crl => {
                    info!("scep: done: {}", outcome)
                }
                _ => error!("scep: failed: {}", outcome),
            },
            Stage::Failed(e) => error!("scep: the client stopped: {}", e),
            _ => return,
        }
        self.end_logged = true;
    }

    fn current_step(&self) -> Result<Step<'_>, ClientError> {
        Ok(match &self.stage {
            Stage::Ready => return Err(ClientError::UnexpectedCall),
            Stage::Awaiting { reader, .. } if !reader.is_started() => {
                // Not a byte of the response yet: the request is what is to be sent.
                Step::Send(self.bufs.io.get(..self.request_len()).unwrap_or(&[]))
            }
            Stage::Awaiting { .. } => return Err(ClientError::UnexpectedCall),
            Stage::Signing { purpose, digest, .. } => Step::Sign(SignRequest {
                digest: *digest,
                purpose: *purpose,
                key: match (purpose, self.message_type) {
                    (SignPurpose::Message, MessageType::PkcsReq) => KeyRole::Requested,
                    (SignPurpose::Message, MessageType::CertPoll) if matches!(self.operation, Operation::Enroll(_)) => KeyRole::Requested,
                    (SignPurpose::Message, _) => KeyRole::Certificate,
                    _ => KeyRole::Requested,
                },
            }),
            Stage::Opening { start, end, agreement } => {
                let env =
                    EnvelopedDataRef::parse(self.bufs.work.get(*start..*end).unwrap_or(&[])).map_err(|_| ClientError::UnexpectedCall)?;
                let signer = CertificateRef::parse(self.signer.get(self.bufs.own)).map_err(|_| ClientError::UnexpectedCall)?;
                let key = self.envelope_key();
                if *agreement {
                    let kari = env.key_agreement_recipient(&signer).map_err(|_| ClientError::UnexpectedCall)?;
                    Step::Agree(AgreeRequest {
                        peer_public_key: heapless::Vec::from_slice(kari.originator_key).map_err(|_| ClientError::UnexpectedCall)?,
                        key,
                    })
                } else {
                    let encrypted_key = env.key_transport_recipient(&signer).map_err(|_| ClientError::UnexpectedCall)?;
                    Step::Decrypt(DecryptRequest { encrypted_key, key_len: env.cipher().key_len(), key })
                }
            }
            Stage::Waiting { until } => Step::Wait(*until),
            Stage::Done(o) => Step::Done(o),
            Stage::Failed(e) => return Err(*e),
        })
    }

    fn envelope_key(&self) -> KeyRole {
        match self.operation {
            Operation::Enroll(_) => KeyRole::Requested,
            _ => KeyRole::Certificate,
        }
    }

    fn request_len(&self) -> usize {
        self.request_len
    }

    fn done(&mut self, outcome: Outcome) -> Result<(), ClientError> {
        self.stage = Stage::Done(outcome);
        // The transaction is over: the CSR (and its challenge password) is not needed again.
        self.wipe_csr();
        Ok(())
    }

    /// Wipes the CSR in `own` (it carries the challenge password). Polls after PENDING send
    /// no CSR; a snapshot keeps none.
    fn wipe_csr(&mut self) {
        if let Some(c) = self.bufs.own.get_mut(self.csr.start..self.csr.end) {
            zeroize::Zeroize::zeroize(c);
        }
    }
}

impl<R: CryptoRngCore> client_core::Core for Client<'_, '_, R> {
    crate::client_core::stage_core!();
    fn prepare(&mut self, now: Instant) -> Result<(), ClientError> {
        self.prepare_next(now)
    }
    fn process(&mut self, now: Instant) -> Result<(), ClientError> {
        self.process_response(now)
    }
    fn retry(&mut self, _now: Instant) {
        debug!("scep: poll due (transaction {})", self.transaction_id());
        self.message_type = MessageType::CertPoll;
        self.stage = Stage::Ready;
    }
}
