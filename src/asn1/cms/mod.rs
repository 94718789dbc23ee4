//! Cryptographic Message Syntax (RFC 5652): what SCEP wraps its messages in and EST returns
//! certificates in.
//!
//! - [`signed_data`]: SignedData parse and verify (one or more signers; signer found by
//!   IssuerAndSerialNumber or SubjectKeyIdentifier), build (one signer, signed attributes),
//!   and the degenerate certs-only form (RFC 5652 section 5, "certs-only").
//! - [`enveloped_data`]: EnvelopedData build with KeyTransRecipientInfo to an RSA
//!   certificate, and parse + decrypt with KTRI (RSA), KARI (ECDH P-256, RFC 5753) and PWRI
//!   (RFC 3211, a password). The device's key is not called here: the codec names the key
//!   operation and takes its result.
//!
//! Parsing is DER; run BER input (what servers send) through [`super::ber::normalize`]
//! first. `ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }`.

pub mod enveloped_data;
pub mod signed_data;

use super::cert::CertificateRef;
use super::name::NameRef;
use super::tlv::{Tlv, tag};
use super::writer::Writer;
use crate::error::{DecodeError, EncodeError};
use der::asn1::ObjectIdentifier;

/// Reads `ContentInfo` and returns its type and the `[0]` content element.
pub fn content_info(der_bytes: &[u8]) -> Result<(ObjectIdentifier, Tlv<'_>), DecodeError> {
    let mut c = Tlv::parse_exact(der_bytes)?.with_tag(tag::SEQUENCE)?.children();
    let content_type = c.expect_next(tag::OID)?.oid()?;
    let explicit = c.expect_next(tag::context(0))?;
    c.finish()?;
    Ok((content_type, Tlv::parse_exact(explicit.value)?))
}

/// Writes `ContentInfo` around the content `f` writes.
pub fn write_content_info<F>(w: &mut Writer<'_>, content_type: &ObjectIdentifier, f: F) -> Result<(), EncodeError>
where
    F: Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
{
    w.sequence(|w| {
        w.oid(content_type)?;
        w.tlv(tag::context(0), &f)
    })
}

/// `IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerAndSerial<'a> {
    /// The issuer name.
    pub issuer: NameRef<'a>,
    /// The serial number's INTEGER contents.
    pub serial: &'a [u8],
}

/// How a signer or recipient is identified (`SignerIdentifier`, `RecipientIdentifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// By issuer and serial number.
    IssuerAndSerial(IssuerAndSerial<'a>),
    /// By subject key identifier (`[0] IMPLICIT SubjectKeyIdentifier`).
    SubjectKeyId(&'a [u8]),
}

impl<'a> Identifier<'a> {
    /// Reads a SignerIdentifier / RecipientIdentifier element.
    pub fn from_tlv(t: Tlv<'a>) -> Result<Self, DecodeError> {
        match t.tag {
            tag::SEQUENCE => {
                let mut c = t.children();
                let issuer = NameRef::from_tlv(c.expect_next(tag::SEQUENCE)?)?;
                let serial = c.expect_next(tag::INTEGER)?.value;
                c.finish()?;
                Ok(Self::IssuerAndSerial(IssuerAndSerial { issuer, serial }))
            }
            0x80 => Ok(Self::SubjectKeyId(t.value)),
            found => Err(DecodeError::UnexpectedTag { expected: tag::SEQUENCE, found }),
        }
    }

    /// Whether this identifies `cert`.
    pub fn matches(&self, cert: &CertificateRef<'_>) -> bool {
        match self {
            Self::IssuerAndSerial(is) => is.issuer.as_der() == cert.issuer().as_der() && is.serial == cert.serial(),
            Self::SubjectKeyId(ski) => cert.subject_key_identifier() == Some(*ski),
        }
    }
}

/// Writes `IssuerAndSerialNumber` for `cert`.
pub fn write_issuer_and_serial(w: &mut Writer<'_>, cert: &CertificateRef<'_>) -> Result<(), EncodeError> {
    w.sequence(|w| {
        w.raw(cert.issuer().as_der())?;
        w.primitive(tag::INTEGER, cert.serial())
    })
}
