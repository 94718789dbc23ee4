//! GetCACaps (RFC 8894 section 3.5.2) and the choice of algorithms it leads to.
//!
//! The reply is a list of keywords, one per line; real servers also separate them with
//! spaces (micromdm: `Renewal SHA-1 SHA-256 AES DES3 SCEPStandard POSTPKIOperation`, no
//! newline). Matching is case-insensitive, unknown keywords are ignored, and an empty or
//! failed reply means no capabilities.

use crate::crypto::HashAlgorithm;
use crate::crypto::cbc::CbcCipher;
use crate::error::ScepError;

/// One GetCACaps keyword.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Capability {
    /// `AES`: AES-128-CBC content encryption (RFC 8894 allows any AES key size).
    Aes,
    /// `DES3`: triple-DES content encryption.
    Des3,
    /// `GetNextCACert`: CA rollover support.
    GetNextCaCert,
    /// `POSTPKIOperation`: PKIOperation by HTTP POST.
    PostPkiOperation,
    /// `Renewal`: RenewalReq.
    Renewal,
    /// `SHA-1`
    Sha1,
    /// `SHA-256`
    Sha256,
    /// `SHA-512`
    Sha512,
    /// `SCEPStandard`: AES, POSTPKIOperation and SHA-256 at least (RFC 8894 section 3.5.2).
    ScepStandard,
}

impl Capability {
    const ALL: [(Capability, &'static str); 9] = [
        (Capability::Aes, "AES"),
        (Capability::Des3, "DES3"),
        (Capability::GetNextCaCert, "GetNextCACert"),
        (Capability::PostPkiOperation, "POSTPKIOperation"),
        (Capability::Renewal, "Renewal"),
        (Capability::Sha1, "SHA-1"),
        (Capability::Sha256, "SHA-256"),
        (Capability::Sha512, "SHA-512"),
        (Capability::ScepStandard, "SCEPStandard"),
    ];

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The keyword as RFC 8894 spells it.
    pub fn keyword(self) -> &'static str {
        Self::ALL.iter().find(|(c, _)| *c == self).map(|(_, k)| *k).unwrap_or("")
    }
}

/// The capabilities a server announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CaCaps {
    bits: u16,
}

impl CaCaps {
    /// No capabilities (an empty or failed GetCACaps).
    pub const NONE: Self = Self { bits: 0 };

    /// Parses a GetCACaps reply body.
    pub fn parse(body: &[u8]) -> Self {
        let mut bits = 0;
        for token in body.split(|b| b.is_ascii_whitespace() || *b == b',' || *b == 0) {
            if let Some((cap, _)) = Capability::ALL.iter().find(|(_, k)| k.as_bytes().eq_ignore_ascii_case(token)) {
                bits |= cap.bit();
            }
        }
        Self { bits }
    }

    /// Whether the server announced `cap` (SCEPStandard implies AES, POSTPKIOperation and
    /// SHA-256).
    pub fn has(&self, cap: Capability) -> bool {
        let implied = matches!(cap, Capability::Aes | Capability::PostPkiOperation | Capability::Sha256)
            && self.bits & Capability::ScepStandard.bit() != 0;
        self.bits & cap.bit() != 0 || implied
    }

    /// Chooses the algorithms for a PKIOperation under `policy`: AES (the policy's key size),
    /// SHA-256 (or SHA-512 if that is all and the build has feature `sha512`), POST; 3DES,
    /// SHA-1 and GET only when the server offers nothing better and the policy (with
    /// `legacy-crypto`) allows them. DES and MD5 are never chosen.
    pub fn choose(&self, policy: &AlgorithmPolicy) -> Result<AlgorithmChoice, ScepError> {
        let legacy = cfg!(feature = "legacy-crypto") && policy.allow_legacy;
        let cipher = if self.has(Capability::Aes) {
            policy.aes
        } else if legacy && (self.has(Capability::Des3) || self.bits == 0) {
            // RFC 8894 section 3.5.2: with no capabilities a client falls back; 3DES is the
            // strongest legacy cipher and single DES is never sent.
            CbcCipher::DesEde3
        } else {
            return Err(ScepError::NoAcceptableCipher);
        };
        let hash = if self.has(Capability::Sha256) {
            HashAlgorithm::Sha256
        } else if HashAlgorithm::Sha512.is_available() && self.has(Capability::Sha512) {
            HashAlgorithm::Sha512
        } else if legacy && (self.has(Capability::Sha1) || self.bits == 0) {
            HashAlgorithm::Sha1
        } else {
            return Err(ScepError::NoAcceptableDigest);
        };
        Ok(AlgorithmChoice { cipher, hash, post: self.has(Capability::PostPkiOperation) && !policy.force_get })
    }
}

impl core::fmt::Display for CaCaps {
    /// The keywords announced, as RFC 8894 spells them, separated by spaces (`none` for none).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut any = false;
        for (_, keyword) in Capability::ALL.iter().filter(|(c, _)| self.bits & c.bit() != 0) {
            if any {
                f.write_str(" ")?;
            }
            f.write_str(keyword)?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What the client may use.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlgorithmPolicy {
    /// The AES key size to send when the server offers AES (AES-128 by default).
    pub aes: CbcCipher,
    /// Allow 3DES and SHA-1 when the server offers nothing better (needs `legacy-crypto`), in
    /// requests and in replies alike: without it a reply encrypted with 3DES or DES, or signed
    /// with SHA-1, is refused ([`ReplyError::AlgorithmNotAllowed`](crate::scep::client::ReplyError)).
    /// What an unauthenticated GetCACaps says never widens this.
    pub allow_legacy: bool,
    /// Also accept replies encrypted with single DES (56-bit keys; micromdm `scepserver` sends
    /// them whatever the request used). Off by default: set it, for the servers that need it,
    /// with [`AlgorithmPolicy::with_single_des`]. Requests never use DES. Needs `allow_legacy`.
    pub allow_single_des: bool,
    /// Send PKIOperation by GET even when the server offers POST (for servers, or proxies in
    /// front of them, whose POST is broken).
    pub force_get: bool,
}

impl Default for AlgorithmPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl AlgorithmPolicy {
    /// The default: AES-128, SHA-256; 3DES and SHA-1 as fallbacks only with the
    /// `legacy-crypto` feature; no single DES.
    pub const DEFAULT: Self =
        Self { aes: CbcCipher::Aes128, allow_legacy: cfg!(feature = "legacy-crypto"), allow_single_des: false, force_get: false };

    /// These settings with single DES replies accepted (see [`AlgorithmPolicy::with_single_des`]), in a `const`.
    pub const fn const_with_single_des(mut self) -> Self {
        self.allow_single_des = true;
        self
    }

    /// AES-256 instead of AES-128.
    pub fn with_aes256(mut self) -> Self {
        self.aes = CbcCipher::Aes256;
        self
    }

    /// Never fall back to 3DES or SHA-1 (nor accept DES).
    pub fn without_legacy(mut self) -> Self {
        self.allow_legacy = false;
        self.allow_single_des = false;
        self
    }

    /// Accept replies encrypted with single DES from this server (micromdm needs it); implies
    /// `allow_legacy` when the `legacy-crypto` feature is on. Without the feature DES cannot be
    /// decrypted at all.
    pub fn with_single_des(mut self) -> Self {
        self.allow_single_des = true;
        self.allow_legacy = cfg!(feature = "legacy-crypto");
        self
    }

    /// Whether a reply's content encryption is acceptable under this policy.
    pub fn accepts_reply_cipher(&self, cipher: CbcCipher) -> bool {
        match cipher {
            CbcCipher::Des => self.allow_legacy && self.allow_single_des,
            CbcCipher::DesEde3 => self.allow_legacy,
            _ => true,
        }
    }

    /// Whether a reply signed with `hash` is acceptable under this policy.
    pub fn accepts_reply_hash(&self, hash: HashAlgorithm) -> bool {
        hash != HashAlgorithm::Sha1 || self.allow_legacy
    }

    /// PKIOperation by GET whatever the server offers.
    pub fn with_get(mut self) -> Self {
        self.force_get = true;
        self
    }
}

/// The algorithms chosen for a PKIOperation; visible to the caller before any request is
/// built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AlgorithmChoice {
    /// Content encryption of the pkcsPKIEnvelope.
    pub cipher: CbcCipher,
    /// Digest of the signature.
    pub hash: HashAlgorithm,
    /// PKIOperation by POST (else GET).
    pub post: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micromdm_caps_line_parses_and_prefers_aes_sha256_post() {
        // Captured from micromdm scepserver 2.1.0 (tests/vectors/scep/.../GetCACaps-response.txt).
        let caps = CaCaps::parse(b"Renewal SHA-1 SHA-256 AES DES3 SCEPStandard POSTPKIOperation");
        for c in [
            Capability::Renewal,
            Capability::Sha1,
            Capability::Sha256,
            Capability::Aes,
            Capability::Des3,
            Capability::ScepStandard,
            Capability::PostPkiOperation,
        ] {
            assert!(caps.has(c), "{c:?}");
        }
        assert!(!caps.has(Capability::GetNextCaCert));
        let choice = caps.choose(&AlgorithmPolicy::default()).unwrap();
        assert_eq!(choice, AlgorithmChoice { cipher: CbcCipher::Aes128, hash: HashAlgorithm::Sha256, post: true });
        assert_eq!(caps.choose(&AlgorithmPolicy::default().with_aes256()).unwrap().cipher, CbcCipher::Aes256);
    }

    #[test]
    fn keywords_are_case_insensitive_and_separated_by_any_whitespace() {
        let caps = CaCaps::parse(b"aes\r\nsha-512\nPostPkiOperation\r\nUnknownThing\tgetnextcacert\0");
        assert!(
            caps.has(Capability::Aes)
                && caps.has(Capability::Sha512)
                && caps.has(Capability::PostPkiOperation)
                && caps.has(Capability::GetNextCaCert)
        );
        // A SHA-512-only server: chosen with `sha512`, else no digest this build can make.
        if cfg!(feature = "sha512") {
            assert_eq!(caps.choose(&AlgorithmPolicy::default()).unwrap().hash, HashAlgorithm::Sha512);
        } else {
            assert_eq!(caps.choose(&AlgorithmPolicy::default()), Err(ScepError::NoAcceptableDigest));
        }
        assert_eq!(CaCaps::parse(b""), CaCaps::NONE);
        assert_eq!(CaCaps::parse(b"<html>500 Internal Server Error</html>"), CaCaps::NONE);
    }

    #[test]
    fn scep_standard_implies_aes_post_sha256() {
        let caps = CaCaps::parse(b"SCEPStandard");
        assert_eq!(
            caps.choose(&AlgorithmPolicy::default().without_legacy()).unwrap(),
            AlgorithmChoice { cipher: CbcCipher::Aes128, hash: HashAlgorithm::Sha256, post: true }
        );
    }

    #[test]
    fn legacy_only_servers_need_legacy_crypto_and_never_get_des() {
        let old = CaCaps::parse(b"DES3\nSHA-1");
        assert_eq!(old.choose(&AlgorithmPolicy::default().without_legacy()), Err(ScepError::NoAcceptableCipher));
        let aes_sha1 = CaCaps::parse(b"AES\nSHA-1");
        assert_eq!(aes_sha1.choose(&AlgorithmPolicy::default().without_legacy()), Err(ScepError::NoAcceptableDigest));
        if cfg!(feature = "legacy-crypto") {
            assert_eq!(
                old.choose(&AlgorithmPolicy::default()).unwrap(),
                AlgorithmChoice { cipher: CbcCipher::DesEde3, hash: HashAlgorithm::Sha1, post: false }
            );
            assert_eq!(CaCaps::NONE.choose(&AlgorithmPolicy::default()).unwrap().cipher, CbcCipher::DesEde3);
        } else {
            assert_eq!(old.choose(&AlgorithmPolicy::default()), Err(ScepError::NoAcceptableCipher));
        }
        // A server offering only DES (no DES3, no AES) gets nothing from us.
        assert_eq!(CaCaps::parse(b"SHA-256").choose(&AlgorithmPolicy::default().without_legacy()), Err(ScepError::NoAcceptableCipher));
    }
}
