//! Error types, one small `Copy` enum per layer.
//!
//! Each carries enough context to act on (which check failed, how much space was needed) and
//! nothing secret. All are `#[non_exhaustive]`: match with a wildcard arm.

use core::fmt;

/// An error from a cryptographic adapter in [`crate::crypto`] or a software key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CryptoError {
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes the operation needs.
        needed: usize,
    },
    /// An input has a length the operation cannot take (key, IV, digest, ciphertext).
    InvalidLength {
        /// Which input.
        what: &'static str,
    },
    /// CBC padding (PKCS#7) did not check out after decryption.
    InvalidPadding,
    /// An integrity check failed: AES key unwrap, RFC 3211 key check, or a key pair that does
    /// not match itself.
    IntegrityCheckFailed,
    /// A key is malformed: an even or too-short RSA modulus, a point not on the curve, a zero
    /// scalar, an encoding that does not parse.
    InvalidKey,
    /// An RSA key size outside 2048..=4096 bits.
    UnsupportedKeySize {
        /// The modulus size in bits.
        bits: u16,
    },
    /// The algorithm is not available in this build or for this operation (e.g. DES
    /// encryption, SHA-1 signatures without `legacy-crypto`, hashing with SHA-384 or SHA-512
    /// without `sha512` or with SHA-1 without `sha1`).
    UnsupportedAlgorithm,
    /// A signature does not verify.
    SignatureInvalid,
    /// The message is too long for the RSA modulus.
    MessageTooLong,
    /// Key generation did not find a suitable key within its bounded number of attempts.
    KeyGenerationFailed,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Self::InvalidLength { what } => write!(f, "invalid length of {what}"),
            Self::InvalidPadding => f.write_str("invalid CBC padding"),
            Self::IntegrityCheckFailed => f.write_str("integrity check failed"),
            Self::InvalidKey => f.write_str("malformed key"),
            Self::UnsupportedKeySize { bits } => write!(f, "unsupported RSA key size: {bits} bits (2048..=4096 supported)"),
            Self::UnsupportedAlgorithm => f.write_str("algorithm not supported in this build or for this operation"),
            Self::SignatureInvalid => f.write_str("signature does not verify"),
            Self::MessageTooLong => f.write_str("message too long for the RSA modulus"),
            Self::KeyGenerationFailed => f.write_str("key generation gave up after its bounded attempts"),
        }
    }
}

impl core::error::Error for CryptoError {}

/// An error while decoding DER or BER input ([`crate::asn1`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The input ends inside an element.
    Truncated,
    /// Bytes follow the outermost element.
    TrailingData,
    /// A length is malformed: reserved, longer than 4 bytes, not minimal in DER, or an
    /// element claims more than its container holds.
    InvalidLength,
    /// An indefinite length where DER is required, or on a primitive element.
    IndefiniteLength,
    /// Elements nest deeper than the decoder's limit.
    TooDeep,
    /// An element has another tag than the schema requires.
    UnexpectedTag {
        /// The tag byte the schema wants (first identifier octet).
        expected: u8,
        /// The tag byte found.
        found: u8,
    },
    /// A field's content is malformed or out of range.
    InvalidValue {
        /// Which field.
        what: &'static str,
    },
    /// A version, algorithm or structure this crate does not handle.
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// The caller's output buffer is too small; `needed` bytes are required.
    OutputTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("input ends inside an element"),
            Self::TrailingData => f.write_str("trailing data after the element"),
            Self::InvalidLength => f.write_str("malformed length"),
            Self::IndefiniteLength => f.write_str("indefinite length not allowed here"),
            Self::TooDeep => f.write_str("elements nest too deep"),
            Self::UnexpectedTag { expected, found } => write!(f, "unexpected tag 0x{found:02x}, expected 0x{expected:02x}"),
            Self::InvalidValue { what } => write!(f, "invalid {what}"),
            Self::Unsupported { what } => write!(f, "unsupported {what}"),
            Self::OutputTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
        }
    }
}

impl core::error::Error for DecodeError {}

impl From<der::Error> for DecodeError {
    fn from(e: der::Error) -> Self {
        use der::ErrorKind as K;
        match e.kind() {
            K::Incomplete { .. } => Self::Truncated,
            K::TrailingData { .. } => Self::TrailingData,
            K::Length { .. } | K::Overlength | K::Overflow => Self::InvalidLength,
            K::IndefiniteLength => Self::IndefiniteLength,
            K::TagUnexpected { expected, actual } => {
                Self::UnexpectedTag { expected: expected.map(|t| t.octet()).unwrap_or(0), found: actual.octet() }
            }
            K::OidUnknown { .. } => Self::Unsupported { what: "object identifier" },
            _ => Self::InvalidValue { what: "DER element" },
        }
    }
}

/// An error while encoding DER output.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small; `needed` bytes are required. Nothing was written.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A value cannot be encoded (too long, out of range, empty where content is required).
    InvalidValue {
        /// Which field.
        what: &'static str,
    },
    /// A key operation needed for the encoding failed (e.g. the signer).
    KeyOperation {
        /// The hardware error kind.
        kind: crate::hal::ErrorKind,
    },
    /// A cryptographic operation failed.
    Crypto(CryptoError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
            Self::InvalidValue { what } => write!(f, "cannot encode {what}"),
            Self::KeyOperation { kind } => write!(f, "key operation failed: {kind:?}"),
            Self::Crypto(e) => write!(f, "crypto: {e}"),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<CryptoError> for EncodeError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

/// Why a certificate chain was not accepted ([`crate::asn1::chain`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChainError {
    /// No certificate among those given (or the trust anchor) names and signs the
    /// certificate at `depth` (0 = the leaf).
    IssuerNotFound {
        /// Position in the path.
        depth: u8,
    },
    /// The certificate at `depth` is signed with a scheme or key this build cannot check.
    UnsupportedSignature {
        /// Position in the path.
        depth: u8,
    },
    /// An issuer below the anchor is not a CA (no basicConstraints cA, or keyUsage without
    /// keyCertSign).
    NotACa {
        /// Position in the path of the issuer.
        depth: u8,
    },
    /// The certificate at `depth` is not valid yet at the given time.
    NotYetValid {
        /// Position in the path.
        depth: u8,
    },
    /// The certificate at `depth` has expired at the given time.
    Expired {
        /// Position in the path.
        depth: u8,
    },
    /// The certificate at `depth` has a critical extension this crate does not process.
    UnknownCriticalExtension {
        /// Position in the path.
        depth: u8,
    },
    /// The path is longer than the intermediates allow.
    TooLong,
    /// The issuer at `depth` has a pathLenConstraint that the path below it exceeds.
    PathLenExceeded {
        /// Position in the path of the constrained issuer.
        depth: u8,
    },
    /// A name of the certificate at `depth` is outside a CA's name constraints (or of a form
    /// that cannot be checked against them).
    NameConstraint {
        /// Position in the path of the certificate whose name is refused.
        depth: u8,
    },
    /// An extension of the certificate at `depth` is malformed or not allowed there
    /// (nameConstraints in an end entity, an empty extendedKeyUsage, a subjectAltName whose
    /// criticality contradicts the subject, a v1 certificate below the anchor...).
    InvalidExtension {
        /// Position in the path.
        depth: u8,
    },
    /// The serial number of the certificate at `depth` is zero, negative or longer than 20
    /// octets (RFC 5280 section 4.1.2.2).
    BadSerial {
        /// Position in the path.
        depth: u8,
    },
    /// The target is a CA certificate (or has keyCertSign) where an end entity is required.
    CaAsEndEntity,
    /// The extendedKeyUsage or keyUsage of the certificate at `depth` does not allow the use
    /// asked for (serverAuth for a TLS server).
    UsageNotAllowed {
        /// Position in the path.
        depth: u8,
    },
    /// Path building spent its signature budget without finding a valid path.
    BudgetExhausted,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IssuerNotFound { depth } => write!(f, "no issuer found for the certificate at depth {depth}"),
            Self::UnsupportedSignature { depth } => write!(f, "unsupported signature at depth {depth}"),
            Self::NotACa { depth } => write!(f, "issuer at depth {depth} is not a CA"),
            Self::NotYetValid { depth } => write!(f, "certificate at depth {depth} is not valid yet"),
            Self::Expired { depth } => write!(f, "certificate at depth {depth} has expired"),
            Self::UnknownCriticalExtension { depth } => write!(f, "unknown critical extension at depth {depth}"),
            Self::TooLong => f.write_str("certificate path too long"),
            Self::PathLenExceeded { depth } => write!(f, "path length constraint of the issuer at depth {depth} exceeded"),
            Self::NameConstraint { depth } => write!(f, "a name of the certificate at depth {depth} violates a CA's name constraints"),
            Self::InvalidExtension { depth } => write!(f, "malformed or misplaced extension in the certificate at depth {depth}"),
            Self::BadSerial { depth } => write!(f, "invalid serial number in the certificate at depth {depth}"),
            Self::CaAsEndEntity => f.write_str("a CA certificate was presented as an end entity"),
            Self::UsageNotAllowed { depth } => write!(f, "the certificate at depth {depth} is not allowed for this use (key usage)"),
            Self::BudgetExhausted => f.write_str("path building gave up: signature budget spent"),
        }
    }
}

impl core::error::Error for ChainError {}

/// Why a CMS message was not accepted or could not be opened ([`crate::asn1::cms`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CmsError {
    /// The encoding is malformed or unsupported.
    Decode(DecodeError),
    /// No SignerInfo names a certificate in the message or the one given.
    SignerNotFound,
    /// The message has no SignerInfo (a certs-only message where a signed one was expected).
    NotSigned,
    /// Signed attributes are missing where RFC 5652 requires them, or lack content-type or
    /// message-digest.
    MissingSignedAttribute,
    /// The message-digest attribute does not match the content.
    DigestMismatch,
    /// The content-type attribute does not match the encapsulated content type.
    ContentTypeMismatch,
    /// The signature does not verify (or its algorithm is unavailable).
    Signature(CryptoError),
    /// No RecipientInfo of the kind asked for matches the given certificate or password.
    RecipientNotFound,
    /// A key-management or content decryption step failed (wrong key, wrong password,
    /// tampered message: CMS does not tell these apart).
    Decrypt(CryptoError),
    /// The device key operation failed.
    KeyOperation(crate::hal::ErrorKind),
    /// The caller's output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for CmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed CMS: {e}"),
            Self::SignerNotFound => f.write_str("signer certificate not found"),
            Self::NotSigned => f.write_str("message has no signer"),
            Self::MissingSignedAttribute => f.write_str("required signed attribute missing"),
            Self::DigestMismatch => f.write_str("message digest does not match the content"),
            Self::ContentTypeMismatch => f.write_str("content-type attribute does not match the content"),
            Self::Signature(e) => write!(f, "signature: {e}"),
            Self::RecipientNotFound => f.write_str("no matching recipient"),
            Self::Decrypt(e) => write!(f, "decryption failed: {e}"),
            Self::KeyOperation(k) => write!(f, "key operation failed: {k:?}"),
            Self::BufferTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
        }
    }
}

impl core::error::Error for CmsError {}

impl From<DecodeError> for CmsError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

/// An HTTP response that cannot be read ([`crate::http`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HttpError {
    /// The status line or a header is malformed.
    MalformedHead,
    /// The head does not fit the caller's buffer (or has more than the supported 32 headers).
    HeadTooLarge {
        /// The buffer size.
        limit: usize,
    },
    /// The body does not fit the caller's buffer.
    BodyTooLarge {
        /// The room the buffer has for the body.
        limit: usize,
        /// The body's size when the response declares it (Content-Length, a chunk size);
        /// for a body that streams (chunks, close-delimited) the size it had reached when the
        /// buffer ran out, so at least this much.
        needed: usize,
    },
    /// Content-Length is malformed, repeated with different values, or combined with
    /// Transfer-Encoding (a request-smuggling sign, refused).
    InvalidContentLength,
    /// A Transfer-Encoding other than `chunked`.
    UnsupportedTransferEncoding,
    /// The chunked framing is malformed.
    MalformedChunk,
    /// The connection ended before the body was complete.
    UnexpectedEof,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedHead => f.write_str("malformed HTTP response head"),
            Self::HeadTooLarge { limit } => write!(f, "HTTP response head larger than the {limit}-byte buffer"),
            Self::BodyTooLarge { limit, needed } => {
                write!(f, "HTTP response body larger than the {limit} bytes the buffer has for it (it needs at least {needed})")
            }
            Self::InvalidContentLength => f.write_str("invalid Content-Length"),
            Self::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding"),
            Self::MalformedChunk => f.write_str("malformed chunked body"),
            Self::UnexpectedEof => f.write_str("connection closed before the body was complete"),
        }
    }
}

impl core::error::Error for HttpError {}

/// Why a SCEP exchange could not go on ([`crate::scep`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScepError {
    /// The server offers no content-encryption algorithm this configuration allows (AES,
    /// or 3DES with `legacy-crypto` and the policy allowing it). DES is never sent.
    NoAcceptableCipher,
    /// The server offers no digest this configuration allows (SHA-256, SHA-512 with feature
    /// `sha512`, or SHA-1 with `legacy-crypto` and the policy allowing it). MD5 is never used.
    NoAcceptableDigest,
    /// A GetCACert or GetNextCACert reply does not parse.
    MalformedCaResponse(DecodeError),
    /// The CA certificates do not match the pinned fingerprint or do not chain to the trust
    /// anchor (the chain check's reason).
    UntrustedCa(Option<ChainError>),
    /// No certificate in the reply can receive an encrypted request (an RSA key is needed).
    NoUsableRecipient,
    /// A GetNextCACert reply is not signed by the current CA.
    NextCaNotSignedByCurrent(CmsError),
}

impl fmt::Display for ScepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAcceptableCipher => f.write_str("the SCEP server offers no acceptable content-encryption algorithm"),
            Self::NoAcceptableDigest => f.write_str("the SCEP server offers no acceptable digest algorithm"),
            Self::MalformedCaResponse(e) => write!(f, "malformed CA certificate reply: {e}"),
            Self::UntrustedCa(Some(e)) => write!(f, "CA certificates not trusted: {e}"),
            Self::UntrustedCa(None) => f.write_str("CA certificates do not match the pinned fingerprint"),
            Self::NoUsableRecipient => f.write_str("no CA/RA certificate with an RSA key to encrypt to"),
            Self::NextCaNotSignedByCurrent(e) => write!(f, "next CA certificate not signed by the current CA: {e}"),
        }
    }
}

impl core::error::Error for ScepError {}

/// Why an HTTP authentication challenge cannot be read or answered ([`crate::http::auth`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthError {
    /// The `WWW-Authenticate` value does not parse, or a challenge lacks (or repeats) a
    /// parameter its scheme requires (Digest `realm`, `nonce`).
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// No challenge uses a scheme this client answers (Basic, Digest).
    UnsupportedScheme,
    /// The Digest `algorithm` is not one this client answers: SHA-256 and MD5 (SHA-512-256
    /// and unknown names are refused).
    UnsupportedAlgorithm,
    /// The Digest challenge asks for a `-sess` algorithm (RFC 7616 section 3.4.2), which this
    /// client does not implement.
    SessionAlgorithm,
    /// The Digest `qop` options do not include `auth` (e.g. `auth-int` only).
    UnsupportedQop,
    /// A value that goes into the header (user name, password, URI, client nonce) is empty
    /// where it must not be, or holds a character that cannot go there (a quote, a
    /// backslash, CR, LF or another control character, a colon in a Basic user-id).
    InvalidValue {
        /// Which value.
        what: &'static str,
    },
    /// The output buffer is too small; `needed` bytes are required. The buffer was wiped.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A Digest challenge, in a build without the `http-digest` feature: Digest answers are
    /// not built in, so it cannot be answered (Basic still is, when the server offers it).
    DigestDisabled,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { what } => write!(f, "malformed authentication challenge: {what}"),
            Self::UnsupportedScheme => f.write_str("no Basic or Digest authentication challenge"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported Digest algorithm"),
            Self::SessionAlgorithm => f.write_str("Digest -sess algorithms are not supported"),
            Self::UnsupportedQop => f.write_str("the Digest challenge does not offer qop=auth"),
            Self::InvalidValue { what } => write!(f, "invalid {what} for an Authorization header"),
            Self::BufferTooSmall { needed } => write!(f, "output buffer too small: {needed} bytes needed"),
            Self::DigestDisabled => f.write_str("Digest authentication needs the `http-digest` feature"),
        }
    }
}

impl core::error::Error for AuthError {}

/// A caller-side error of a protocol client (SCEP and EST alike: `scep::client::ClientError`
/// and `est::client::ClientError` are this type): the call, the buffers or the configuration,
/// never the server's reply (each client has its own outcome for that).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientError {
    /// This call does not fit the client's current step (nothing changed).
    UnexpectedCall,
    /// A buffer is too small.
    BufferTooSmall {
        /// Which one (the field of the client's `Buffers`: `"ca"`, `"own"`, `"work"`, `"io"`).
        buffer: &'static str,
        /// At least this many bytes are needed (0 when unknown).
        needed: usize,
    },
    /// A request could not be encoded (a CSR field the encoder refuses, ...).
    Encode(EncodeError),
    /// The configuration is unusable (which part).
    Config(&'static str),
    /// A key or transport answer handed to the client has the wrong length or form (a
    /// signature, a decrypted key, a channel binding).
    Answer,
    /// A snapshot record (SCEP PENDING) is unreadable.
    Snapshot(DecodeError),
    /// The operation or the configuration needs a Cargo feature this build lacks (its name:
    /// EST's `csrattrs` or `serverkeygen`). Returned before anything is sent.
    FeatureDisabled(&'static str),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedCall => f.write_str("call out of order for the client's current step"),
            Self::BufferTooSmall { buffer, needed } => write!(f, "the `{buffer}` buffer is too small (at least {needed} bytes)"),
            Self::Encode(e) => write!(f, "encoding a request: {e}"),
            Self::Config(what) => write!(f, "unusable configuration: {what}"),
            Self::Answer => f.write_str("a key or transport answer has the wrong length or form"),
            Self::Snapshot(e) => write!(f, "unreadable snapshot: {e}"),
            Self::FeatureDisabled(feature) => write!(f, "the operation or configuration needs the `{feature}` feature, not built in"),
        }
    }
}

impl core::error::Error for ClientError {}
