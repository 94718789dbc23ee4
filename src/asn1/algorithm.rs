//! `AlgorithmIdentifier` (RFC 5280 section 4.1.1.2) and the signature schemes it names.

use super::oid;
use super::tlv::{Tlv, tag};
use crate::crypto::HashAlgorithm;
use crate::crypto::rsa::PssParams;
use crate::error::DecodeError;
use der::asn1::ObjectIdentifier;

/// `AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmIdentifierRef<'a> {
    /// The algorithm.
    pub oid: ObjectIdentifier,
    /// The parameters element, if present (NULL counts as present).
    pub parameters: Option<Tlv<'a>>,
}

impl<'a> AlgorithmIdentifierRef<'a> {
    /// Parses from an element.
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let mut c = t.with_tag(tag::SEQUENCE)?.children();
        let oid = c.expect_next(tag::OID)?.oid()?;
        let parameters = if c.is_empty() { None } else { Some(c.next_any()?) };
        c.finish()?;
        Ok(Self { oid, parameters })
    }

    /// Whether the parameters are absent or NULL (what most algorithms require).
    pub fn parameters_absent_or_null(&self) -> bool {
        self.parameters.is_none_or(|p| p.tag == tag::NULL && p.value.is_empty())
    }
}

/// The hash algorithm an OID names (id-sha1, id-sha256, ...).
pub fn hash_from_oid(o: &ObjectIdentifier) -> Option<HashAlgorithm> {
    oid::position(o, &[oid::SHA1, oid::SHA256, oid::SHA384, oid::SHA512]).map(hash_at)
}

/// The hash at `i` (modulo 4) of the order SHA-1, SHA-256, SHA-384, SHA-512 the OID tables
/// here use.
fn hash_at(i: usize) -> HashAlgorithm {
    match i % 4 {
        0 => HashAlgorithm::Sha1,
        1 => HashAlgorithm::Sha256,
        2 => HashAlgorithm::Sha384,
        _ => HashAlgorithm::Sha512,
    }
}

/// The signature algorithm OIDs [`SignatureAlgorithm::from_identifier`] knows: PKCS#1 v1.5
/// with SHA-1/256/384/512, ECDSA with the same, then rsaEncryption and RSASSA-PSS.
const SIGNATURE_OIDS: [ObjectIdentifier; 10] = [
    oid::SHA1_WITH_RSA,
    oid::SHA256_WITH_RSA,
    oid::SHA384_WITH_RSA,
    oid::SHA512_WITH_RSA,
    oid::ECDSA_WITH_SHA1,
    oid::ECDSA_WITH_SHA256,
    oid::ECDSA_WITH_SHA384,
    oid::ECDSA_WITH_SHA512,
    oid::RSA_ENCRYPTION,
    oid::RSASSA_PSS,
];

/// The OID of a hash algorithm.
pub fn hash_oid(h: HashAlgorithm) -> ObjectIdentifier {
    match h {
        HashAlgorithm::Sha1 => oid::SHA1,
        HashAlgorithm::Sha256 => oid::SHA256,
        HashAlgorithm::Sha384 => oid::SHA384,
        HashAlgorithm::Sha512 => oid::SHA512,
    }
}

/// A signature scheme with its hash.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15(HashAlgorithm),
    /// RSASSA-PSS.
    RsaPss(PssParams),
    /// ECDSA (P-256 or P-384 by the key).
    Ecdsa(HashAlgorithm),
}

impl SignatureAlgorithm {
    /// The message hash.
    pub fn hash(&self) -> HashAlgorithm {
        match self {
            Self::RsaPkcs1v15(h) | Self::Ecdsa(h) => *h,
            Self::RsaPss(p) => p.hash,
        }
    }

    /// Reads a signature algorithm identifier. `digest` is the separately stated digest
    /// algorithm (CMS SignerInfo), needed when the identifier is plain `rsaEncryption`, as
    /// several SCEP implementations send it; it must agree with a hash named by the identifier.
    pub fn from_identifier(alg: &AlgorithmIdentifierRef<'_>, digest: Option<HashAlgorithm>) -> Result<Self, DecodeError> {
        let rsa = |h: HashAlgorithm| -> Result<Self, DecodeError> {
            if !alg.parameters_absent_or_null() {
                return Err(DecodeError::InvalidValue { what: "RSA signature parameters" });
            }
            match digest {
                Some(d) if d != h => Err(DecodeError::InvalidValue { what: "digest algorithm disagrees with signature algorithm" }),
                _ => Ok(Self::RsaPkcs1v15(h)),
            }
        };
        let ecdsa = |h: HashAlgorithm| -> Result<Self, DecodeError> {
            // RFC 5758: the parameters field MUST be absent.
            if alg.parameters.is_some() {
                return Err(DecodeError::InvalidValue { what: "ECDSA signature parameters" });
            }
            match digest {
                Some(d) if d != h => Err(DecodeError::InvalidValue { what: "digest algorithm disagrees with signature algorithm" }),
                _ => Ok(Self::Ecdsa(h)),
            }
        };
        match oid::position(&alg.oid, &SIGNATURE_OIDS) {
            Some(i @ 0..=3) => rsa(hash_at(i)),
            Some(i @ 4..=7) => ecdsa(hash_at(i)),
            Some(8) => rsa(digest.ok_or(DecodeError::InvalidValue { what: "rsaEncryption signature without a digest algorithm" })?),
            Some(9) => {
                let params = parse_pss_params(alg.parameters)?;
                match digest {
                    Some(d) if d != params.hash => Err(DecodeError::InvalidValue { what: "digest algorithm disagrees with PSS hash" }),
                    _ => Ok(Self::RsaPss(params)),
                }
            }
            _ => Err(DecodeError::Unsupported { what: "signature algorithm" }),
        }
    }
}

/// `RSASSA-PSS-params` (RFC 8017 appendix A.2.3), with its SHA-1 defaults.
fn parse_pss_params(params: Option<Tlv<'_>>) -> Result<PssParams, DecodeError> {
    let mut p = PssParams { hash: HashAlgorithm::Sha1, mgf_hash: HashAlgorithm::Sha1, salt_len: 20 };
    let Some(params) = params else { return Err(DecodeError::InvalidValue { what: "RSASSA-PSS parameters" }) };
    let mut c = params.with_tag(tag::SEQUENCE)?.children();
    if let Some(h) = c.optional(tag::context(0))? {
        let a = AlgorithmIdentifierRef::from_tlv(Tlv::parse_exact(h.value)?)?;
        p.hash = hash_from_oid(&a.oid).ok_or(DecodeError::Unsupported { what: "PSS hash" })?;
        p.mgf_hash = p.hash;
    } else {
        p.mgf_hash = HashAlgorithm::Sha1;
    }
    if let Some(m) = c.optional(tag::context(1))? {
        let a = AlgorithmIdentifierRef::from_tlv(Tlv::parse_exact(m.value)?)?;
        if !oid::same(&a.oid, &oid::MGF1) {
            return Err(DecodeError::Unsupported { what: "PSS mask generation function" });
        }
        let inner = AlgorithmIdentifierRef::from_tlv(a.parameters.ok_or(DecodeError::InvalidValue { what: "MGF1 parameters" })?)?;
        p.mgf_hash = hash_from_oid(&inner.oid).ok_or(DecodeError::Unsupported { what: "MGF1 hash" })?;
    } else {
        p.mgf_hash = HashAlgorithm::Sha1;
    }
    if let Some(s) = c.optional(tag::context(2))? {
        p.salt_len = usize::try_from(Tlv::parse_exact(s.value)?.small_integer()?)
            .map_err(|_| DecodeError::InvalidValue { what: "PSS salt length" })?;
    }
    if let Some(t) = c.optional(tag::context(3))?
        && Tlv::parse_exact(t.value)?.small_integer()? != 1
    {
        return Err(DecodeError::Unsupported { what: "PSS trailer field" });
    }
    c.finish()?;
    Ok(p)
}

/// Reads a `DigestAlgorithmIdentifier` (parameters absent or NULL).
pub fn digest_algorithm(t: Tlv<'_>) -> Result<HashAlgorithm, DecodeError> {
    let a = AlgorithmIdentifierRef::from_tlv(t)?;
    if !a.parameters_absent_or_null() {
        return Err(DecodeError::InvalidValue { what: "digest algorithm parameters" });
    }
    hash_from_oid(&a.oid).ok_or(DecodeError::Unsupported { what: "digest algorithm" })
}
