//! TLS server authentication with the crate's own X.509 and signature code, for any TLS
//! stack (embedded-tls on devices, rustls on hosts): the certificate chain against a
//! configured trust anchor, the host name, and the handshake signature (TLS 1.3
//! CertificateVerify, TLS 1.2 ServerKeyExchange), with RSA PKCS#1 v1.5 and PSS chains, RSA-PSS
//! and ECDSA P-256 (and P-384 with feature `p384`) handshake signatures. No allocation: the
//! leaf's public key is copied into the verifier.
//!
//! A TLS stack may skip a step when the server omits a message (embedded-tls 0.19 finishes a
//! handshake without Certificate/CertificateVerify): the transport must check
//! [`ServerVerifier::is_authenticated`] after the handshake and refuse the connection
//! otherwise.

use crate::asn1::algorithm::SignatureAlgorithm;
use crate::asn1::cert::{CertificateRef, GeneralName};
use crate::asn1::chain;
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
}

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
    /// Every scheme, in order of preference.
    pub const ALL: [u16; 8] = [
        ECDSA_P256_SHA256,
        ECDSA_P384_SHA384,
        RSA_PSS_RSAE_SHA256,
        RSA_PSS_RSAE_SHA384,
        RSA_PSS_RSAE_SHA512,
        RSA_PKCS1_SHA256,
        RSA_PKCS1_SHA384,
        RSA_PKCS1_SHA512,
    ];
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
}

/// The verifier for one TLS connection.
#[derive(Debug, Clone)]
pub struct ServerVerifier<'a> {
    trust: ServerTrust<'a>,
    host: heapless::String<253>,
    now: Option<UnixTime>,
    leaf_spki: heapless::Vec<u8, 640>,
    chain_ok: bool,
    signature_ok: bool,
}

impl<'a> ServerVerifier<'a> {
    /// A verifier for a connection to `host` (a DNS name or an IPv4 address), checking
    /// validity at `now` when known.
    pub fn new(trust: ServerTrust<'a>, host: &str, now: Option<UnixTime>) -> Result<Self, VerifyError> {
        let host = heapless::String::try_from(host).map_err(|_| VerifyError::HostTooLong)?;
        Ok(Self { trust, host, now, leaf_spki: heapless::Vec::new(), chain_ok: false, signature_ok: false })
    }

    /// Checks the server's certificates (DER, leaf first) and keeps the leaf's key for the
    /// handshake signature.
    pub fn verify_chain<'c>(&mut self, chain: impl Iterator<Item = &'c [u8]>) -> Result<(), VerifyError> {
        self.chain_ok = false;
        let mut certs: heapless::Vec<CertificateRef<'c>, 8> = heapless::Vec::new();
        for der in chain {
            let c = CertificateRef::parse(der).map_err(|_| VerifyError::BadCertificate)?;
            certs.push(c).map_err(|_| VerifyError::Chain(ChainError::IssuerNotFound { depth: 8 }))?;
        }
        let (leaf, rest) = certs.split_first().ok_or(VerifyError::BadCertificate)?;
        self.leaf_spki = heapless::Vec::from_slice(leaf.spki().as_der()).map_err(|_| VerifyError::BadCertificate)?;
        match self.trust {
            ServerTrust::Anchor(anchor) => {
                let anchor = CertificateRef::parse(anchor).map_err(|_| VerifyError::BadCertificate)?;
                chain::verify_chain(leaf, rest, &anchor, self.now).map_err(VerifyError::Chain)?;
                if !names_host(leaf, &self.host) {
                    return Err(VerifyError::HostMismatch);
                }
                self.chain_ok = true;
            }
            ServerTrust::Unauthenticated => {}
        }
        Ok(())
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
        self.signature_ok = true;
        Ok(())
    }

    /// Whether the server proved to be the one the trust configuration names: its chain
    /// checked out against the anchor, for this host, and it signed the handshake with the
    /// leaf's key. Always false for [`ServerTrust::Unauthenticated`].
    pub fn is_authenticated(&self) -> bool {
        self.chain_ok && self.signature_ok
    }

    /// Whether the handshake signature checked out (whatever the trust).
    pub fn signature_verified(&self) -> bool {
        self.signature_ok
    }
}

/// Whether `cert` names `host`: an IPv4 address against iPAddress entries, a DNS name against
/// dNSName entries (case-insensitive, `*` as the whole leftmost label), the common name only
/// when there is no subjectAltName at all.
fn names_host(cert: &CertificateRef<'_>, host: &str) -> bool {
    if let Some(ip) = parse_ipv4(host) {
        return cert.subject_alt_names().any(|n| matches!(n, GeneralName::Ip(a) if a == ip));
    }
    let mut any_san = false;
    for n in cert.subject_alt_names() {
        any_san = true;
        if let GeneralName::Dns(pattern) = n
            && dns_matches(pattern, host)
        {
            return true;
        }
    }
    !any_san && cert.subject().common_name().is_some_and(|cn| dns_matches(cn, host))
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => host.split_once('.').is_some_and(|(first, tail)| !first.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *b = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert!(dns_matches("localhost", "LOCALHOST"));
        assert!(dns_matches("*.example.com", "est.example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("est.example.com", "est.example.org"));
        assert_eq!(parse_ipv4("127.0.0.1"), Some([127, 0, 0, 1]));
        assert_eq!(parse_ipv4("127.0.0"), None);
        assert_eq!(parse_ipv4("127.0.0.1.5"), None);
        assert_eq!(parse_ipv4("256.0.0.1"), None);
        assert_eq!(parse_ipv4("localhost"), None);
    }

    #[test]
    fn pkcs1_is_refused_in_tls13_and_unknown_schemes_everywhere() {
        assert!(algorithm(scheme::RSA_PKCS1_SHA256, true).is_none());
        assert!(algorithm(scheme::RSA_PKCS1_SHA256, false).is_some());
        assert!(algorithm(0x0807, false).is_none(), "ed25519 is not accepted");
        for s in scheme::ALL {
            assert!(algorithm(s, false).is_some());
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
