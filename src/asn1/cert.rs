//! A borrowed view of an X.509 v1/v3 certificate (RFC 5280 section 4.1):
//!
//! ```text
//! Certificate  ::=  SEQUENCE  {
//!      tbsCertificate       TBSCertificate,
//!      signatureAlgorithm   AlgorithmIdentifier,
//!      signatureValue       BIT STRING  }
//! TBSCertificate  ::=  SEQUENCE  {
//!      version         [0]  EXPLICIT Version DEFAULT v1,
//!      serialNumber         CertificateSerialNumber,
//!      signature            AlgorithmIdentifier,
//!      issuer               Name,
//!      validity             Validity,
//!      subject              Name,
//!      subjectPublicKeyInfo SubjectPublicKeyInfo,
//!      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
//!      extensions      [3]  EXPLICIT Extensions OPTIONAL }
//! ```
//!
//! Parsing checks the whole structure (DER, every extension well-formed, no duplicate
//! extension), so the getters cannot fail later.

#![deny(clippy::arithmetic_side_effects)]

use super::algorithm::{AlgorithmIdentifierRef, SignatureAlgorithm};
use super::name::NameRef;
use super::oid;
use super::spki::SpkiRef;
use super::tlv::{Cursor, Tlv, tag};
use crate::CryptoError;
use crate::crypto::Digest;
use crate::error::DecodeError;
use crate::time::UnixTime;
use der::asn1::ObjectIdentifier;

/// A parsed certificate, borrowing the DER it came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertificateRef<'a> {
    der: &'a [u8],
    tbs: &'a [u8],
    version: u8,
    serial: &'a [u8],
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    issuer: NameRef<'a>,
    not_before: UnixTime,
    not_after: UnixTime,
    subject: NameRef<'a>,
    spki: SpkiRef<'a>,
    extensions: &'a [u8],
    signature: &'a [u8],
}

/// One `Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionRef<'a> {
    /// The extension type.
    pub oid: ObjectIdentifier,
    /// Whether it is marked critical.
    pub critical: bool,
    /// The contents of `extnValue` (a DER encoding of the extension's type).
    pub value: &'a [u8],
}

/// `BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BasicConstraints {
    /// Whether the subject is a CA.
    pub ca: bool,
    /// The path length constraint.
    pub path_len: Option<u32>,
}

/// `KeyUsage ::= BIT STRING` (RFC 5280 section 4.2.1.3), bit `n` of the value is named bit `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeyUsage(pub u16);

impl KeyUsage {
    /// digitalSignature (0)
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    /// nonRepudiation / contentCommitment (1)
    pub const NON_REPUDIATION: u16 = 1 << 1;
    /// keyEncipherment (2)
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    /// dataEncipherment (3)
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    /// keyAgreement (4)
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    /// keyCertSign (5)
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    /// cRLSign (6)
    pub const CRL_SIGN: u16 = 1 << 6;

    /// Whether every bit of `bits` is set.
    pub const fn contains(self, bits: u16) -> bool {
        self.0 & bits == bits
    }
}

/// A `GeneralName` of a subjectAltName (RFC 5280 section 4.2.1.6).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneralName<'a> {
    /// rfc822Name `[1]`
    Email(&'a str),
    /// dNSName `[2]`
    Dns(&'a str),
    /// uniformResourceIdentifier `[6]`
    Uri(&'a str),
    /// iPAddress `[7]`: 4 bytes (IPv4) or 16 (IPv6)
    Ip(&'a [u8]),
    /// Any other form, as its element.
    Other(Tlv<'a>),
}

/// Extensions this crate understands; any other one marked critical makes path validation
/// refuse the certificate (RFC 5280 section 4.2).
const KNOWN_EXTENSIONS: [ObjectIdentifier; 7] = [
    oid::BASIC_CONSTRAINTS,
    oid::KEY_USAGE,
    oid::EXT_KEY_USAGE,
    oid::SUBJECT_ALT_NAME,
    oid::SUBJECT_KEY_IDENTIFIER,
    oid::AUTHORITY_KEY_IDENTIFIER,
    oid::NAME_CONSTRAINTS,
];

impl<'a> CertificateRef<'a> {
    /// Parses one DER certificate; `der_bytes` must hold exactly one.
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_tlv(Tlv::parse_exact(der_bytes)?)
    }

    /// Parses a certificate element.
    pub fn from_tlv(cert: Tlv<'a>) -> Result<Self, DecodeError> {
        let mut c = cert.with_tag(tag::SEQUENCE)?.children();
        let tbs = c.expect_next(tag::SEQUENCE)?;
        let outer_alg = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
        let signature = c.expect_next(tag::BIT_STRING)?.bit_string_octets()?;
        c.finish()?;

        let mut t = tbs.children();
        let version = match t.optional(tag::context(0))? {
            Some(v) => {
                let v = Tlv::parse_exact(v.value)?.small_integer()?;
                u8::try_from(v.saturating_add(1))
                    .ok()
                    .filter(|v| (1..=3).contains(v))
                    .ok_or(DecodeError::Unsupported { what: "certificate version" })?
            }
            None => 1,
        };
        let serial = t.expect_next(tag::INTEGER)?;
        // RFC 5280 4.1.2.2 asks for at most 20 octets, positive; real issuers break both
        // (certmonger's self-signed SCEP signers carry 33 octets), so keep the raw contents
        // and only bound the size.
        if serial.value.is_empty() || serial.value.len() > 64 {
            return Err(DecodeError::InvalidValue { what: "serial number" });
        }
        let signature_algorithm = AlgorithmIdentifierRef::from_tlv(t.expect_next(tag::SEQUENCE)?)?;
        if signature_algorithm != outer_alg {
            return Err(DecodeError::InvalidValue { what: "signature algorithm differs inside and outside the TBS" });
        }
        let issuer = NameRef::from_tlv(t.expect_next(tag::SEQUENCE)?)?;
        let mut validity = t.expect_next(tag::SEQUENCE)?.children();
        let not_before = time(validity.next_any()?)?;
        let not_after = time(validity.next_any()?)?;
        validity.finish()?;
        let subject = NameRef::from_tlv(t.expect_next(tag::SEQUENCE)?)?;
        let spki = SpkiRef::from_tlv(t.expect_next(tag::SEQUENCE)?)?;
        t.optional(tag::context_primitive(1))?;
        t.optional(tag::context_primitive(2))?;
        let extensions = match t.optional(tag::context(3))? {
            Some(e) if version == 3 => Tlv::parse_exact(e.value)?.with_tag(tag::SEQUENCE)?.value,
            Some(_) => return Err(DecodeError::InvalidValue { what: "extensions in a v1/v2 certificate" }),
            None => &[],
        };
        t.finish()?;
        check_extensions(extensions)?;
        Ok(Self {
            der: cert.raw,
            tbs: tbs.raw,
            version,
            serial: serial.value,
            signature_algorithm,
            issuer,
            not_before,
            not_after,
            subject,
            spki,
            extensions,
            signature,
        })
    }

    /// The whole certificate, DER.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }
    /// The signed part (`TBSCertificate`), DER.
    pub fn tbs_der(&self) -> &'a [u8] {
        self.tbs
    }
    /// 1, 2 or 3.
    pub fn version(&self) -> u8 {
        self.version
    }
    /// The serial number's INTEGER contents (two's complement, big-endian).
    pub fn serial(&self) -> &'a [u8] {
        self.serial
    }
    /// The signature algorithm identifier.
    pub fn signature_algorithm(&self) -> AlgorithmIdentifierRef<'a> {
        self.signature_algorithm
    }
    /// The issuer name.
    pub fn issuer(&self) -> NameRef<'a> {
        self.issuer
    }
    /// The subject name.
    pub fn subject(&self) -> NameRef<'a> {
        self.subject
    }
    /// Start of the validity period.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }
    /// End of the validity period.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }
    /// The subject public key.
    pub fn spki(&self) -> SpkiRef<'a> {
        self.spki
    }
    /// The signature value.
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// Whether `now` is within notBefore..=notAfter.
    pub fn is_valid_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// SHA-256 of the DER certificate: the fingerprint used for pinning.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(Digest::sha256(self.der).as_bytes());
        out
    }

    /// SHA-1 of the DER certificate (what SCEP and older tools show; feature `sha1`).
    #[cfg(feature = "sha1")]
    pub fn fingerprint_sha1(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        if let Ok(d) = crate::crypto::HashAlgorithm::Sha1.digest(self.der) {
            out.copy_from_slice(d.as_bytes());
        }
        out
    }

    /// Checks this certificate's signature with `issuer`'s public key.
    pub fn verify_signed_by(&self, issuer: &SpkiRef<'_>) -> Result<(), CryptoError> {
        let alg = SignatureAlgorithm::from_identifier(&self.signature_algorithm, None).map_err(|_| CryptoError::UnsupportedAlgorithm)?;
        issuer.verify_message(alg, self.tbs, self.signature)
    }

    /// All extensions, in order.
    pub fn extensions(&self) -> impl Iterator<Item = ExtensionRef<'a>> + 'a {
        Cursor::new(self.extensions).filter_map(|e| e.ok().and_then(|e| extension(e).ok()))
    }

    /// The extension of type `ext`, if present.
    pub fn extension(&self, ext: &ObjectIdentifier) -> Option<ExtensionRef<'a>> {
        self.extensions().find(|e| oid::same(&e.oid, ext))
    }

    /// The first critical extension this crate does not process, if any.
    pub fn unknown_critical_extension(&self) -> Option<ObjectIdentifier> {
        self.extensions().find(|e| e.critical && oid::position(&e.oid, &KNOWN_EXTENSIONS).is_none()).map(|e| e.oid)
    }

    /// basicConstraints, if present.
    pub fn basic_constraints(&self) -> Result<Option<BasicConstraints>, DecodeError> {
        let Some(e) = self.extension(&oid::BASIC_CONSTRAINTS) else { return Ok(None) };
        let mut c = Tlv::parse_exact(e.value)?.with_tag(tag::SEQUENCE)?.children();
        let ca = match c.optional(tag::BOOLEAN)? {
            Some(b) => b.boolean()?,
            None => false,
        };
        let path_len = c.optional(tag::INTEGER)?.map(|i| i.small_integer()).transpose()?;
        c.finish()?;
        Ok(Some(BasicConstraints { ca, path_len }))
    }

    /// keyUsage, if present.
    pub fn key_usage(&self) -> Result<Option<KeyUsage>, DecodeError> {
        let Some(e) = self.extension(&oid::KEY_USAGE) else { return Ok(None) };
        let bits = Tlv::parse_exact(e.value)?.with_tag(tag::BIT_STRING)?;
        let (unused, octets) = bits.value.split_first().ok_or(DecodeError::InvalidValue { what: "key usage" })?;
        if *unused > 7 || octets.len() > 2 {
            return Err(DecodeError::InvalidValue { what: "key usage" });
        }
        // Bit n of the BIT STRING (bit 0 = the first octet's top bit) becomes bit n of `v`.
        let first = octets.first().map_or(0, |b| b.reverse_bits());
        let second = octets.get(1).map_or(0, |b| b.reverse_bits());
        Ok(Some(KeyUsage(u16::from_le_bytes([first, second]))))
    }

    /// The extendedKeyUsage purposes (empty when the extension is absent).
    pub fn ext_key_usage(&self) -> impl Iterator<Item = ObjectIdentifier> + 'a {
        let list = self.extension(&oid::EXT_KEY_USAGE).and_then(|e| Tlv::parse_exact(e.value).ok()).map(|t| t.value).unwrap_or(&[]);
        Cursor::new(list).filter_map(|t| t.ok().and_then(|t| t.oid().ok()))
    }

    /// The subjectAltName entries (empty when the extension is absent).
    pub fn subject_alt_names(&self) -> impl Iterator<Item = GeneralName<'a>> + 'a {
        let list = self.extension(&oid::SUBJECT_ALT_NAME).and_then(|e| Tlv::parse_exact(e.value).ok()).map(|t| t.value).unwrap_or(&[]);
        Cursor::new(list).filter_map(|t| t.ok()).map(|t| {
            let text = || core::str::from_utf8(t.value).ok();
            match t.tag {
                0x81 => text().map(GeneralName::Email),
                0x82 => text().map(GeneralName::Dns),
                0x86 => text().map(GeneralName::Uri),
                0x87 if t.value.len() == 4 || t.value.len() == 16 => Some(GeneralName::Ip(t.value)),
                _ => None,
            }
            .unwrap_or(GeneralName::Other(t))
        })
    }

    /// The subjectKeyIdentifier, if present.
    pub fn subject_key_identifier(&self) -> Option<&'a [u8]> {
        let e = self.extension(&oid::SUBJECT_KEY_IDENTIFIER)?;
        Tlv::parse_exact(e.value).ok().filter(|t| t.tag == tag::OCTET_STRING).map(|t| t.value)
    }

    /// The authorityKeyIdentifier's keyIdentifier, if present.
    pub fn authority_key_identifier(&self) -> Option<&'a [u8]> {
        let e = self.extension(&oid::AUTHORITY_KEY_IDENTIFIER)?;
        let aki = Tlv::parse_exact(e.value).ok()?;
        let mut c = aki.children();
        c.optional(tag::context_primitive(0)).ok().flatten().map(|t| t.value)
    }
}

impl core::fmt::Debug for CertificateRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Certificate").field("subject", &self.subject).field("issuer", &self.issuer).field("serial", &self.serial).finish()
    }
}

/// `Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }`
fn time(t: Tlv<'_>) -> Result<UnixTime, DecodeError> {
    let secs = match t.tag {
        tag::UTC_TIME => super::civil::parse(t.value, true),
        tag::GENERALIZED_TIME => super::civil::parse(t.value, false),
        found => return Err(DecodeError::UnexpectedTag { expected: tag::UTC_TIME, found }),
    }
    .ok_or(DecodeError::InvalidValue { what: "time" })?;
    Ok(UnixTime::from_secs(i64::try_from(secs).map_err(|_| DecodeError::InvalidValue { what: "time" })?))
}

fn extension(t: Tlv<'_>) -> Result<ExtensionRef<'_>, DecodeError> {
    let mut c = t.with_tag(tag::SEQUENCE)?.children();
    let oid = c.expect_next(tag::OID)?.oid()?;
    let critical = match c.optional(tag::BOOLEAN)? {
        // DER: DEFAULT FALSE is never encoded, but real CAs do encode it; accept it.
        Some(b) => b.boolean()?,
        None => false,
    };
    let value = c.expect_next(tag::OCTET_STRING)?.value;
    c.finish()?;
    Ok(ExtensionRef { oid, critical, value })
}

fn check_extensions(list: &[u8]) -> Result<(), DecodeError> {
    let mut seen = [None::<ObjectIdentifier>; 32];
    for (i, e) in Cursor::new(list).enumerate() {
        let e = extension(e?)?;
        if seen.iter().flatten().any(|o| oid::same(o, &e.oid)) {
            return Err(DecodeError::InvalidValue { what: "duplicate extension" });
        }
        *seen.get_mut(i).ok_or(DecodeError::Unsupported { what: "more than 32 extensions" })? = Some(e.oid);
        // Every extension's contents must be one well-formed DER element.
        Tlv::parse_exact(e.value)?;
    }
    Ok(())
}
