//! SignedData (RFC 5652 section 5):
//!
//! ```text
//! SignedData ::= SEQUENCE {
//!   version CMSVersion,
//!   digestAlgorithms SET OF DigestAlgorithmIdentifier,
//!   encapContentInfo EncapsulatedContentInfo,
//!   certificates [0] IMPLICIT CertificateSet OPTIONAL,
//!   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!   signerInfos SET OF SignerInfo }
//! EncapsulatedContentInfo ::= SEQUENCE {
//!   eContentType ContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
//! SignerInfo ::= SEQUENCE {
//!   version CMSVersion, sid SignerIdentifier, digestAlgorithm DigestAlgorithmIdentifier,
//!   signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
//!   signatureAlgorithm SignatureAlgorithmIdentifier, signature SignatureValue,
//!   unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
//! ```

use super::{Identifier, write_content_info, write_issuer_and_serial};
use crate::asn1::algorithm::{AlgorithmIdentifierRef, SignatureAlgorithm, digest_algorithm, hash_oid};
use crate::asn1::cert::CertificateRef;
use crate::asn1::csr::{SignFn, SignResult};
use crate::asn1::oid;
use crate::asn1::tlv::{Cursor, Tlv, tag};
use crate::asn1::writer::{Writer, encode, measure};
use crate::crypto::KeyType;
use crate::crypto::{Digest, HashAlgorithm};
use crate::error::{CmsError, DecodeError, EncodeError};
use crate::time::UnixTime;
use der::asn1::ObjectIdentifier;

/// A parsed SignedData (inside its ContentInfo), borrowing the DER.
#[derive(Debug, Clone, Copy)]
pub struct SignedDataRef<'a> {
    content_type: ObjectIdentifier,
    content: Option<&'a [u8]>,
    certificates: &'a [u8],
    crls: &'a [u8],
    signer_infos: &'a [u8],
}

/// One SignerInfo.
#[derive(Debug, Clone, Copy)]
pub struct SignerInfoRef<'a> {
    /// Who signed.
    pub sid: Identifier<'a>,
    /// The digest algorithm.
    pub digest_algorithm: HashAlgorithm,
    signed_attrs: Option<Tlv<'a>>,
    signature_algorithm: AlgorithmIdentifierRef<'a>,
    signature: &'a [u8],
}

impl<'a> SignedDataRef<'a> {
    /// Parses a DER ContentInfo holding SignedData.
    pub fn parse(der_bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (ct, content) = super::content_info(der_bytes)?;
        if !oid::same(&ct, &oid::SIGNED_DATA) {
            return Err(DecodeError::Unsupported { what: "content type (expected signedData)" });
        }
        let mut c = content.with_tag(tag::SEQUENCE)?.children();
        let version = c.expect_next(tag::INTEGER)?.small_integer()?;
        if !(1..=5).contains(&version) {
            return Err(DecodeError::Unsupported { what: "SignedData version" });
        }
        // digestAlgorithms: checked for form only; each SignerInfo names its own.
        for d in c.expect_next(tag::SET)?.children() {
            AlgorithmIdentifierRef::from_tlv(d?)?;
        }
        let mut eci = c.expect_next(tag::SEQUENCE)?.children();
        let content_type = eci.expect_next(tag::OID)?.oid()?;
        let content = match eci.optional(tag::context(0))? {
            Some(explicit) => Some(Tlv::parse_exact(explicit.value)?.with_tag(tag::OCTET_STRING)?.value),
            None => None,
        };
        eci.finish()?;
        let certificates = c.optional(tag::context(0))?.map(|t| t.value).unwrap_or(&[]);
        let crls = c.optional(tag::context(1))?.map(|t| t.value).unwrap_or(&[]);
        let signer_infos = c.expect_next(tag::SET)?.value;
        c.finish()?;
        for cert in Cursor::new(certificates) {
            let cert = cert?;
            // CertificateChoices: only plain certificates are used; others are skipped.
            if cert.tag == tag::SEQUENCE {
                CertificateRef::from_tlv(cert)?;
            }
        }
        for crl in Cursor::new(crls) {
            crl?;
        }
        for si in Cursor::new(signer_infos) {
            SignerInfoRef::from_tlv(si?)?;
        }
        Ok(Self { content_type, content, certificates, crls, signer_infos })
    }

    /// The encapsulated content type.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The encapsulated content, if attached.
    pub fn content(&self) -> Option<&'a [u8]> {
        self.content
    }

    /// The certificates carried in the message.
    pub fn certificates(&self) -> impl Iterator<Item = CertificateRef<'a>> + use<'a> {
        Cursor::new(self.certificates).filter_map(|t| t.ok().and_then(|t| CertificateRef::from_tlv(t).ok()))
    }

    /// The CRLs (or other revocation info), each as its DER element.
    pub fn crls(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        Cursor::new(self.crls).filter_map(|t| t.ok().map(|t| t.raw))
    }

    /// The SignerInfos.
    pub fn signer_infos(&self) -> impl Iterator<Item = SignerInfoRef<'a>> + 'a {
        Cursor::new(self.signer_infos).filter_map(|t| t.ok().and_then(|t| SignerInfoRef::from_tlv(t).ok()))
    }

    /// Verifies the message: finds a SignerInfo whose signer is `signer` (when given) or one
    /// of the message's own certificates, checks the content-type and message-digest
    /// attributes against the content, and the signature over the signed attributes.
    ///
    /// Returns the SignerInfo and the certificate that verified it. Whether that certificate
    /// is trusted is the caller's decision (chain it to a trust anchor, or compare it with
    /// the CA/RA certificate it expects).
    pub fn verify(&self, signer: Option<&CertificateRef<'a>>) -> Result<(SignerInfoRef<'a>, CertificateRef<'a>), CmsError> {
        let mut any = false;
        let mut last_err = CmsError::SignerNotFound;
        for si in self.signer_infos() {
            any = true;
            let candidate = match signer {
                Some(c) if si.sid.matches(c) => Some(*c),
                Some(_) => None,
                None => self.certificates().find(|c| si.sid.matches(c)),
            };
            let Some(cert) = candidate else { continue };
            match si.verify(self.content_type, self.content, &cert) {
                Ok(()) => return Ok((si, cert)),
                Err(e) => last_err = e,
            }
        }
        if !any {
            return Err(CmsError::NotSigned);
        }
        Err(last_err)
    }
}

impl<'a> SignerInfoRef<'a> {
    fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        let mut c = t.with_tag(tag::SEQUENCE)?.children();
        let version = c.expect_next(tag::INTEGER)?.small_integer()?;
        let sid = Identifier::from_tlv(c.next_any()?)?;
        match (version, &sid) {
            (1, Identifier::IssuerAndSerial(_)) | (3, Identifier::SubjectKeyId(_)) => {}
            _ => return Err(DecodeError::InvalidValue { what: "SignerInfo version" }),
        }
        let digest_algorithm = digest_algorithm(c.expect_next(tag::SEQUENCE)?)?;
        let signed_attrs = c.optional(tag::context(0))?;
        if let Some(attrs) = signed_attrs {
            for a in attrs.children() {
                let mut ac = a?.with_tag(tag::SEQUENCE)?.children();
                ac.expect_next(tag::OID)?.oid()?;
                ac.expect_next(tag::SET)?;
                ac.finish()?;
            }
        }
        let signature_algorithm = AlgorithmIdentifierRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
        let signature = c.expect_next(tag::OCTET_STRING)?.value;
        c.optional(tag::context(1))?;
        c.finish()?;
        Ok(Self { sid, digest_algorithm, signed_attrs, signature_algorithm, signature })
    }

    /// The first value of signed attribute `attr`, if present.
    pub fn signed_attribute(&self, attr: &ObjectIdentifier) -> Option<Tlv<'a>> {
        let attrs = self.signed_attrs?;
        attrs.children().filter_map(Result::ok).find_map(|a| {
            let mut c = a.children();
            let o = c.expect_next(tag::OID).ok()?.oid().ok()?;
            if !oid::same(&o, attr) {
                return None;
            }
            c.expect_next(tag::SET).ok()?.children().next()?.ok()
        })
    }

    /// The signature scheme.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, DecodeError> {
        SignatureAlgorithm::from_identifier(&self.signature_algorithm, Some(self.digest_algorithm))
    }

    fn verify(&self, content_type: ObjectIdentifier, content: Option<&[u8]>, cert: &CertificateRef<'_>) -> Result<(), CmsError> {
        let alg = self.signature_algorithm()?;
        // A digest the build lacks (or a SHA-1 signature without `legacy-crypto`) is refused
        // before anything is hashed.
        crate::crypto::rsa::check_signature_hash(alg.hash()).map_err(CmsError::Signature)?;
        let content = content.unwrap_or(&[]);
        let content_digest = self.digest_algorithm.digest(content).map_err(CmsError::Signature)?;
        let to_verify: Digest = match self.signed_attrs {
            Some(attrs) => {
                let ct = self.signed_attribute(&oid::CONTENT_TYPE).ok_or(CmsError::MissingSignedAttribute)?;
                if !oid::same(&ct.oid()?, &content_type) {
                    return Err(CmsError::ContentTypeMismatch);
                }
                let md = self.signed_attribute(&oid::MESSAGE_DIGEST).ok_or(CmsError::MissingSignedAttribute)?;
                if md.with_tag(tag::OCTET_STRING)?.value != content_digest.as_bytes() {
                    return Err(CmsError::DigestMismatch);
                }
                // The signature covers the DER of the attributes with the SET OF tag
                // (RFC 5652 section 5.4), not the [0] IMPLICIT tag they travel with.
                let mut h = crate::crypto::digest::Hasher::new(self.digest_algorithm).map_err(CmsError::Signature)?;
                h.update(&[tag::SET]);
                h.update(attrs.raw.get(1..).unwrap_or(&[]));
                h.finalize()
            }
            None if oid::same(&content_type, &oid::DATA) => content_digest,
            None => return Err(CmsError::MissingSignedAttribute),
        };
        let digest = if alg.hash() == self.digest_algorithm {
            to_verify
        } else {
            return Err(CmsError::Signature(crate::CryptoError::UnsupportedAlgorithm));
        };
        cert.spki().verify_digest(alg, &digest, self.signature).map_err(CmsError::Signature)
    }
}

/// An extra signed attribute: its type and the DER of its single value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// DER of the one value (e.g. a PrintableString element).
    pub value: &'a [u8],
}

/// A SignedData to build with one signer.
#[derive(Debug, Clone, Copy)]
pub struct SignedDataBuilder<'a> {
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// The content (attached).
    pub content: &'a [u8],
    /// The signer's certificate (identifies the signer by issuer and serial; included in
    /// the message).
    pub signer_certificate: CertificateRef<'a>,
    /// The digest algorithm.
    pub digest: HashAlgorithm,
    /// Signed attributes besides content-type, message-digest and signing-time (SCEP's).
    pub attributes: &'a [Attribute<'a>],
    /// How the SignerInfo names the signer.
    pub signer_id: SignerIdKind,
    /// A signing-time attribute (RFC 5652 section 11.3), when the device knows the time.
    pub signing_time: Option<UnixTime>,
}

/// How a built SignerInfo identifies its signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SignerIdKind {
    /// IssuerAndSerialNumber (SignerInfo version 1): what SCEP servers expect.
    #[default]
    IssuerAndSerial,
    /// `[0] SubjectKeyIdentifier` (version 3); the certificate must carry the extension.
    SubjectKeyId,
}

impl<'a> SignedDataBuilder<'a> {
    /// A builder with the defaults: IssuerAndSerialNumber, no signing-time, no extra
    /// attributes.
    pub fn new(content_type: ObjectIdentifier, content: &'a [u8], signer_certificate: CertificateRef<'a>, digest: HashAlgorithm) -> Self {
        Self {
            content_type,
            content,
            signer_certificate,
            digest,
            attributes: &[],
            signer_id: SignerIdKind::IssuerAndSerial,
            signing_time: None,
        }
    }
}

impl SignedDataBuilder<'_> {
    /// Writes the signed attributes as the DER `SET OF Attribute` that the signature covers
    /// (RFC 5652 section 5.4): hash this with the builder's digest and sign it, then
    /// [`assemble`](Self::assemble).
    pub fn encode_signed_attributes<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        self.check()?;
        let mut time_buf = [0u8; 17];
        let signing_time = self.signing_time.map(|t| crate::asn1::csr::encode_time(t, &mut time_buf)).transpose()?;
        let content_digest = self.digest.digest(self.content)?;
        encode(out, |w| self.write_attrs(w, tag::SET, content_digest.as_bytes(), signing_time))
    }

    /// Writes the whole ContentInfo with `signature` (the device key's signature over the
    /// digest of [`encode_signed_attributes`](Self::encode_signed_attributes): raw
    /// `r || s` for ECDSA, DER-encoded here) by a key of type `key`.
    pub fn assemble<'o>(&self, key: KeyType, signature: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        self.check()?;
        let mut der_sig = [0u8; crate::crypto::p256::MAX_DER_SIGNATURE_LEN];
        let sig = match key {
            KeyType::EcP256 => crate::crypto::p256::signature_raw_to_der(signature, &mut der_sig)?,
            KeyType::Rsa { .. } => signature,
        };
        let mut time_buf = [0u8; 17];
        let signing_time = self.signing_time.map(|t| crate::asn1::csr::encode_time(t, &mut time_buf)).transpose()?;
        let content_digest = self.digest.digest(self.content)?;
        encode(out, |w| self.write(w, key, sig, &|w| self.write_attrs(w, tag::context(0), content_digest.as_bytes(), signing_time)))
    }

    /// Has `sign` (the key of `signer_certificate`, of type `key`) sign and writes the
    /// ContentInfo into `out`: [`encode_signed_attributes`](Self::encode_signed_attributes),
    /// the signature and [`assemble`](Self::assemble) in one call, with `out` as the only
    /// buffer; what `hal::oneshot::sign_signed_data` runs with a HAL key. On
    /// [`EncodeError::BufferTooSmall`] the size is an upper bound (ECDSA signature lengths
    /// vary); nothing is written then.
    pub(crate) fn sign_in_place<'o>(&self, key: KeyType, out: &'o mut [u8], sign: SignFn<'_>) -> SignResult<'o> {
        self.check()?;
        let sig_max = match key {
            KeyType::EcP256 => crate::crypto::p256::MAX_DER_SIGNATURE_LEN,
            KeyType::Rsa { .. } => key.signature_len(),
        };
        let placeholder = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let mut time_buf = [0u8; 17];
        let signing_time = self.signing_time.map(|t| crate::asn1::csr::encode_time(t, &mut time_buf)).transpose()?;
        let content_digest = self.digest.digest(self.content)?;
        let attrs = |w: &mut Writer<'_>, t: u8| self.write_attrs(w, t, content_digest.as_bytes(), signing_time);
        let needed =
            measure(&|w: &mut Writer<'_>| self.write(w, key, placeholder.get(..sig_max).unwrap_or(&[]), &|w| attrs(w, tag::context(0))))?;
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        // The signed attributes are hashed from a scratch area at the end of `out`.
        let attrs_len = measure(&|w: &mut Writer<'_>| attrs(w, tag::SET))?;
        let scratch = out.len().checked_sub(attrs_len).ok_or(EncodeError::BufferTooSmall { needed: attrs_len })?;
        let attrs_der = encode(out.get_mut(scratch..).ok_or(EncodeError::BufferTooSmall { needed })?, |w| attrs(w, tag::SET))?;
        let digest = self.digest.digest(attrs_der)?;
        let mut raw = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let n = sign(&digest, &mut raw)?;
        self.assemble(key, raw.get(..n).ok_or(EncodeError::InvalidValue { what: "signature" })?, out)
    }

    fn check(&self) -> Result<(), EncodeError> {
        if self.signer_id == SignerIdKind::SubjectKeyId && self.signer_certificate.subject_key_identifier().is_none() {
            return Err(EncodeError::InvalidValue { what: "signer certificate has no subject key identifier" });
        }
        Ok(())
    }

    fn write_attrs(&self, w: &mut Writer<'_>, t: u8, content_digest: &[u8], signing_time: Option<&[u8]>) -> Result<(), EncodeError> {
        w.set_of(t, |w| {
            write_attribute(w, &oid::CONTENT_TYPE, |w| w.oid(&self.content_type))?;
            write_attribute(w, &oid::MESSAGE_DIGEST, |w| w.octet_string(content_digest))?;
            if let Some(st) = signing_time {
                write_attribute(w, &oid::SIGNING_TIME, |w| w.raw(st))?;
            }
            for a in self.attributes {
                write_attribute(w, &a.oid, |w| w.raw(a.value))?;
            }
            Ok(())
        })
    }

    fn write(
        &self,
        w: &mut Writer<'_>,
        key: KeyType,
        sig: &[u8],
        signed_attrs: &dyn Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        write_content_info(w, &oid::SIGNED_DATA, |w| {
            w.sequence(|w| {
                // RFC 5652 5.1: version 3 when a SignerInfo is version 3.
                w.small_integer(if self.signer_id == SignerIdKind::SubjectKeyId { 3 } else { 1 })?;
                w.set_of(tag::SET, |w| write_digest_algorithm(w, self.digest))?;
                w.sequence(|w| {
                    w.oid(&self.content_type)?;
                    w.tlv(tag::context(0), |w| w.octet_string(self.content))
                })?;
                w.set_of(tag::context(0), |w| w.raw(self.signer_certificate.as_der()))?;
                w.set_of(tag::SET, |w| {
                    w.sequence(|w| {
                        match self.signer_id {
                            SignerIdKind::IssuerAndSerial => {
                                w.small_integer(1)?;
                                write_issuer_and_serial(w, &self.signer_certificate)?;
                            }
                            SignerIdKind::SubjectKeyId => {
                                w.small_integer(3)?;
                                w.primitive(tag::context_primitive(0), self.signer_certificate.subject_key_identifier().unwrap_or(&[]))?;
                            }
                        }
                        write_digest_algorithm(w, self.digest)?;
                        signed_attrs(w)?;
                        match key {
                            // rsaEncryption as the signature algorithm, as RFC 3370 and
                            // OpenSSL do; the digest algorithm names the hash.
                            KeyType::Rsa { .. } => w.sequence(|w| {
                                w.oid(&oid::RSA_ENCRYPTION)?;
                                w.null()
                            })?,
                            KeyType::EcP256 => crate::asn1::csr::write_signature_algorithm(w, key, self.digest)?,
                        }
                        w.octet_string(sig)
                    })
                })
            })
        })
    }
}

fn write_attribute<F>(w: &mut Writer<'_>, o: &ObjectIdentifier, value: F) -> Result<(), EncodeError>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    w.sequence(|w| {
        w.oid(o)?;
        w.set_of(tag::SET, &value)
    })
}

fn write_digest_algorithm(w: &mut Writer<'_>, h: HashAlgorithm) -> Result<(), EncodeError> {
    w.sequence(|w| {
        w.oid(&hash_oid(h))?;
        w.null()
    })
}

/// Writes a degenerate "certs-only" SignedData (no signers, no content; RFC 5652 section
/// 5 and RFC 8894 section 3.4) carrying `certificates` and `crls` (each one DER element).
pub fn build_certs_only<'o>(certificates: &[&[u8]], crls: &[&[u8]], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    for c in certificates.iter().chain(crls) {
        Tlv::parse_exact(c).map_err(|_| EncodeError::InvalidValue { what: "certificate or CRL is not one DER element" })?;
    }
    encode(out, |w| {
        write_content_info(w, &oid::SIGNED_DATA, |w| {
            w.sequence(|w| {
                w.small_integer(1)?;
                w.raw(&[tag::SET, 0])?;
                w.sequence(|w| w.oid(&oid::DATA))?;
                if !certificates.is_empty() {
                    w.set_of(tag::context(0), |w| certificates.iter().try_for_each(|c| w.raw(c)))?;
                }
                if !crls.is_empty() {
                    w.set_of(tag::context(1), |w| crls.iter().try_for_each(|c| w.raw(c)))?;
                }
                w.raw(&[tag::SET, 0])
            })
        })
    })
}
