//! The EST CSR attributes (`/csrattrs`, RFC 7030 section 4.5.2, clarified by RFC 9908): what
//! the server wants to find in the next certification request.
//!
//! ```text
//! CsrAttrs  ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
//! AttrOrOID ::= CHOICE { oid OBJECT IDENTIFIER, attribute Attribute }
//! Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET SIZE (1..MAX) OF ANY }
//!
//! -- RFC 9908: an attribute of type id-aa-certificationRequestInfoTemplate
//! CertificationRequestInfoTemplate ::= SEQUENCE {
//!     version       INTEGER { v1(0) },
//!     subject       NameTemplate OPTIONAL,      -- RDN values OPTIONAL: the client fills them in
//!     subjectPKInfo [0] IMPLICIT SEQUENCE { algorithm AlgorithmIdentifier,
//!                                          subjectPublicKey BIT STRING OPTIONAL } OPTIONAL,
//!     attributes    [1] IMPLICIT SET OF Attribute }
//! ExtensionTemplate ::= SEQUENCE {            -- in id-aa-extensionReqTemplate
//!     extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING OPTIONAL }
//! ```
//!
//! [`CsrAttrs`] is a zero-copy view over the DER. It checks the structure once, when it is
//! parsed (strict DER, well-formed to [`MAX_DEPTH`](crate::asn1::tlv::MAX_DEPTH)); what the
//! items mean is read leniently afterwards, because servers disagree on it (the RFC 7030
//! example itself puts an OID where RFC 9908 wants `Extensions`). An unknown item, or one of a
//! known type in an unexpected shape, is *not understood*: skipped and counted (see
//! [`CsrAttrs::not_understood`]), never an error.
//!
//! What a client understands:
//!
//! | item | meaning |
//! |---|---|
//! | `challengePassword` (OID or attribute) | put a challengePassword in the CSR (EST's proof-of-possession linking, RFC 7030 section 3.5) |
//! | a signature algorithm OID (`ecdsa-with-SHA384`, `sha256WithRSAEncryption`, ...) or a hash OID (`id-sha384`) | hash to sign the CSR with |
//! | `id-ecPublicKey` attribute with a curve OID, or a bare curve OID | an EC key on that curve |
//! | `rsaEncryption` attribute with an INTEGER | an RSA key of that many bits |
//! | `extensionRequest` attribute with `Extensions` | extensions to copy into the CSR |
//! | `id-aa-certificationRequestInfoTemplate` attribute | RFC 9908 template: subject, key, extensions; when present, everything else is ignored (RFC 9908, co-existence with RFC 7030 servers) |
//!
//! [`CsrAttrs::hints`] applies all of that and returns [`CsrHints`], which maps onto
//! [`CsrBuilder`](crate::asn1::csr::CsrBuilder), and counts what it could not use.
//!
//! ```
//! use embedded_enroll::est::csrattrs::{CsrAttrs, EcCurve, KeyRequest};
//! use embedded_enroll::crypto::HashAlgorithm;
//!
//! // The example of RFC 7030 section 4.5.2.
//! let body = b"MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==";
//! let mut der = [0u8; 128];
//! let attrs = CsrAttrs::from_base64(body, &mut der)?;
//! let hints = attrs.hints();
//! assert!(hints.challenge_password);
//! assert_eq!(hints.hash, Some(HashAlgorithm::Sha384));
//! assert_eq!(hints.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P384) }));
//! assert_eq!(hints.not_understood, 1); // its extensionRequest holds an OID, not Extensions
//! # Ok::<(), embedded_enroll::error::DecodeError>(())
//! ```

#![deny(clippy::arithmetic_side_effects)]

use crate::asn1::algorithm::hash_from_oid;
use crate::asn1::cert::GeneralName;
use crate::asn1::csr::Extension;
use crate::asn1::oid;
use crate::asn1::tlv::{Cursor, Tlv, tag, validate_structure};
use crate::crypto::HashAlgorithm;
use crate::error::DecodeError;
use crate::hal::KeyType;
use der::asn1::ObjectIdentifier;

mod template;
pub use template::{CsrTemplate, FillError, SubjectTemplate, TemplateNameAttribute};

/// How many extensions [`CsrHints`] holds in each of its two lists; more are counted as not
/// understood.
pub const MAX_HINT_EXTENSIONS: usize = 8;

/// Most extensions one extension list may hold (a bound on the duplicate check).
const MAX_LIST_EXTENSIONS: usize = 64;

/// A parsed CSR attributes response, borrowing its DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrAttrs<'a> {
    der: &'a [u8],
    items: &'a [u8],
}

/// One `AttrOrOID` item.
#[derive(Debug, Clone, Copy)]
pub enum CsrAttr<'a> {
    /// A bare OBJECT IDENTIFIER: "include this" (an attribute, a subject field, a key type or
    /// an algorithm).
    Oid(ObjectIdentifier),
    /// An `Attribute`: a type with its values.
    Attribute {
        /// The attribute type.
        oid: ObjectIdentifier,
        /// The elements of the `values` SET.
        values: Cursor<'a>,
        /// The whole `Attribute` element.
        raw: &'a [u8],
    },
}

impl CsrAttr<'_> {
    /// The OID, or the attribute's type.
    pub fn oid(&self) -> ObjectIdentifier {
        match self {
            Self::Oid(o) | Self::Attribute { oid: o, .. } => *o,
        }
    }
}

/// Iterator over the items of [`CsrAttrs`] (or the attributes of a [`CsrTemplate`]).
#[derive(Debug, Clone)]
pub struct CsrAttrItems<'a> {
    items: Cursor<'a>,
}

impl<'a> Iterator for CsrAttrItems<'a> {
    type Item = CsrAttr<'a>;
    fn next(&mut self) -> Option<CsrAttr<'a>> {
        // The structure was checked at parse time: an error here only ends the iteration.
        let t = self.items.next()?.ok()?;
        item(t).ok()
    }
}

/// An elliptic curve a server asks for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    /// secp256r1 (prime256v1)
    P256,
    /// secp384r1
    P384,
    /// secp521r1
    P521,
    /// Another curve.
    Other(ObjectIdentifier),
}

impl EcCurve {
    /// The curve an OID names.
    pub fn from_oid(o: &ObjectIdentifier) -> Self {
        match *o {
            oid::SECP256R1 => Self::P256,
            oid::SECP384R1 => Self::P384,
            oid::SECP521R1 => Self::P521,
            other => Self::Other(other),
        }
    }
}

/// The kind of key a server asks for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequest {
    /// An EC key, on this curve when it is named.
    Ec {
        /// The curve, if named.
        curve: Option<EcCurve>,
    },
    /// An RSA key, of this modulus size when it is given.
    Rsa {
        /// Modulus size in bits, if given.
        bits: Option<u16>,
    },
    /// Another public-key algorithm (its OID).
    Other(ObjectIdentifier),
}

impl KeyRequest {
    /// The [`KeyType`] this request names exactly, when this crate can sign with it (P-256;
    /// RSA with a size).
    pub fn key_type(&self) -> Option<KeyType> {
        match *self {
            Self::Ec { curve: Some(EcCurve::P256) } => Some(KeyType::EcP256),
            Self::Rsa { bits: Some(bits) } => Some(KeyType::Rsa { bits }),
            _ => None,
        }
    }

    /// Whether a key of type `key` satisfies this request.
    pub fn accepts(&self, key: KeyType) -> bool {
        match (*self, key) {
            (Self::Ec { curve: None | Some(EcCurve::P256) }, KeyType::EcP256) => true,
            (Self::Rsa { bits: None }, KeyType::Rsa { .. }) => true,
            (Self::Rsa { bits: Some(want) }, KeyType::Rsa { bits }) => want == bits,
            _ => false,
        }
    }

    /// The key type a public-key algorithm OID names (`id-ecPublicKey`, `rsaEncryption`).
    fn from_algorithm(o: &ObjectIdentifier) -> Self {
        match *o {
            oid::EC_PUBLIC_KEY => Self::Ec { curve: None },
            oid::RSA_ENCRYPTION => Self::Rsa { bits: None },
            other => Self::Other(other),
        }
    }

    /// Whether `other` says more about the same key family than `self`.
    fn refined_by(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Ec { curve: None }, Self::Ec { curve: Some(_) }) | (Self::Rsa { bits: None }, Self::Rsa { bits: Some(_) })
        )
    }
}

/// The hash and key family of a signature algorithm OID.
fn signature_algorithm(o: &ObjectIdentifier) -> Option<(HashAlgorithm, KeyRequest)> {
    let ec = KeyRequest::Ec { curve: None };
    let rsa = KeyRequest::Rsa { bits: None };
    Some(match *o {
        oid::ECDSA_WITH_SHA1 => (HashAlgorithm::Sha1, ec),
        oid::ECDSA_WITH_SHA256 => (HashAlgorithm::Sha256, ec),
        oid::ECDSA_WITH_SHA384 => (HashAlgorithm::Sha384, ec),
        oid::ECDSA_WITH_SHA512 => (HashAlgorithm::Sha512, ec),
        oid::SHA1_WITH_RSA => (HashAlgorithm::Sha1, rsa),
        oid::SHA256_WITH_RSA => (HashAlgorithm::Sha256, rsa),
        oid::SHA384_WITH_RSA => (HashAlgorithm::Sha384, rsa),
        oid::SHA512_WITH_RSA => (HashAlgorithm::Sha512, rsa),
        _ => return None,
    })
}

/// One extension a server asks for: an `Extension` of an `extensionRequest`, or an
/// `ExtensionTemplate` (value optional) of an RFC 9908 `id-aa-extensionReqTemplate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedExtension<'a> {
    /// The extension type.
    pub oid: ObjectIdentifier,
    /// The critical flag to use.
    pub critical: bool,
    /// The contents of `extnValue` (one DER element), or `None` when the client is to fill
    /// the value in.
    pub value: Option<&'a [u8]>,
    /// The whole `Extension` element, as the server sent it.
    pub raw: &'a [u8],
}

impl<'a> RequestedExtension<'a> {
    /// The extension as the CSR builder takes it, when it has a value.
    pub fn as_extension(&self) -> Option<Extension<'a>> {
        self.value.map(|value| Extension { oid: self.oid, critical: self.critical, value })
    }

    /// Whether the extension can go into the CSR as it is: it has a value, and (for a
    /// subjectAltName) no entry is a placeholder for the client to fill in (an empty
    /// iPAddress or a directoryName holding the empty name, RFC 9908).
    pub fn is_complete(&self) -> bool {
        self.value.is_some() && !Cursor::new(self.san_list()).filter_map(Result::ok).any(|t| is_placeholder(&t))
    }

    /// Whether this is a subjectAltName.
    pub fn is_subject_alt_name(&self) -> bool {
        self.oid == oid::SUBJECT_ALT_NAME
    }

    /// Whether this is an extKeyUsage.
    pub fn is_ext_key_usage(&self) -> bool {
        self.oid == oid::EXT_KEY_USAGE
    }

    /// The entries of a subjectAltName value (none for other extensions or without a value).
    /// A placeholder iPAddress comes out as `GeneralName::Ip(&[])`.
    pub fn subject_alt_names(&self) -> impl Iterator<Item = GeneralName<'a>> + use<'a> {
        Cursor::new(self.san_list()).filter_map(Result::ok).map(|t| {
            let text = || core::str::from_utf8(t.value).ok();
            match t.tag {
                0x81 => text().map(GeneralName::Email),
                0x82 => text().map(GeneralName::Dns),
                0x86 => text().map(GeneralName::Uri),
                0x87 if matches!(t.value.len(), 0 | 4 | 16) => Some(GeneralName::Ip(t.value)),
                _ => None,
            }
            .unwrap_or(GeneralName::Other(t))
        })
    }

    /// The purposes of an extKeyUsage value (none for other extensions or without a value).
    pub fn ext_key_usages(&self) -> impl Iterator<Item = ObjectIdentifier> + use<'a> {
        Cursor::new(self.inner_list(oid::EXT_KEY_USAGE)).filter_map(|t| t.ok()?.oid().ok())
    }

    fn san_list(&self) -> &'a [u8] {
        self.inner_list(oid::SUBJECT_ALT_NAME)
    }

    /// The contents of the SEQUENCE the value holds, for an extension of type `o`.
    fn inner_list(&self, o: ObjectIdentifier) -> &'a [u8] {
        match self.value {
            Some(v) if self.oid == o => Tlv::parse_exact(v).map_or(&[][..], |t| t.value),
            _ => &[],
        }
    }
}

/// An empty iPAddress `[7]`, or a directoryName `[4]` holding the empty Name.
fn is_placeholder(t: &Tlv<'_>) -> bool {
    (t.tag == 0x87 && t.value.is_empty()) || (t.tag == tag::context(4) && t.value == [tag::SEQUENCE, 0x00])
}

/// Iterator over the extensions of an `extensionRequest` or `id-aa-extensionReqTemplate`.
#[derive(Debug, Clone)]
pub struct RequestedExtensions<'a> {
    list: Cursor<'a>,
}

impl<'a> Iterator for RequestedExtensions<'a> {
    type Item = RequestedExtension<'a>;
    fn next(&mut self) -> Option<RequestedExtension<'a>> {
        // Checked when the list was found: an error here only ends the iteration.
        extension(self.list.next()?.ok()?, true).ok()
    }
}

/// One `Extension` / `ExtensionTemplate` (`value_optional`).
fn extension(t: Tlv<'_>, value_optional: bool) -> Result<RequestedExtension<'_>, DecodeError> {
    let mut c = t.with_tag(tag::SEQUENCE)?.children();
    let oid = c.expect_next(tag::OID)?.oid()?;
    let critical = match c.optional(tag::BOOLEAN)? {
        Some(b) => b.boolean()?,
        None => false,
    };
    let value = match c.optional(tag::OCTET_STRING)? {
        Some(v) => {
            Tlv::parse_exact(v.value)?;
            Some(v.value)
        }
        None if value_optional => None,
        None => return Err(DecodeError::InvalidValue { what: "extension without a value" }),
    };
    c.finish()?;
    Ok(RequestedExtension { oid, critical, value, raw: t.raw })
}

/// The extension list in the `values` of an `extensionRequest` (`template`: of an
/// `id-aa-extensionReqTemplate`), checked. RFC 9908 wants one value, an `Extensions`; a SET of
/// bare `Extension`s (what some early RFC 8994 servers sent) is taken too.
fn extension_list(values: &[u8], template: bool) -> Result<RequestedExtensions<'_>, DecodeError> {
    let mut c = Cursor::new(values);
    let first = c.expect_next(tag::SEQUENCE)?;
    let list = match first.children().peek_tag() {
        Some(tag::SEQUENCE) if c.is_empty() => first.value,
        Some(tag::OID) => values,
        _ => return Err(DecodeError::InvalidValue { what: "extension request" }),
    };
    for (i, e) in Cursor::new(list).enumerate() {
        if i >= MAX_LIST_EXTENSIONS {
            return Err(DecodeError::Unsupported { what: "more than 64 requested extensions" });
        }
        let e = extension(e?, template)?;
        // RFC 9908: no two with the same extnID.
        let earlier = Cursor::new(list).take(i).filter_map(|p| extension(p.ok()?, true).ok());
        if earlier.map(|p| p.oid).any(|o| o == e.oid) {
            return Err(DecodeError::InvalidValue { what: "duplicate requested extension" });
        }
    }
    Ok(RequestedExtensions { list: Cursor::new(list) })
}

/// `Attribute ::= SEQUENCE { type OBJECT IDENTIFIER, values SET }`: the type and the SET's contents.
fn attribute(t: Tlv<'_>) -> Result<(ObjectIdentifier, &[u8]), DecodeError> {
    let mut c = t.with_tag(tag::SEQUENCE)?.children();
    let o = c.expect_next(tag::OID)?.oid()?;
    let values = c.expect_next(tag::SET)?.value;
    c.finish()?;
    Ok((o, values))
}

fn item(t: Tlv<'_>) -> Result<CsrAttr<'_>, DecodeError> {
    match t.tag {
        tag::OID => Ok(CsrAttr::Oid(t.oid()?)),
        _ => {
            let (oid, values) = attribute(t)?;
            Ok(CsrAttr::Attribute { oid, values: Cursor::new(values), raw: t.raw })
        }
    }
}

/// What one item asks for, as far as this crate understands it.
enum Meaning<'a> {
    ChallengePassword,
    Hash(HashAlgorithm),
    Signature(HashAlgorithm, KeyRequest),
    Key(KeyRequest),
    Extensions(RequestedExtensions<'a>),
    Template(CsrTemplate<'a>),
    NotUnderstood,
}

fn meaning<'a>(a: &CsrAttr<'a>) -> Meaning<'a> {
    match *a {
        CsrAttr::Oid(o) => match o {
            oid::CHALLENGE_PASSWORD => Meaning::ChallengePassword,
            oid::SECP256R1 | oid::SECP384R1 | oid::SECP521R1 => Meaning::Key(KeyRequest::Ec { curve: Some(EcCurve::from_oid(&o)) }),
            oid::EC_PUBLIC_KEY | oid::RSA_ENCRYPTION => Meaning::Key(KeyRequest::from_algorithm(&o)),
            _ => match (hash_from_oid(&o), signature_algorithm(&o)) {
                (Some(h), _) => Meaning::Hash(h),
                (None, Some((h, k))) => Meaning::Signature(h, k),
                (None, None) => Meaning::NotUnderstood,
            },
        },
        CsrAttr::Attribute { oid: o, raw, .. } => {
            let Ok((_, values)) = Tlv::parse_exact(raw).and_then(attribute) else { return Meaning::NotUnderstood };
            let mut one = Cursor::new(values);
            let single = match (one.next(), one.next()) {
                (Some(Ok(v)), None) => Some(v),
                _ => None,
            };
            match o {
                oid::CHALLENGE_PASSWORD => Meaning::ChallengePassword,
                oid::EC_PUBLIC_KEY => match single.map(|v| v.oid()) {
                    Some(Ok(curve)) => Meaning::Key(KeyRequest::Ec { curve: Some(EcCurve::from_oid(&curve)) }),
                    _ => Meaning::NotUnderstood,
                },
                oid::RSA_ENCRYPTION => match single.map(|v| v.small_integer().map(u16::try_from)) {
                    Some(Ok(Ok(bits))) if bits > 0 => Meaning::Key(KeyRequest::Rsa { bits: Some(bits) }),
                    _ => Meaning::NotUnderstood,
                },
                oid::EXTENSION_REQUEST => extension_list(values, false).map_or(Meaning::NotUnderstood, Meaning::Extensions),
                oid::CERTIFICATION_REQUEST_INFO_TEMPLATE => match single.map(CsrTemplate::from_tlv) {
                    Some(Ok(t)) => Meaning::Template(t),
                    _ => Meaning::NotUnderstood,
                },
                _ => Meaning::NotUnderstood,
            }
        }
    }
}

impl<'a> CsrAttrs<'a> {
    /// Parses the DER of a CSR attributes response. Empty input (a server with nothing to
    /// ask) and `SEQUENCE {}` are both no attributes.
    ///
    /// Fails on malformed DER, trailing data, or an item that is neither an OBJECT IDENTIFIER
    /// nor an `Attribute`; what the items mean is not checked here (see the module
    /// documentation). BER (indefinite lengths) is refused: run it through
    /// [`ber::normalize`](crate::asn1::ber::normalize) first.
    pub fn parse(der: &'a [u8]) -> Result<Self, DecodeError> {
        if der.is_empty() {
            return Ok(Self { der, items: der });
        }
        let t = Tlv::parse_exact(der)?.with_tag(tag::SEQUENCE)?;
        validate_structure(t.value, 1)?;
        for i in t.children() {
            item(i?)?;
        }
        Ok(Self { der, items: t.value })
    }

    /// Decodes a base64 `/csrattrs` body (whitespace anywhere and trailing NULs are skipped,
    /// see [`crate::http::base64::decode`]) into `out` and parses it.
    pub fn from_base64<'o>(body: &[u8], out: &'o mut [u8]) -> Result<CsrAttrs<'o>, DecodeError> {
        CsrAttrs::parse(crate::http::base64::decode(body, out)?)
    }

    /// The DER, as given.
    pub fn as_der(&self) -> &'a [u8] {
        self.der
    }

    /// Whether the server asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in order.
    pub fn items(&self) -> CsrAttrItems<'a> {
        CsrAttrItems { items: Cursor::new(self.items) }
    }

    /// Whether `o` is there, as a bare OID or as an attribute type.
    pub fn contains(&self, o: &ObjectIdentifier) -> bool {
        self.items().any(|i| i.oid() == *o)
    }

    /// The values of the first attribute of type `o`.
    pub fn attribute(&self, o: &ObjectIdentifier) -> Option<Cursor<'a>> {
        self.items().find_map(|i| match i {
            CsrAttr::Attribute { oid, values, .. } if oid == *o => Some(values),
            _ => None,
        })
    }

    /// Whether the server asks for a challengePassword (OID 1.2.840.113549.1.9.7, bare or as
    /// an attribute, or in the RFC 9908 template): how an EST server asks for the
    /// proof-of-possession linking value (tls-unique, RFC 7030 section 3.5).
    pub fn challenge_password_requested(&self) -> bool {
        self.contains(&oid::CHALLENGE_PASSWORD) || self.template().is_some_and(|t| t.challenge_password_requested())
    }

    /// The hash to sign the CSR with: from the first signature algorithm OID
    /// (`ecdsa-with-SHA384`, `sha256WithRSAEncryption`, ...) or hash OID (`id-sha384`).
    pub fn requested_hash(&self) -> Option<HashAlgorithm> {
        self.items().find_map(|i| match meaning(&i) {
            Meaning::Hash(h) | Meaning::Signature(h, _) => Some(h),
            _ => None,
        })
    }

    /// The first signature algorithm OID this crate knows, as sent.
    pub fn requested_signature_algorithm(&self) -> Option<ObjectIdentifier> {
        self.items().find_map(|i| match i {
            CsrAttr::Oid(o) if signature_algorithm(&o).is_some() => Some(o),
            _ => None,
        })
    }

    /// The key asked for outside a template: an `id-ecPublicKey` attribute with a curve, a bare
    /// curve OID, an `rsaEncryption` attribute with a size, a bare algorithm OID, or else the
    /// family of a signature algorithm OID. The most specific one wins; then the first.
    pub fn requested_key(&self) -> Option<KeyRequest> {
        let mut key: Option<KeyRequest> = None;
        let mut from_signature = None;
        for i in self.items() {
            match meaning(&i) {
                Meaning::Key(k) if key.is_none_or(|old| old.refined_by(&k)) => key = Some(k),
                Meaning::Signature(_, k) => from_signature = from_signature.or(Some(k)),
                _ => {}
            }
        }
        key.or(from_signature)
    }

    /// The extensions of the (first well-formed) `extensionRequest` attribute.
    pub fn extension_request(&self) -> Option<RequestedExtensions<'a>> {
        self.items().find_map(|i| match meaning(&i) {
            Meaning::Extensions(e) => Some(e),
            _ => None,
        })
    }

    /// The first well-formed RFC 9908 template.
    pub fn template(&self) -> Option<CsrTemplate<'a>> {
        self.items().find_map(|i| match meaning(&i) {
            Meaning::Template(t) => Some(t),
            _ => None,
        })
    }

    /// The items this crate does not understand (unknown OIDs and attributes, and known ones
    /// in an unexpected shape): what [`CsrHints::not_understood`] counts outside a template.
    pub fn not_understood(&self) -> impl Iterator<Item = CsrAttr<'a>> + use<'a> {
        self.items().filter(|i| matches!(meaning(i), Meaning::NotUnderstood))
    }

    /// Applies what this crate understands (see the module documentation).
    ///
    /// With an RFC 9908 template, the hints come from it alone (RFC 9908: a client
    /// that understands the template uses it only) and every other item is counted in
    /// [`CsrHints::ignored`]; [`requested_hash`](Self::requested_hash) still reads the
    /// algorithm OIDs for a caller that wants them. Without one, each item is applied; for the
    /// hash, the extension request and the key the first (most specific) one wins, and later
    /// ones are counted as not understood.
    pub fn hints(&self) -> CsrHints<'a> {
        let mut h = CsrHints::default();
        if let Some(t) = self.template() {
            h.from_template = true;
            h.subject = t.subject();
            h.key = t.key();
            let mut used = false;
            for i in self.items() {
                match meaning(&i) {
                    Meaning::Template(_) if !used => used = true,
                    _ => h.ignored = h.ignored.saturating_add(1),
                }
            }
            for a in t.attributes() {
                match a.oid() {
                    oid::CHALLENGE_PASSWORD => h.challenge_password = true,
                    oid::EXTENSION_REQUEST | oid::EXTENSION_REQ_TEMPLATE => {}
                    _ => h.not_understood = h.not_understood.saturating_add(1),
                }
            }
            if let Some(e) = t.extensions() {
                h.add_extensions(e);
            }
            return h;
        }
        let mut extensions_seen = false;
        let mut from_signature = None;
        for i in self.items() {
            let used = match meaning(&i) {
                Meaning::ChallengePassword => !core::mem::replace(&mut h.challenge_password, true),
                Meaning::Hash(hash) => first_wins(&mut h.hash, hash),
                Meaning::Signature(hash, k) => {
                    from_signature = from_signature.or(Some(k));
                    first_wins(&mut h.hash, hash)
                }
                Meaning::Key(k) => match h.key {
                    Some(old) if !old.refined_by(&k) => old == k || k.refined_by(&old),
                    _ => {
                        h.key = Some(k);
                        true
                    }
                },
                Meaning::Extensions(e) if !extensions_seen => {
                    extensions_seen = true;
                    h.add_extensions(e);
                    true
                }
                Meaning::Extensions(_) | Meaning::Template(_) | Meaning::NotUnderstood => false,
            };
            if !used {
                h.not_understood = h.not_understood.saturating_add(1);
            }
        }
        if h.key.is_none() {
            h.key = from_signature;
        }
        h
    }
}

/// Sets `slot` to `v` unless it is set; whether `v` agrees with what it holds.
fn first_wins<T: PartialEq>(slot: &mut Option<T>, v: T) -> bool {
    match slot {
        Some(old) => *old == v,
        None => {
            *slot = Some(v);
            true
        }
    }
}

/// What [`CsrAttrs::hints`] makes of the attributes, ready for
/// [`CsrBuilder`](crate::asn1::csr::CsrBuilder):
///
/// ```text
/// let mut builder = CsrBuilder::new(&subject).extensions(&hints.extensions);
/// if hints.challenge_password { builder = builder.challenge_password(..) }
/// key.sign(hints.hash.unwrap_or(HashAlgorithm::Sha256), ..)
/// ```
///
/// Extensions in [`extensions`](Self::extensions) are complete: pass them as they are and do
/// not also set the same ones through the builder's own methods (a CSR must not repeat an
/// extension). Those in [`to_fill`](Self::to_fill) need the client's own values (check with
/// [`requests_extension`](Self::requests_extension)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrHints<'a> {
    /// Put a challengePassword into the CSR (EST: the tls-unique PoP linking value).
    pub challenge_password: bool,
    /// The hash to sign with.
    pub hash: Option<HashAlgorithm>,
    /// The key to use.
    pub key: Option<KeyRequest>,
    /// The subject to use (RFC 9908 template only); see [`SubjectTemplate::fill`].
    pub subject: Option<SubjectTemplate<'a>>,
    /// Extensions to copy into the CSR as they are (the server fixed their values).
    pub extensions: heapless::Vec<Extension<'a>, MAX_HINT_EXTENSIONS>,
    /// Extensions the client must complete: no value given (RFC 9908 `ExtensionTemplate`), or
    /// a subjectAltName with placeholder entries (see [`RequestedExtension::is_complete`]).
    pub to_fill: heapless::Vec<RequestedExtension<'a>, MAX_HINT_EXTENSIONS>,
    /// Whether the hints come from an RFC 9908 template.
    pub from_template: bool,
    /// Items (or, with a template, template attributes) not understood, repeated ones, and
    /// extensions beyond [`MAX_HINT_EXTENSIONS`]; see [`CsrAttrs::not_understood`].
    pub not_understood: u16,
    /// Items ignored because a template was used.
    pub ignored: u16,
}

impl<'a> CsrHints<'a> {
    /// Whether the server asks for an extension of type `o` (complete or to fill in).
    pub fn requests_extension(&self, o: &ObjectIdentifier) -> bool {
        self.extensions.iter().any(|e| e.oid == *o) || self.to_fill.iter().any(|e| e.oid == *o)
    }

    /// Whether the server asks for a subjectAltName.
    pub fn requests_subject_alt_name(&self) -> bool {
        self.requests_extension(&oid::SUBJECT_ALT_NAME)
    }

    /// Whether the server asks for an extKeyUsage.
    pub fn requests_ext_key_usage(&self) -> bool {
        self.requests_extension(&oid::EXT_KEY_USAGE)
    }

    fn add_extensions(&mut self, list: RequestedExtensions<'a>) {
        for e in list {
            let stored = match e.as_extension() {
                Some(x) if e.is_complete() => self.extensions.push(x).is_ok(),
                _ => self.to_fill.push(e).is_ok(),
            };
            if !stored {
                self.not_understood = self.not_understood.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asn1::csr::NameAttribute;
    use std::vec::Vec;

    const RFC7030_EXAMPLE: &[u8] = b"MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==";
    const LIBEST_DEFAULT: &[u8] = b"MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg==\0";
    const LIBEST_CUSTOM: &[u8] = b"MIGBBgkqhkiG9w0BCQcwFQYHKoZIzj0CATEKBggqhkjOPQMBBzBTBgkqhkiG9w0BCQ4xRjBEMB0GA1UdEQQWMBSCEmRldmljZS5leGFtcGxlLmNvbTAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwIGCCqGSM49BAMC";
    const MAC_ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.1.1.1.22");

    fn decode(b64: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0u8; b64.len()];
        let n = crate::http::base64::decode(b64, &mut out).unwrap().len();
        out.truncate(n);
        out
    }

    /// A DER element (short and long form lengths).
    pub(super) fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
        let mut v = std::vec![t];
        match content.len() {
            n @ 0..=0x7f => v.push(n as u8),
            n @ 0x80..=0xff => v.extend([0x81, n as u8]),
            n => v.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        v.extend_from_slice(content);
        v
    }

    pub(super) fn oid_der(o: &ObjectIdentifier) -> Vec<u8> {
        tlv(tag::OID, o.as_bytes())
    }

    pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn rfc7030_example_items_one_by_one() {
        let der = decode(RFC7030_EXAMPLE);
        let attrs = CsrAttrs::parse(&der).unwrap();
        let items: Vec<CsrAttr<'_>> = attrs.items().collect();
        assert_eq!(items.len(), 4);
        assert!(matches!(items[0], CsrAttr::Oid(o) if o == oid::CHALLENGE_PASSWORD));
        match items[1] {
            CsrAttr::Attribute { oid: o, mut values, .. } => {
                assert_eq!(o, oid::EC_PUBLIC_KEY);
                assert_eq!(values.next().unwrap().unwrap().oid().unwrap(), oid::SECP384R1);
                assert!(values.next().is_none());
            }
            _ => panic!("item 1 is the ecPublicKey attribute"),
        }
        match items[2] {
            CsrAttr::Attribute { oid: o, mut values, raw } => {
                assert_eq!(o, oid::EXTENSION_REQUEST);
                assert_eq!(values.next().unwrap().unwrap().oid().unwrap(), MAC_ADDRESS);
                assert_eq!(raw, &der[33..57]);
            }
            _ => panic!("item 2 is the extensionRequest attribute"),
        }
        assert!(matches!(items[3], CsrAttr::Oid(o) if o == oid::ECDSA_WITH_SHA384));

        assert!(attrs.challenge_password_requested());
        assert_eq!(attrs.requested_hash(), Some(HashAlgorithm::Sha384));
        assert_eq!(attrs.requested_signature_algorithm(), Some(oid::ECDSA_WITH_SHA384));
        assert_eq!(attrs.requested_key(), Some(KeyRequest::Ec { curve: Some(EcCurve::P384) }));
        // RFC 9908 calls this example wrong: its extensionRequest is not an Extensions; not understood.
        assert!(attrs.extension_request().is_none());
        let odd: Vec<ObjectIdentifier> = attrs.not_understood().map(|i| i.oid()).collect();
        assert_eq!(odd, [oid::EXTENSION_REQUEST]);
        assert!(attrs.template().is_none());

        let h = attrs.hints();
        assert!(h.challenge_password && !h.from_template);
        assert_eq!((h.hash, h.key), (Some(HashAlgorithm::Sha384), Some(KeyRequest::Ec { curve: Some(EcCurve::P384) })));
        assert!(h.extensions.is_empty() && h.to_fill.is_empty() && h.subject.is_none());
        assert_eq!((h.not_understood, h.ignored), (1, 0));
        assert!(!h.key.unwrap().accepts(KeyType::EcP256), "P-384 asked");
        assert_eq!(h.key.unwrap().key_type(), None);
    }

    #[test]
    fn libest_default_with_trailing_nul() {
        let mut out = [0u8; 64];
        let attrs = CsrAttrs::from_base64(LIBEST_DEFAULT, &mut out).unwrap();
        let oids: Vec<ObjectIdentifier> = attrs.items().map(|i| i.oid()).collect();
        assert_eq!(oids, [MAC_ADDRESS, oid::EMAIL_ADDRESS, oid::SECP384R1, oid::SHA384]);
        assert!(!attrs.challenge_password_requested(), "libest's comment says it does; it does not");
        let h = attrs.hints();
        assert_eq!(h.hash, Some(HashAlgorithm::Sha384));
        assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P384) }));
        assert_eq!(h.not_understood, 2, "macAddress and emailAddress");
        assert_eq!(attrs.not_understood().map(|i| i.oid()).collect::<Vec<_>>(), [MAC_ADDRESS, oid::EMAIL_ADDRESS]);
    }

    #[test]
    fn libest_custom_extension_request() {
        let mut out = [0u8; 256];
        let attrs = CsrAttrs::from_base64(LIBEST_CUSTOM, &mut out).unwrap();
        let h = attrs.hints();
        assert!(h.challenge_password);
        assert_eq!(h.hash, Some(HashAlgorithm::Sha256));
        assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }));
        assert_eq!(h.key.unwrap().key_type(), Some(KeyType::EcP256));
        assert_eq!(h.not_understood, 0);
        let oids: Vec<ObjectIdentifier> = h.extensions.iter().map(|e| e.oid).collect();
        assert_eq!(oids, [oid::SUBJECT_ALT_NAME, oid::KEY_USAGE, oid::EXT_KEY_USAGE]);
        assert!(h.extensions[1].critical);
        assert_eq!(h.extensions[1].value, [0x03, 0x02, 0x07, 0x80]);
        assert!(h.requests_subject_alt_name() && h.requests_ext_key_usage());
        let exts: Vec<RequestedExtension<'_>> = attrs.extension_request().unwrap().collect();
        assert_eq!(exts[0].subject_alt_names().collect::<Vec<_>>(), [GeneralName::Dns("device.example.com")]);
        assert_eq!(exts[2].ext_key_usages().collect::<Vec<_>>(), [oid::KP_CLIENT_AUTH]);
        assert!(exts.iter().all(|e| e.is_complete()));
    }

    #[test]
    fn empty_responses_ask_for_nothing() {
        for der in [&[][..], &[0x30, 0x00][..]] {
            let a = CsrAttrs::parse(der).unwrap();
            assert!(a.is_empty() && a.items().next().is_none());
            assert_eq!(a.hints(), CsrHints::default());
        }
        let mut out = [0u8; 8];
        assert!(CsrAttrs::from_base64(b"", &mut out).unwrap().is_empty());
        assert!(CsrAttrs::from_base64(b"MAA=\n", &mut out).unwrap().is_empty());
    }

    #[test]
    fn malformed_der_is_a_typed_error() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[0x30], DecodeError::Truncated),
            (&[0x30, 0x03, 0x06, 0x01], DecodeError::Truncated),
            (&[0x30, 0x00, 0x00], DecodeError::TrailingData),
            (&[0x31, 0x00], DecodeError::UnexpectedTag { expected: tag::SEQUENCE, found: tag::SET }),
            (&[0x30, 0x80, 0x00, 0x00], DecodeError::IndefiniteLength),
            (&[0x30, 0x02, 0x02, 0x00], DecodeError::UnexpectedTag { expected: tag::SEQUENCE, found: tag::INTEGER }),
            // An attribute without values, and one whose type is not an OID.
            (&[0x30, 0x07, 0x30, 0x05, 0x06, 0x03, 0x55, 0x04, 0x03], DecodeError::Truncated),
            (&[0x30, 0x06, 0x30, 0x04, 0x02, 0x00, 0x31, 0x00], DecodeError::UnexpectedTag { expected: tag::OID, found: tag::INTEGER }),
        ];
        for (der, err) in cases {
            assert_eq!(CsrAttrs::parse(der).unwrap_err(), *err, "{der:02x?}");
        }
        // An empty OID.
        assert!(matches!(CsrAttrs::parse(&[0x30, 0x02, 0x06, 0x00]), Err(DecodeError::InvalidValue { .. })));
        let mut out = [0u8; 8];
        assert!(CsrAttrs::from_base64(b"MA*=", &mut out).is_err());
    }

    #[test]
    fn known_attributes_in_odd_shapes_are_not_understood() {
        let challenge_attr = tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::CHALLENGE_PASSWORD), &tlv(tag::SET, &tlv(tag::UTF8_STRING, b"x"))]));
        let ec_no_curve = tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::EC_PUBLIC_KEY), &tlv(tag::SET, &tlv(tag::NULL, &[]))]));
        let rsa_bits = tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::RSA_ENCRYPTION), &tlv(tag::SET, &tlv(tag::INTEGER, &[0x0c, 0x00]))]));
        let rsa_huge = tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::RSA_ENCRYPTION), &tlv(tag::SET, &tlv(tag::INTEGER, &[0x01, 0x00, 0x00]))]));
        let empty_values = tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::EXTENSION_REQUEST), &tlv(tag::SET, &[])]));
        let der =
            tlv(tag::SEQUENCE, &cat(&[&challenge_attr, &ec_no_curve, &rsa_bits, &rsa_huge, &empty_values, &oid_der(&oid::RSASSA_PSS)]));
        let attrs = CsrAttrs::parse(&der).unwrap();
        assert!(attrs.challenge_password_requested());
        assert_eq!(attrs.requested_key(), Some(KeyRequest::Rsa { bits: Some(3072) }));
        let h = attrs.hints();
        assert!(h.challenge_password);
        assert_eq!(h.key, Some(KeyRequest::Rsa { bits: Some(3072) }));
        assert!(h.key.unwrap().accepts(KeyType::Rsa { bits: 3072 }) && !h.key.unwrap().accepts(KeyType::Rsa { bits: 2048 }));
        assert_eq!(h.hash, None);
        assert_eq!(h.not_understood, 4, "ecPublicKey with NULL, 65536-bit RSA, empty values, bare PSS");
    }

    #[test]
    fn later_conflicting_requests_are_counted_and_the_first_wins() {
        let der = tlv(
            tag::SEQUENCE,
            &cat(&[
                &oid_der(&oid::SHA256_WITH_RSA),
                &oid_der(&oid::ECDSA_WITH_SHA384),
                &oid_der(&oid::RSA_ENCRYPTION),
                &oid_der(&oid::SECP256R1),
                &oid_der(&oid::CHALLENGE_PASSWORD),
                &oid_der(&oid::CHALLENGE_PASSWORD),
            ]),
        );
        let h = CsrAttrs::parse(&der).unwrap().hints();
        assert_eq!(h.hash, Some(HashAlgorithm::Sha256));
        assert_eq!(h.key, Some(KeyRequest::Rsa { bits: None }));
        assert!(h.challenge_password);
        assert_eq!(h.not_understood, 3, "the second hash, the curve and the repeated challengePassword");
        // Only a signature algorithm: its key family.
        let der = tlv(tag::SEQUENCE, &oid_der(&oid::ECDSA_WITH_SHA256));
        let h = CsrAttrs::parse(&der).unwrap().hints();
        assert_eq!(h.key, Some(KeyRequest::Ec { curve: None }));
        assert!(h.key.unwrap().accepts(KeyType::EcP256));
    }

    pub(super) fn extension_der(o: &ObjectIdentifier, critical: bool, value: Option<&[u8]>) -> Vec<u8> {
        let mut c = oid_der(o);
        if critical {
            c.extend(tlv(tag::BOOLEAN, &[0xff]));
        }
        if let Some(v) = value {
            c.extend(tlv(tag::OCTET_STRING, v));
        }
        tlv(tag::SEQUENCE, &c)
    }

    pub(super) fn attribute_der(o: &ObjectIdentifier, values: &[u8]) -> Vec<u8> {
        tlv(tag::SEQUENCE, &cat(&[&oid_der(o), &tlv(tag::SET, values)]))
    }

    /// The RFC 9908 example template (subject CN to fill in, two OUs given, a
    /// P-256 key, SAN with a DNS name and an IP to fill in, KU critical, EKU to fill in).
    fn rfc9908_template() -> Vec<u8> {
        let rdn = |o: &ObjectIdentifier, v: Option<&str>| {
            let mut atv = oid_der(o);
            if let Some(v) = v {
                atv.extend(tlv(tag::UTF8_STRING, v.as_bytes()));
            }
            tlv(tag::SET, &tlv(tag::SEQUENCE, &atv))
        };
        let subject = tlv(
            tag::SEQUENCE,
            &cat(&[
                &rdn(&oid::COMMON_NAME, None),
                &rdn(&oid::ORGANIZATIONAL_UNIT, Some("myDept")),
                &rdn(&oid::ORGANIZATIONAL_UNIT, Some("myGroup")),
            ]),
        );
        let spki = tlv(tag::context(0), &tlv(tag::SEQUENCE, &cat(&[&oid_der(&oid::EC_PUBLIC_KEY), &oid_der(&oid::SECP256R1)])));
        let san = tlv(tag::SEQUENCE, &cat(&[&tlv(0x82, b"www.myServer.com"), &tlv(0x87, &[])]));
        let exts = tlv(
            tag::SEQUENCE,
            &cat(&[
                &extension_der(&oid::SUBJECT_ALT_NAME, false, Some(&san)),
                &extension_der(&oid::KEY_USAGE, true, Some(&[0x03, 0x02, 0x03, 0x88])),
                &extension_der(&oid::EXT_KEY_USAGE, false, None),
            ]),
        );
        let attrs = tlv(tag::context(1), &attribute_der(&oid::EXTENSION_REQ_TEMPLATE, &exts));
        tlv(tag::SEQUENCE, &cat(&[&tlv(tag::INTEGER, &[0]), &subject, &spki, &attrs]))
    }

    #[test]
    fn rfc9908_template_wins_over_the_rest() {
        let der = tlv(
            tag::SEQUENCE,
            &cat(&[
                &oid_der(&oid::ECDSA_WITH_SHA384),
                &attribute_der(&oid::CERTIFICATION_REQUEST_INFO_TEMPLATE, &rfc9908_template()),
                &oid_der(&oid::CHALLENGE_PASSWORD),
            ]),
        );
        let attrs = CsrAttrs::parse(&der).unwrap();
        let t = attrs.template().unwrap();
        assert_eq!(t.key(), Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }));
        let h = attrs.hints();
        assert!(h.from_template);
        assert_eq!(h.ignored, 2);
        assert_eq!(h.not_understood, 0);
        assert!(!h.challenge_password, "the template does not ask for one; the bare OID is ignored");
        assert_eq!(h.hash, None, "a template has no signature algorithm");
        assert_eq!(attrs.requested_hash(), Some(HashAlgorithm::Sha384));
        assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }));
        let subject = h.subject.unwrap();
        let attrs_of: Vec<(ObjectIdentifier, Option<&str>)> = subject.attributes().map(|a| (a.oid, a.as_str())).collect();
        assert_eq!(
            attrs_of,
            [(oid::COMMON_NAME, None), (oid::ORGANIZATIONAL_UNIT, Some("myDept")), (oid::ORGANIZATIONAL_UNIT, Some("myGroup"))]
        );
        let filled: heapless::Vec<NameAttribute<'_>, 4> = subject.fill(|o| (*o == oid::COMMON_NAME).then_some("dev-1")).unwrap();
        assert_eq!(
            filled,
            [
                NameAttribute::common_name("dev-1"),
                NameAttribute::organizational_unit("myDept"),
                NameAttribute::organizational_unit("myGroup")
            ]
        );
        assert_eq!(subject.fill::<4, _>(|_| None), Err(FillError::Missing { oid: oid::COMMON_NAME }));
        assert_eq!(subject.fill::<2, _>(|_| Some("x")), Err(FillError::TooMany));

        assert_eq!(h.extensions.iter().map(|e| e.oid).collect::<Vec<_>>(), [oid::KEY_USAGE]);
        assert_eq!(h.to_fill.iter().map(|e| e.oid).collect::<Vec<_>>(), [oid::SUBJECT_ALT_NAME, oid::EXT_KEY_USAGE]);
        let san: Vec<GeneralName<'_>> = h.to_fill[0].subject_alt_names().collect();
        assert_eq!(san, [GeneralName::Dns("www.myServer.com"), GeneralName::Ip(&[])]);
        assert_eq!(h.to_fill[1].value, None);
        assert!(h.requests_subject_alt_name() && h.requests_ext_key_usage());
    }

    #[test]
    fn too_many_extensions_are_counted() {
        let list: Vec<u8> = (0..10u32)
            .flat_map(|i| extension_der(&ObjectIdentifier::new_unwrap("1.2.3").push_arc(i).unwrap(), false, Some(&[5, 0])))
            .collect();
        let der = tlv(tag::SEQUENCE, &attribute_der(&oid::EXTENSION_REQUEST, &tlv(tag::SEQUENCE, &list)));
        let h = CsrAttrs::parse(&der).unwrap().hints();
        assert_eq!(h.extensions.len(), MAX_HINT_EXTENSIONS);
        assert_eq!(h.not_understood, 2);
    }

    #[test]
    fn never_panics_on_truncations_and_bit_flips() {
        let mut inputs = std::vec![
            decode(RFC7030_EXAMPLE),
            decode(LIBEST_CUSTOM),
            tlv(tag::SEQUENCE, &attribute_der(&oid::CERTIFICATION_REQUEST_INFO_TEMPLATE, &rfc9908_template()))
        ];
        let base = inputs.clone();
        for der in &base {
            for cut in 0..der.len() {
                inputs.push(der[..cut].to_vec());
            }
            for i in 0..der.len() {
                for bit in 0..8 {
                    let mut m = der.clone();
                    m[i] ^= 1 << bit;
                    inputs.push(m);
                }
            }
        }
        for der in &inputs {
            if let Ok(a) = CsrAttrs::parse(der) {
                let h = a.hints();
                let _ = (a.requested_key(), a.requested_hash(), a.template(), a.not_understood().count(), a.challenge_password_requested());
                if let Some(s) = h.subject {
                    let _ = s.fill::<8, _>(|_| Some("x"));
                }
                for e in h.to_fill.iter() {
                    let _ = (e.subject_alt_names().count(), e.ext_key_usages().count(), e.is_complete());
                }
            }
        }
    }
}
