//! The RFC 9908 `CertificationRequestInfoTemplate` (in an `id-aa-certificationRequestInfoTemplate`
//! attribute of a `/csrattrs` response): [`CsrTemplate`] and its subject, [`SubjectTemplate`].

use super::{CsrAttrItems, EcCurve, KeyRequest, RequestedExtensions, attribute, extension_list};
use crate::asn1::algorithm::AlgorithmIdentifierRef;
use crate::asn1::csr::NameAttribute;
use crate::asn1::oid;
use crate::asn1::tlv::{Cursor, Tlv, tag, validate_structure};
use crate::error::DecodeError;
use core::fmt;
use der::asn1::ObjectIdentifier;

/// One attribute of an RFC 9908 subject template: the value is absent when the client is to
/// fill it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateNameAttribute<'a> {
    /// The attribute type (commonName, organizationalUnitName, ...).
    pub oid: ObjectIdentifier,
    /// The value the client must use, or `None` when the client provides it.
    pub value: Option<Tlv<'a>>,
}

impl<'a> TemplateNameAttribute<'a> {
    /// The value as text, when present, one of the string types and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        let v = self.value?;
        match v.tag {
            tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | 0x14 | 0x1a => core::str::from_utf8(v.value).ok(),
            _ => None,
        }
    }
}

/// Why [`SubjectTemplate::fill`] could not make a subject.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillError {
    /// The template wants a value of this type from the client, and none was given.
    Missing {
        /// The attribute type.
        oid: ObjectIdentifier,
    },
    /// The template fixes a value of this type that is not text.
    NotText {
        /// The attribute type.
        oid: ObjectIdentifier,
    },
    /// The subject has more attributes than the output holds.
    TooMany,
}

impl fmt::Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { oid } => write!(f, "the subject template asks for a value of {oid}"),
            Self::NotText { oid } => write!(f, "the subject template's value of {oid} is not text"),
            Self::TooMany => f.write_str("the subject template has too many attributes"),
        }
    }
}

impl core::error::Error for FillError {}

/// An RFC 9908 `NameTemplate`: a subject Name whose attribute values may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectTemplate<'a> {
    der: &'a [u8],
    rdns: &'a [u8],
}

impl<'a> SubjectTemplate<'a> {
    /// Parses and checks a `RDNSequenceTemplate` element.
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let t = t.with_tag(tag::SEQUENCE)?;
        for rdn in t.children() {
            let rdn = rdn?.with_tag(tag::SET)?;
            if rdn.value.is_empty() {
                return Err(DecodeError::InvalidValue { what: "empty relative distinguished name" });
            }
            for atv in rdn.children() {
                let mut c = atv?.with_tag(tag::SEQUENCE)?.children();
                c.expect_next(tag::OID)?.oid()?;
                if !c.is_empty() {
                    c.next_any()?;
                }
                c.finish()?;
            }
        }
        Ok(Self { der: t.raw, rdns: t.value })
    }

    /// The DER encoding.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }

    /// Whether the template names no attribute.
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// All attributes, in order (a multi-valued RDN gives each of its attributes).
    pub fn attributes(&self) -> impl Iterator<Item = TemplateNameAttribute<'a>> + use<'a> {
        Cursor::new(self.rdns).filter_map(Result::ok).flat_map(|rdn| rdn.children().filter_map(Result::ok)).filter_map(|atv| {
            let mut c = atv.children();
            let oid = c.expect_next(tag::OID).ok()?.oid().ok()?;
            let value = if c.is_empty() { None } else { Some(c.next_any().ok()?) };
            Some(TemplateNameAttribute { oid, value })
        })
    }

    /// The subject for [`CsrBuilder`](crate::asn1::csr::CsrBuilder): the values the template
    /// fixes, and for the others what `value_for` gives (it is asked only for those).
    ///
    /// The builder writes one attribute per RDN and picks PrintableString or UTF8String
    /// itself, so a multi-valued RDN comes out as several RDNs and a fixed value may change
    /// string type; the text is the same.
    pub fn fill<'x, const N: usize, F>(&self, mut value_for: F) -> Result<heapless::Vec<NameAttribute<'x>, N>, FillError>
    where
        'a: 'x,
        F: FnMut(&ObjectIdentifier) -> Option<&'x str>,
    {
        let mut out = heapless::Vec::new();
        for a in self.attributes() {
            let value = match a.value {
                Some(_) => a.as_str().ok_or(FillError::NotText { oid: a.oid })?,
                None => value_for(&a.oid).ok_or(FillError::Missing { oid: a.oid })?,
            };
            out.push(NameAttribute { oid: a.oid, value }).map_err(|_| FillError::TooMany)?;
        }
        Ok(out)
    }
}

/// An RFC 9908 `CertificationRequestInfoTemplate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrTemplate<'a> {
    der: &'a [u8],
    subject: Option<SubjectTemplate<'a>>,
    key_algorithm: Option<AlgorithmIdentifierRef<'a>>,
    public_key: Option<&'a [u8]>,
    attributes: &'a [u8],
}

impl<'a> CsrTemplate<'a> {
    /// Parses a DER template (exactly one element).
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_tlv(Tlv::parse_exact(der_bytes)?)
    }

    /// Parses and checks a template element: version v1, the optional parts, and RFC 9908's
    /// rules on the attributes (one extension request at most, of either kind, well-formed).
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let t = t.with_tag(tag::SEQUENCE)?;
        validate_structure(t.value, 1)?;
        let mut c = t.children();
        if c.expect_next(tag::INTEGER)?.small_integer()? != 0 {
            return Err(DecodeError::Unsupported { what: "CSR template version" });
        }
        let subject = c.optional(tag::SEQUENCE)?.map(SubjectTemplate::from_tlv).transpose()?;
        let (key_algorithm, public_key) = match c.optional(tag::context(0))? {
            Some(spki) => {
                let mut k = spki.children();
                let alg = AlgorithmIdentifierRef::from_tlv(k.expect_next(tag::SEQUENCE)?)?;
                let key = k.optional(tag::BIT_STRING)?.map(|b| b.bit_string_octets()).transpose()?;
                k.finish()?;
                (Some(alg), key)
            }
            None => (None, None),
        };
        // `attributes` is not OPTIONAL in the syntax; a template without it is taken as empty.
        let attributes = c.optional(tag::context(1))?.map_or(&[][..], |a| a.value);
        c.finish()?;
        let mut requests = 0u32;
        for a in Cursor::new(attributes) {
            let (o, values) = attribute(a?)?;
            let template = match o {
                oid::EXTENSION_REQUEST => false,
                oid::EXTENSION_REQ_TEMPLATE => true,
                _ => continue,
            };
            requests = requests.saturating_add(1);
            if requests > 1 {
                return Err(DecodeError::InvalidValue { what: "more than one extension request in the CSR template" });
            }
            extension_list(values, template)?;
        }
        Ok(Self { der: t.raw, subject, key_algorithm, public_key, attributes })
    }

    /// The DER encoding.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }

    /// The subject to use, when the server has requirements on it.
    pub fn subject(&self) -> Option<SubjectTemplate<'a>> {
        self.subject
    }

    /// The public-key algorithm of `subjectPKInfo`, when the server has requirements on the key.
    pub fn key_algorithm(&self) -> Option<AlgorithmIdentifierRef<'a>> {
        self.key_algorithm
    }

    /// The key to use, read from `subjectPKInfo`: the curve from the EC parameters, the RSA
    /// size from the length of the dummy modulus.
    pub fn key(&self) -> Option<KeyRequest> {
        let alg = self.key_algorithm?;
        Some(match alg.oid {
            oid::EC_PUBLIC_KEY => KeyRequest::Ec { curve: alg.parameters.and_then(|p| p.oid().ok()).map(|c| EcCurve::from_oid(&c)) },
            oid::RSA_ENCRYPTION => KeyRequest::Rsa { bits: self.public_key.and_then(rsa_modulus_bits) },
            other => KeyRequest::Other(other),
        })
    }

    /// The attributes (`challengePassword`, `extensionRequest`, `id-aa-extensionReqTemplate`, ...).
    pub fn attributes(&self) -> CsrAttrItems<'a> {
        CsrAttrItems { items: Cursor::new(self.attributes) }
    }

    /// Whether the template asks for a challengePassword.
    pub fn challenge_password_requested(&self) -> bool {
        self.attributes().any(|a| a.oid() == oid::CHALLENGE_PASSWORD)
    }

    /// The extensions to request (from its `extensionRequest` or `id-aa-extensionReqTemplate`).
    pub fn extensions(&self) -> Option<RequestedExtensions<'a>> {
        Cursor::new(self.attributes).filter_map(Result::ok).find_map(|a| {
            let (o, values) = attribute(a).ok()?;
            match o {
                oid::EXTENSION_REQUEST => extension_list(values, false).ok(),
                oid::EXTENSION_REQ_TEMPLATE => extension_list(values, true).ok(),
                _ => None,
            }
        })
    }
}

/// The bit length of the modulus of a DER `RSAPublicKey`.
fn rsa_modulus_bits(key: &[u8]) -> Option<u16> {
    let mut c = Tlv::parse_exact(key).ok()?.with_tag(tag::SEQUENCE).ok()?.children();
    let n = c.expect_next(tag::INTEGER).ok()?.unsigned_integer().ok()?;
    let first = *n.first()?;
    let bits = n.len().checked_sub(1)?.checked_mul(8)?.checked_add(8usize.checked_sub(first.leading_zeros() as usize)?)?;
    u16::try_from(bits).ok()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{attribute_der, cat, extension_der, oid_der, tlv};
    use super::*;
    use crate::est::csrattrs::CsrAttrs;

    #[test]
    fn template_key_sizes_and_rules() {
        // RSA: the size is the length of the dummy modulus.
        let mut modulus = std::vec![0u8; 257];
        modulus[1] = 0x80;
        let rsa_pub = tlv(tag::SEQUENCE, &cat(&[&tlv(tag::INTEGER, &modulus), &tlv(tag::INTEGER, &[1, 0, 1])]));
        let mut bits = std::vec![0u8];
        bits.extend(&rsa_pub);
        let spki = tlv(
            tag::context(0),
            &cat(&[&tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::RSA_ENCRYPTION), &tlv(tag::NULL, &[])])), &tlv(tag::BIT_STRING, &bits)]),
        );
        let t = tlv(tag::SEQUENCE, &cat(&[&tlv(tag::INTEGER, &[0]), &spki, &tlv(tag::context(1), &[])]));
        assert_eq!(CsrTemplate::parse(&t).unwrap().key(), Some(KeyRequest::Rsa { bits: Some(2048) }));
        // Version 1 is not understood, so the CsrAttrs falls back to its other items.
        let v1 = tlv(tag::SEQUENCE, &cat(&[&tlv(tag::INTEGER, &[1]), &tlv(tag::context(1), &[])]));
        assert_eq!(CsrTemplate::parse(&v1), Err(DecodeError::Unsupported { what: "CSR template version" }));
        let der = tlv(tag::SEQUENCE, &cat(&[&attribute_der(&oid::CERTIFICATION_REQUEST_INFO_TEMPLATE, &v1), &oid_der(&oid::SECP256R1)]));
        let h = CsrAttrs::parse(&der).unwrap().hints();
        assert!(!h.from_template);
        assert_eq!((h.key, h.not_understood), (Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }), 1));
        // Both extensionRequest and extensionReqTemplate: refused (RFC 9908).
        let e = tlv(tag::SEQUENCE, &extension_der(&oid::KEY_USAGE, false, Some(&[0x03, 0x02, 0x07, 0x80])));
        let both = tlv(
            tag::SEQUENCE,
            &cat(&[
                &tlv(tag::INTEGER, &[0]),
                &tlv(
                    tag::context(1),
                    &cat(&[&attribute_der(&oid::EXTENSION_REQUEST, &e), &attribute_der(&oid::EXTENSION_REQ_TEMPLATE, &e)]),
                ),
            ]),
        );
        assert!(CsrTemplate::parse(&both).is_err());
        // An extensionRequest needs values; the template form does not.
        let no_value = tlv(tag::SEQUENCE, &extension_der(&oid::EXT_KEY_USAGE, false, None));
        assert!(extension_list(&no_value, false).is_err());
        assert_eq!(extension_list(&no_value, true).unwrap().count(), 1);
        // Duplicates are refused.
        let dup = tlv(
            tag::SEQUENCE,
            &cat(&[&extension_der(&oid::KEY_USAGE, false, Some(&[5, 0])), &extension_der(&oid::KEY_USAGE, true, Some(&[5, 0]))]),
        );
        assert!(extension_list(&dup, false).is_err());
        // A SET of bare Extensions (early RFC 8994 registrars) is taken.
        let bare =
            cat(&[&extension_der(&oid::KEY_USAGE, false, Some(&[5, 0])), &extension_der(&oid::EXT_KEY_USAGE, false, Some(&[0x30, 0]))]);
        assert_eq!(extension_list(&bare, false).unwrap().count(), 2);
    }
}
