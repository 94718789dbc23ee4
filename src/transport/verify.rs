//! TLS server authentication with the crate's own X.509 and signature code, for any TLS
//! stack (embedded-tls on devices, rustls on hosts): the certificate chain against a
//! configured trust anchor, the host name, and the handshake signature (TLS 1.3
//! CertificateVerify, TLS 1.2 ServerKeyExchange), with RSA PKCS#1 v1.5 and PSS chains, RSA-PSS
//! and ECDSA P-256 (and P-384 with feature `p384`) handshake signatures; schemes and chains
//! with SHA-384 or SHA-512 need feature `sha512`. No allocation: the leaf's public key is
//! copied into the verifier.
//!
//! A TLS stack may skip a step when the server omits a message (embedded-tls 0.19 finishes a
//! handshake without Certificate/CertificateVerify): the transport must check
//! [`ServerVerifier::is_authenticated`] after the handshake and refuse the connection
//! otherwise.

use crate::asn1::algorithm::SignatureAlgorithm;
use crate::asn1::cert::CertificateRef;
use crate::asn1::path::{self, HostName, Options, Usage, ValidationTime, Validity};
use crate::asn1::spki::SpkiRef;
use crate::crypto::HashAlgorithm;
use crate::crypto::rsa::PssParams;
use crate::error::ChainError;
use crate::time::UnixTime;

/// How the TLS server is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTrust<'a> {
    /// The chain must lead to this certificate (DER): the explicit trust anchor of RFC 7030.
    Anchor(&'a [u8]),
    /// The chain must lead to one of these certificates (DER).
    Anchors(&'a [&'a [u8]]),
    /// Not at all: the EST bootstrap of RFC 7030 section 4.1.1, where only `/cacerts` may be
    /// fetched, and its answer is checked against a fingerprint learnt out of band. The
    /// handshake signature is still checked against the certificate the server sent.
    Unauthenticated,
}

/// Why a server was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VerifyError {
    /// No certificate, or one that does not parse.
    BadCertificate,
    /// The chain does not lead to the anchor (why).
    Chain(ChainError),
    /// The certificate does not name the host.
    HostMismatch,
    /// The handshake signature is invalid.
    BadSignature,
    /// A signature scheme this verifier does not accept (for TLS 1.3: PKCS#1 v1.5 is not
    /// allowed in CertificateVerify).
    UnsupportedScheme,
    /// The host name is longer than 253 bytes.
    HostTooLong,
    /// The host is neither a valid DNS name nor an IP address.
    InvalidHost,
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadCertificate => f.write_str("the server sent no certificate, or one that does not parse"),
            Self::Chain(e) => write!(f, "the server's certificate chain was refused: {e}"),
            Self::HostMismatch => f.write_str("the server's certificate does not name the host connected to"),
            Self::BadSignature => f.write_str("the server's handshake signature is invalid"),
            Self::UnsupportedScheme => f.write_str("the server signed the handshake with a scheme this verifier does not accept"),
            Self::HostTooLong => f.write_str("the host name is longer than 253 bytes"),
            Self::InvalidHost => f.write_str("the host is neither a valid DNS name nor an IP address"),
        }
    }
}

impl core::error::Error for VerifyError {}

/// TLS SignatureScheme code points (RFC 8446 section 4.2.3) this verifier accepts.
pub mod scheme {
    /// rsa_pkcs1_sha256 (TLS 1.2 only)
    pub const RSA_PKCS1_SHA256: u16 = 0x0401;
    /// rsa_pkcs1_sha384 (TLS 1.2 only)
    pub const RSA_PKCS1_SHA384: u16 = 0x0501;
    /// rsa_pkcs1_sha512 (TLS 1.2 only)
    pub const RSA_PKCS1_SHA512: u16 = 0x0601;
    /// ecdsa_secp256r1_sha256
    pub const ECDSA_P256_SHA256: u16 = 0x0403;
    /// ecdsa_secp384r1_sha384
    pub const ECDSA_P384_SHA384: u16 = 0x0503;
    /// rsa_pss_rsae_sha256
    pub const RSA_PSS_RSAE_SHA256: u16 = 0x0804;
    /// rsa_pss_rsae_sha384
    pub const RSA_PSS_RSAE_SHA384: u16 = 0x0805;
    /// rsa_pss_rsae_sha512
    pub const RSA_PSS_RSAE_SHA512: u16 = 0x0806;
    /// Every scheme this build verifies, in order of preference (what a TLS stack that asks
    /// should offer): the SHA-384 and SHA-512 ones only with feature `sha512`.
    #[cfg(feature = "sha512")]
    pub const ALL: &[u16] = &[
        ECDSA_P256_SHA256,
        ECDSA_P384_SHA384,
        RSA_PSS_RSAE_SHA256,
        RSA_PSS_RSAE_SHA384,
        RSA_PSS_RSAE_SHA512,
        RSA_PKCS1_SHA256,
        RSA_PKCS1_SHA384,
        RSA_PKCS1_SHA512,
    ];
    /// Every scheme this build verifies, in order of preference (what a TLS stack that asks
    /// should offer): the SHA-384 and SHA-512 ones only with feature `sha512`.
    #[cfg(not(feature = "sha512"))]
    pub const ALL: &[u16] = &[ECDSA_P256_SHA256, RSA_PSS_RSAE_SHA256, RSA_PKCS1_SHA256];
}

fn algorithm(code: u16, tls13: bool) -> Option<SignatureAlgorithm> {
    let pss = |hash: HashAlgorithm| SignatureAlgorithm::RsaPss(PssParams { hash, mgf_hash: hash, salt_len: hash.output_len() });
    Some(match code {
        scheme::ECDSA_P256_SHA256 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
        scheme::ECDSA_P384_SHA384 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384),
        scheme::RSA_PSS_RSAE_SHA256 => pss(HashAlgorithm::Sha256),
        scheme::RSA_PSS_RSAE_SHA384 => pss(HashAlgorithm::Sha384),
        scheme::RSA_PSS_RSAE_SHA512 => pss(HashAlgorithm::Sha512),
        scheme::RSA_PKCS1_SHA256 if !tls13 => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256),
        scheme::RSA_PKCS1_SHA384 if !tls13 => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha384),
        scheme::RSA_PKCS1_SHA512 if !tls13 => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha512),
        _ => return None,
    })
    // A scheme whose hash the build lacks is not verified (it is not in `scheme::ALL` either).
    .filter(|a| a.hash().is_available())
}

/// The verifier for one TLS connection.
#[derive(Debug, Clone)]
pub struct ServerVerifier<'a> {
    trust: ServerTrust<'a>,
    host: &'a str,
    now: Option<UnixTime>,
    floor: UnixTime,
    max_intermediates: u8,
    leaf_spki: heapless::Vec<u8, 640>,
    chain_ok: Option<Validity>,
    signature_ok: bool,
}

/// Whether `leaf` names `host`. A frame of its own (stack): the parsed host name is not in
/// the chain check's frame, under the signature verifications.
#[inline(never)]
fn host_named(leaf: &CertificateRef<'_>, host: &str) -> Result<(), VerifyError> {
    let host = HostName::parse(host).ok_or(VerifyError::InvalidHost)?;
    if path::names_host(leaf, &host) { Ok(()) } else { Err(VerifyError::HostMismatch) }
}

/// The most certificates of a server's chain the verifier looks at (leaf included); a TLS
/// server that sends more has the rest ignored.
pub const MAX_SERVER_CHAIN: usize = 16;

impl<'a> ServerVerifier<'a> {
    /// A verifier for a connection to `host` (a DNS name, an IPv4 or an IPv6 address),
    /// checking validity at `now` when known, else against [`UnixTime::CRATE_FLOOR`] (see
    /// [`ServerVerifier::with_time_floor`]).
    pub fn new(trust: ServerTrust<'a>, host: &'a str, now: Option<UnixTime>) -> Result<Self, VerifyError> {
        HostName::parse(host).ok_or(if host.len() > 253 { VerifyError::HostTooLong } else { VerifyError::InvalidHost })?;
        Ok(Self {
            trust,
            host,
            now,
            floor: UnixTime::CRATE_FLOOR,
            max_intermediates: path::DEFAULT_MAX_INTERMEDIATES,
            leaf_spki: heapless::Vec::new(),
            chain_ok: None,
            signature_ok: false,
        })
    }

    /// Without trusted time, refuse certificates that expired before `floor` (the firmware's
    /// build date, at least; the default is [`UnixTime::CRATE_FLOOR`]).
    pub fn with_time_floor(mut self, floor: UnixTime) -> Self {
        self.set_time_floor(floor);
        self
    }

    /// [`ServerVerifier::with_time_floor`] on a verifier in place (no move of the verifier,
    /// about 700 bytes).
    pub fn set_time_floor(&mut self, floor: UnixTime) {
        self.floor = floor;
    }

    /// Accept at most this many intermediates on the server's path (default
    /// [`path::DEFAULT_MAX_INTERMEDIATES`], at most [`path::MAX_INTERMEDIATES`]).
    pub fn with_max_intermediates(mut self, max: u8) -> Self {
        self.max_intermediates = max;
        self
    }

    /// Checks the server's certificates (DER, leaf first; the first [`MAX_SERVER_CHAIN`])
    /// with [`path::validate`] for a TLS server ([`Usage::TlsServer`]: serverAuth, not a CA,
    /// no SHA-1) and the host name with [`path::names_host`], and keeps the leaf's key for
    /// the handshake signature.
    pub fn verify_chain<'c>(&mut self, chain: impl Iterator<Item = &'c [u8]>) -> Result<(), VerifyError> {
        self.chain_ok = None;
        let mut chain = chain.take(MAX_SERVER_CHAIN);
        let leaf = CertificateRef::parse(chain.next().ok_or(VerifyError::BadCertificate)?).map_err(|_| VerifyError::BadCertificate)?;
        let mut rest: heapless::Vec<&'c [u8], MAX_SERVER_CHAIN> = heapless::Vec::new();
        for der in chain {
            // Capacity is the `take` bound: a push cannot fail.
            let _ = rest.push(der);
        }
        self.leaf_spki = heapless::Vec::from_slice(leaf.spki().as_der()).map_err(|_| VerifyError::BadCertificate)?;
        let one;
        let anchors: &[&[u8]] = match self.trust {
            ServerTrust::Anchor(anchor) => {
                one = [anchor];
                &one
            }
            ServerTrust::Anchors(anchors) => anchors,
            ServerTrust::Unauthenticated => {
                debug!("tls: the server's chain is not checked (no trust anchor: bootstrap)");
                return Ok(());
            }
        };
        let mut opts = Options::new(Usage::TlsServer, ValidationTime::new(self.now, self.floor));
        opts.max_intermediates = self.max_intermediates;
        let valid = path::validate(&leaf, rest.as_slice(), anchors, &opts).map_err(VerifyError::Chain)?;
        host_named(&leaf, self.host)?;
        debug!("tls: the server's chain leads to the anchor and names {} ({})", self.host, crate::fmt::Dbg(valid.validity));
        self.chain_ok = Some(valid.validity);
        Ok(())
    }

    /// After an accepted chain: whether validity was checked against trusted time or only
    /// against the floor ([`Validity::FloorOnly`]: no trusted time).
    pub fn validity(&self) -> Option<Validity> {
        self.chain_ok
    }

    /// Takes the leaf's key from `leaf` (DER) without checking any chain (for TLS stacks that
    /// hand the certificate again with the handshake signature).
    pub fn set_leaf(&mut self, leaf: &[u8]) -> Result<(), VerifyError> {
        let c = CertificateRef::parse(leaf).map_err(|_| VerifyError::BadCertificate)?;
        self.leaf_spki = heapless::Vec::from_slice(c.spki().as_der()).map_err(|_| VerifyError::BadCertificate)?;
        Ok(())
    }

    /// Checks a TLS 1.3 CertificateVerify: `signature` (as sent: DER for ECDSA) by the leaf
    /// key under `scheme`, over the transcript hash.
    pub fn verify_tls13(&mut self, scheme: u16, signature: &[u8], transcript_hash: &[u8]) -> Result<(), VerifyError> {
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\0";
        let mut msg = [0x20u8; 64 + 34 + 64];
        let len = 64 + CONTEXT.len() + transcript_hash.len();
        msg.get_mut(64..64 + CONTEXT.len()).ok_or(VerifyError::BadSignature)?.copy_from_slice(CONTEXT);
        msg.get_mut(64 + CONTEXT.len()..len).ok_or(VerifyError::BadSignature)?.copy_from_slice(transcript_hash);
        self.verify_signed(scheme, msg.get(..len).unwrap_or(&[]), signature, true)
    }

    /// Checks a handshake signature over the whole `message` (TLS 1.2 ServerKeyExchange, or
    /// a TLS 1.3 CertificateVerify message a TLS stack assembled itself).
    pub fn verify_signed(&mut self, scheme: u16, message: &[u8], signature: &[u8], tls13: bool) -> Result<(), VerifyError> {
        self.signature_ok = false;
        let alg = algorithm(scheme, tls13).ok_or(VerifyError::UnsupportedScheme)?;
        let spki = SpkiRef::parse(&self.leaf_spki).map_err(|_| VerifyError::BadCertificate)?;
        // The scheme must fit the key (an ECDSA scheme names its curve).
        let fits = matches!(
            (spki.key(), scheme),
            (crate::asn1::spki::PublicKey::Rsa(_), _) if scheme >= 0x0800 || scheme & 0xff == 0x01
        ) || matches!((spki.key(), scheme), (crate::asn1::spki::PublicKey::EcP256(_), scheme::ECDSA_P256_SHA256))
            || matches!((spki.key(), scheme), (crate::asn1::spki::PublicKey::EcP384(_), scheme::ECDSA_P384_SHA384));
        if !fits {
            return Err(VerifyError::UnsupportedScheme);
        }
        spki.verify_message(alg, message, signature).map_err(|_| VerifyError::BadSignature)?;
        debug!("tls: the server's handshake signature checks out (scheme {})", scheme);
        self.signature_ok = true;
        Ok(())
    }

    /// Whether the server proved to be the one the trust configuration names: its chain
    /// checked out against the anchor, for this host, and it signed the handshake with the
    /// leaf's key. Always false for [`ServerTrust::Unauthenticated`].
    pub fn is_authenticated(&self) -> bool {
        self.chain_ok.is_some() && self.signature_ok
    }

    /// Whether the handshake signature checked out (whatever the trust).
    pub fn signature_verified(&self) -> bool {
        self.signature_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_up_front() {
        assert!(ServerVerifier::new(ServerTrust::Unauthenticated, "localhost", None).is_ok());
        assert!(ServerVerifier::new(ServerTrust::Unauthenticated, "::1", None).is_ok());
        assert_eq!(ServerVerifier::new(ServerTrust::Unauthenticated, "foo_bar.example", None).err(), Some(VerifyError::InvalidHost));
    }

    #[test]
    fn pkcs1_is_refused_in_tls13_and_unknown_schemes_everywhere() {
        assert!(algorithm(scheme::RSA_PKCS1_SHA256, true).is_none());
        assert!(algorithm(scheme::RSA_PKCS1_SHA256, false).is_some());
        assert!(algorithm(0x0807, false).is_none(), "ed25519 is not accepted");
        for s in scheme::ALL {
            assert!(algorithm(*s, false).is_some());
        }
    }

    /// Without `sha512` the SHA-384 and SHA-512 schemes are neither offered nor accepted:
    /// the handshake signature is refused as an unsupported scheme before any key operation.
    #[test]
    fn sha384_and_sha512_schemes_need_the_sha512_feature() {
        let big = [
            scheme::ECDSA_P384_SHA384,
            scheme::RSA_PSS_RSAE_SHA384,
            scheme::RSA_PSS_RSAE_SHA512,
            scheme::RSA_PKCS1_SHA384,
            scheme::RSA_PKCS1_SHA512,
        ];
        for s in big {
            assert_eq!(algorithm(s, false).is_some(), cfg!(feature = "sha512"), "{s:#06x}");
            assert_eq!(scheme::ALL.contains(&s), cfg!(feature = "sha512"), "{s:#06x}");
        }
        if !cfg!(feature = "sha512") {
            let mut v = ServerVerifier::new(ServerTrust::Unauthenticated, "localhost", None).unwrap();
            assert_eq!(v.verify_tls13(scheme::RSA_PSS_RSAE_SHA512, &[0; 256], &[0; 32]), Err(VerifyError::UnsupportedScheme));
        }
    }

    #[test]
    fn no_chain_no_authentication() {
        let mut v = ServerVerifier::new(ServerTrust::Unauthenticated, "localhost", None).unwrap();
        assert_eq!(v.verify_chain(core::iter::empty()), Err(VerifyError::BadCertificate));
        assert_eq!(v.verify_tls13(scheme::ECDSA_P256_SHA256, &[0x30, 0], &[0; 32]), Err(VerifyError::BadCertificate));
        assert!(!v.is_authenticated());
    }
}
