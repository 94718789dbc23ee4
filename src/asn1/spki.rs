//! `SubjectPublicKeyInfo` (RFC 5280 section 4.1.2.7) and signature verification with the key
//! it holds: RSA (RFC 8017), ECDSA on P-256 and P-384 (RFC 5480).

use super::algorithm::{AlgorithmIdentifierRef, SignatureAlgorithm};
use super::oid;
use super::tlv::{Tlv, tag};
use crate::CryptoError;
use crate::crypto::Digest;
use crate::crypto::rsa::RsaPublicKey;
use crate::error::DecodeError;

/// A borrowed SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpkiRef<'a> {
    der: &'a [u8],
    key: PublicKey<'a>,
}

/// The public key inside a SubjectPublicKeyInfo.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey<'a> {
    /// An RSA key.
    Rsa(RsaPublicKey<'a>),
    /// A P-256 point (SEC1 encoding).
    EcP256(&'a [u8]),
    /// A P-384 point (SEC1 encoding).
    EcP384(&'a [u8]),
}

impl<'a> SpkiRef<'a> {
    /// Parses a DER SubjectPublicKeyInfo (exactly one element).
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_tlv(Tlv::parse_exact(der_bytes)?)
    }

    /// Parses from an element.
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let mut c = t.with_tag(tag::SEQUENCE)?.children();
        let alg = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
        let bits = c.expect_next(tag::BIT_STRING)?.bit_string_octets()?;
        c.finish()?;
        let key = match oid::position(&alg.oid, &[oid::RSA_ENCRYPTION, oid::EC_PUBLIC_KEY]) {
            Some(0) => {
                if !alg.parameters_absent_or_null() {
                    return Err(DecodeError::InvalidValue { what: "rsaEncryption parameters" });
                }
                PublicKey::Rsa(RsaPublicKey::from_pkcs1_der(bits).map_err(|e| match e {
                    CryptoError::UnsupportedKeySize { .. } => DecodeError::Unsupported { what: "RSA key size (2048..=4096 bits)" },
                    _ => DecodeError::InvalidValue { what: "RSA public key" },
                })?)
            }
            Some(_) => {
                let curve = alg.parameters.ok_or(DecodeError::InvalidValue { what: "EC parameters" })?.oid()?;
                match oid::position(&curve, &[oid::SECP256R1, oid::SECP384R1]) {
                    Some(0) => PublicKey::EcP256(bits),
                    Some(_) => PublicKey::EcP384(bits),
                    _ => return Err(DecodeError::Unsupported { what: "elliptic curve" }),
                }
            }
            _ => return Err(DecodeError::Unsupported { what: "public key algorithm" }),
        };
        Ok(Self { der: t.raw, key })
    }

    /// The DER encoding.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }

    /// The key.
    pub fn key(&self) -> PublicKey<'a> {
        self.key
    }

    /// The [`KeyType`](crate::crypto::KeyType) a device key with this public key has (`None`
    /// for P-384, which is verified but never a device key).
    pub fn key_type(&self) -> Option<crate::crypto::KeyType> {
        match self.key {
            PublicKey::Rsa(k) => Some(crate::crypto::KeyType::Rsa { bits: k.bits() }),
            PublicKey::EcP256(_) => Some(crate::crypto::KeyType::EcP256),
            PublicKey::EcP384(_) => None,
        }
    }

    /// Verifies `signature` over `digest` (computed with `alg.hash()`) under this key.
    ///
    /// `signature` is the raw value: the `k`-byte block for RSA, the DER `ECDSA-Sig-Value` for
    /// ECDSA. SHA-1 is refused without `legacy-crypto`, P-384 without `p384`, RSA-PSS whose
    /// hash or MGF1 hash the build lacks (they are hashed here) without `sha1` or `sha512`
    /// ([`CryptoError::UnsupportedAlgorithm`]).
    pub fn verify_digest(&self, alg: SignatureAlgorithm, digest: &Digest, signature: &[u8]) -> Result<(), CryptoError> {
        if digest.algorithm() != alg.hash() {
            return Err(CryptoError::InvalidLength { what: "digest of another algorithm" });
        }
        crate::crypto::rsa::check_signature_hash(alg.hash())?;
        // PSS hashes during verification: refused before the RSA operation when it cannot.
        if let SignatureAlgorithm::RsaPss(p) = alg
            && !(p.hash.is_available() && p.mgf_hash.is_available())
        {
            return Err(CryptoError::UnsupportedAlgorithm);
        }
        match (self.key, alg) {
            (PublicKey::Rsa(k), SignatureAlgorithm::RsaPkcs1v15(h)) => k.verify_pkcs1v15(h, digest.as_bytes(), signature),
            (PublicKey::Rsa(k), SignatureAlgorithm::RsaPss(p)) => k.verify_pss(p, digest.as_bytes(), signature),
            (PublicKey::EcP256(point), SignatureAlgorithm::Ecdsa(_)) => {
                crate::crypto::p256::verify_prehash(point, digest.as_bytes(), signature)
            }
            (PublicKey::EcP384(point), SignatureAlgorithm::Ecdsa(_)) => verify_p384(point, digest.as_bytes(), signature),
            _ => Err(CryptoError::UnsupportedAlgorithm),
        }
    }

    /// Hashes `message` with the scheme's hash and verifies `signature` over it. A hash the
    /// build lacks (SHA-384 and SHA-512 without `sha512`, SHA-1 without `sha1`) is
    /// [`CryptoError::UnsupportedAlgorithm`], as are SHA-1 signatures without `legacy-crypto`.
    pub fn verify_message(&self, alg: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        crate::crypto::rsa::check_signature_hash(alg.hash())?;
        self.verify_digest(alg, &alg.hash().digest(message)?, signature)
    }
}

#[cfg(not(feature = "p384"))]
fn verify_p384(_point: &[u8], _digest: &[u8], _signature_der: &[u8]) -> Result<(), CryptoError> {
    Err(CryptoError::UnsupportedAlgorithm)
}

#[cfg(feature = "p384")]
fn verify_p384(point: &[u8], digest: &[u8], signature_der: &[u8]) -> Result<(), CryptoError> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError::InvalidKey)?;
    let sig = p384::ecdsa::Signature::from_der(signature_der).map_err(|_| CryptoError::SignatureInvalid)?;
    if digest.len() < 20 || digest.len() > 64 {
        return Err(CryptoError::InvalidLength { what: "digest" });
    }
    key.verify_prehash(digest, &sig).map_err(|_| CryptoError::SignatureInvalid)
}
