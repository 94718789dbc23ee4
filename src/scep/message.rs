//! SCEP messages (RFC 8894 section 3): the pkiMessage a client sends (a CMS SignedData over
//! an EnvelopedData, section 3.2) and the CertRep it receives (section 3.3.2).
//!
//! ```text
//! pkiMessage = SignedData {
//!     content: EnvelopedData(messageData)             -- pkcsPKIEnvelope
//!     signedAttrs: transactionID, messageType, senderNonce   (requests)
//!                  + pkiStatus, recipientNonce, failInfo, failInfoText   (CertRep)
//! }
//! ```

use crate::asn1::cert::CertificateRef;
use crate::asn1::cms::enveloped_data::{EnvelopedDataRef, build_for_rsa_recipient};
use crate::asn1::cms::signed_data::{Attribute, SignedDataBuilder, SignedDataRef};
use crate::asn1::oid;
use crate::asn1::tlv::{Tlv, tag};
use crate::asn1::writer::encode;
use crate::crypto::HashAlgorithm;
use crate::crypto::cbc::CbcCipher;
use crate::error::{CmsError, DecodeError, EncodeError};
use crate::hal::Signer;
use der::asn1::ObjectIdentifier;
use rand_core::CryptoRngCore;

/// SCEP signed-attribute OIDs (RFC 8894 section 3.2.1).
pub mod attr {
    use der::asn1::ObjectIdentifier as Oid;
    /// id-messageType (PrintableString, decimal)
    pub const MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
    /// id-pkiStatus (PrintableString, decimal)
    pub const PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
    /// id-failInfo (PrintableString, decimal)
    pub const FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
    /// id-senderNonce (OCTET STRING)
    pub const SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
    /// id-recipientNonce (OCTET STRING)
    pub const RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
    /// id-transactionID (PrintableString)
    pub const TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");
    /// id-scep-failInfoText (UTF8String, RFC 8894 section 3.2.1.4)
    pub const FAIL_INFO_TEXT: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.24.1");
}

/// `messageType` (RFC 8894 section 3.2.1.2).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageType {
    /// CertRep (3)
    CertRep,
    /// RenewalReq (17)
    RenewalReq,
    /// PKCSReq (19)
    PkcsReq,
    /// CertPoll (20)
    CertPoll,
    /// GetCert (21)
    GetCert,
    /// GetCRL (22)
    GetCrl,
}

impl MessageType {
    /// The decimal value sent as a PrintableString.
    pub const fn value(self) -> &'static str {
        match self {
            Self::CertRep => "3",
            Self::RenewalReq => "17",
            Self::PkcsReq => "19",
            Self::CertPoll => "20",
            Self::GetCert => "21",
            Self::GetCrl => "22",
        }
    }
}

/// `pkiStatus` of a CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PkiStatus {
    /// SUCCESS (0)
    Success,
    /// FAILURE (2)
    Failure,
    /// PENDING (3)
    Pending,
}

/// `failInfo` of a FAILURE CertRep (RFC 8894 section 3.2.1.4).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FailInfo {
    /// badAlg (0): unrecognized or unsupported algorithm.
    BadAlg,
    /// badMessageCheck (1): integrity check (signature) failed.
    BadMessageCheck,
    /// badRequest (2): transaction not permitted or supported.
    BadRequest,
    /// badTime (3): signingTime too far from the server's time.
    BadTime,
    /// badCertId (4): no certificate matches the criteria.
    BadCertId,
    /// A value this crate does not know.
    Other(u8),
}

impl core::fmt::Display for FailInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadAlg => f.write_str("badAlg (unrecognized or unsupported algorithm)"),
            Self::BadMessageCheck => f.write_str("badMessageCheck (the request's signature did not verify)"),
            Self::BadRequest => f.write_str("badRequest (transaction not permitted or supported)"),
            Self::BadTime => f.write_str("badTime (signingTime too far from the server's time)"),
            Self::BadCertId => f.write_str("badCertId (no certificate matches)"),
            Self::Other(v) => write!(f, "failInfo {v} (unknown)"),
        }
    }
}

/// A transaction identifier: a PrintableString of at most 64 bytes (RFC 8894 section 3.2.1.1).
pub type TransactionId = heapless::String<64>;

/// The random nonce sent in senderNonce (16 bytes, RFC 8894 section 3.2.1.5).
pub type Nonce = [u8; 16];

/// Derives the transaction ID of a request for a new key: the upper-case hex SHA-256 of the
/// SubjectPublicKeyInfo (RFC 8894 section 3.2.1.1 suggests a hash of the public key), so a
/// reboot re-derives the same ID.
pub fn transaction_id_for_key(spki_der: &[u8]) -> TransactionId {
    let d = crate::crypto::Digest::sha256(spki_der);
    let mut id = TransactionId::new();
    for b in d.as_bytes() {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for n in [b >> 4, b & 0xf] {
            let _ = id.push(char::from(HEX.get(usize::from(n)).copied().unwrap_or(b'0')));
        }
    }
    id
}

/// What goes inside the pkcsPKIEnvelope.
#[derive(Debug, Clone, Copy)]
pub enum MessageData<'a> {
    /// PKCSReq / RenewalReq: the DER CSR.
    Csr(&'a [u8]),
    /// CertPoll: `IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }` (DER Names).
    IssuerAndSubject {
        /// The CA's name.
        issuer: &'a [u8],
        /// The requested subject.
        subject: &'a [u8],
    },
    /// GetCert / GetCRL: `IssuerAndSerialNumber` of the certificate.
    IssuerAndSerial {
        /// The issuer's DER Name.
        issuer: &'a [u8],
        /// The serial number's INTEGER contents.
        serial: &'a [u8],
    },
}

/// A request to build.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// PKCSReq, RenewalReq, CertPoll, GetCert or GetCRL.
    pub message_type: MessageType,
    /// The transaction ID.
    pub transaction_id: &'a str,
    /// Our senderNonce.
    pub sender_nonce: Nonce,
    /// The envelope's content.
    pub data: MessageData<'a>,
    /// The CA or RA certificate the envelope is encrypted to (its key must be RSA).
    pub recipient: CertificateRef<'a>,
    /// Content encryption (from GetCACaps).
    pub cipher: CbcCipher,
    /// Signature digest (from GetCACaps).
    pub hash: HashAlgorithm,
    /// The certificate that signs: self-signed for a first PKCSReq, the current one for
    /// RenewalReq and polls after it.
    pub signer_certificate: CertificateRef<'a>,
}

/// The SCEP signed attributes of a request (transactionID, messageType, senderNonce), DER
/// encoded once so a [`SignedDataBuilder`] can borrow them.
#[derive(Debug, Clone)]
pub struct RequestAttributes {
    transaction_id: heapless::Vec<u8, 70>,
    message_type: heapless::Vec<u8, 8>,
    sender_nonce: heapless::Vec<u8, 18>,
}

impl RequestAttributes {
    /// The three attributes, for [`SignedDataBuilder::attributes`].
    pub fn as_attributes(&self) -> [Attribute<'_>; 3] {
        [
            Attribute { oid: attr::TRANSACTION_ID, value: &self.transaction_id },
            Attribute { oid: attr::MESSAGE_TYPE, value: &self.message_type },
            Attribute { oid: attr::SENDER_NONCE, value: &self.sender_nonce },
        ]
    }
}

impl<'a> Request<'a> {
    /// Step 1: the pkcsPKIEnvelope, the message data encrypted to the CA/RA, into `out`
    /// (the CSR plus about 600 bytes).
    pub fn envelope<'o>(&self, rng: &mut impl CryptoRngCore, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        self.check()?;
        let mut data_buf = [0u8; 1024];
        let data: &[u8] = match self.data {
            MessageData::Csr(csr) => csr,
            MessageData::IssuerAndSubject { issuer, subject } => encode(&mut data_buf, |w| {
                w.sequence(|w| {
                    w.raw(issuer)?;
                    w.raw(subject)
                })
            })?,
            MessageData::IssuerAndSerial { issuer, serial } => encode(&mut data_buf, |w| {
                w.sequence(|w| {
                    w.raw(issuer)?;
                    w.primitive(tag::INTEGER, serial)
                })
            })?,
        };
        build_for_rsa_recipient(&self.recipient, self.cipher, data, rng, out)
    }

    /// Step 2: the signed attributes SCEP adds.
    pub fn attributes(&self) -> Result<RequestAttributes, EncodeError> {
        self.check()?;
        let enc = |f: &dyn Fn(&mut crate::asn1::writer::Writer<'_>) -> Result<(), EncodeError>,
                   buf: &mut [u8]|
         -> Result<usize, EncodeError> { encode(buf, f).map(|b| b.len()) };
        let mut tx = [0u8; 70];
        let n_tx = enc(&|w| w.primitive(tag::PRINTABLE_STRING, self.transaction_id.as_bytes()), &mut tx)?;
        let mut mt = [0u8; 8];
        let n_mt = enc(&|w| w.primitive(tag::PRINTABLE_STRING, self.message_type.value().as_bytes()), &mut mt)?;
        let mut nonce = [0u8; 18];
        let n_nonce = enc(&|w| w.octet_string(&self.sender_nonce), &mut nonce)?;
        let too_long = |_| EncodeError::InvalidValue { what: "SCEP attribute" };
        Ok(RequestAttributes {
            transaction_id: heapless::Vec::from_slice(tx.get(..n_tx).unwrap_or(&[])).map_err(too_long)?,
            message_type: heapless::Vec::from_slice(mt.get(..n_mt).unwrap_or(&[])).map_err(too_long)?,
            sender_nonce: heapless::Vec::from_slice(nonce.get(..n_nonce).unwrap_or(&[])).map_err(too_long)?,
        })
    }

    /// Step 3: the SignedData to sign around `envelope` with `attributes` (from steps 1 and
    /// 2). Sign it in one call with [`hal::oneshot::sign_signed_data`](crate::hal::oneshot::sign_signed_data), or in steps with
    /// [`SignedDataBuilder::encode_signed_attributes`] and [`SignedDataBuilder::assemble`]
    /// when the key answers asynchronously.
    pub fn signed_data<'x>(&self, envelope: &'x [u8], attributes: &'x [Attribute<'x>]) -> SignedDataBuilder<'x>
    where
        'a: 'x,
    {
        let mut b = SignedDataBuilder::new(oid::DATA, envelope, self.signer_certificate, self.hash);
        b.attributes = attributes;
        b
    }

    /// All three steps with `signer`: the pkiMessage into `out`, using `scratch` for the
    /// envelope.
    pub fn build<'o, S: Signer>(
        &self,
        signer: &mut S,
        rng: &mut impl CryptoRngCore,
        scratch: &mut [u8],
        out: &'o mut [u8],
    ) -> Result<&'o [u8], EncodeError> {
        let envelope = self.envelope(rng, scratch)?;
        let attributes = self.attributes()?;
        let list = attributes.as_attributes();
        crate::hal::oneshot::sign_signed_data(&self.signed_data(envelope, &list), signer, out)
    }

    fn check(&self) -> Result<(), EncodeError> {
        // transactionID is a PrintableString (RFC 8894 section 3.2.1.1).
        if self.transaction_id.is_empty() || self.transaction_id.len() > 64 || !crate::asn1::csr::is_printable(self.transaction_id) {
            return Err(EncodeError::InvalidValue { what: "transaction ID" });
        }
        Ok(())
    }
}

/// A verified CertRep.
#[derive(Debug, Clone, Copy)]
pub struct CertRep<'a> {
    /// The status.
    pub status: PkiStatus,
    /// failInfo, on FAILURE (absent if the server sent none).
    pub fail_info: Option<FailInfo>,
    /// failInfoText, on FAILURE, if sent and textual.
    pub fail_info_text: Option<&'a str>,
    /// The pkcsPKIEnvelope (DER, normalized), on SUCCESS.
    pub envelope: Option<EnvelopedDataRef<'a>>,
    /// The DER of that envelope (the ContentInfo), on SUCCESS.
    pub envelope_der: Option<&'a [u8]>,
    /// The hash of the reply's signature (the signer's digest algorithm, or the one its
    /// signature algorithm names when that is weaker): the caller's policy decides whether a
    /// SHA-1 signed reply is acceptable.
    pub signature_hash: HashAlgorithm,
}

/// Why a CertRep was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CertRepError {
    /// The CMS structure or its signature did not check out (including "signed by a key
    /// other than the CA/RA certificate's").
    Cms(CmsError),
    /// messageType is not CertRep.
    NotCertRep,
    /// A required attribute is missing or malformed (which one).
    Attribute(&'static str),
    /// transactionID differs from ours.
    TransactionIdMismatch,
    /// recipientNonce differs from our senderNonce.
    NonceMismatch,
}

impl core::fmt::Display for CertRepError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Cms(e) => write!(f, "the CertRep is not a pkiMessage signed by the CA: {e}"),
            Self::NotCertRep => f.write_str("the reply's messageType is not CertRep"),
            Self::Attribute(what) => write!(f, "the CertRep's {what} attribute is missing or malformed"),
            Self::TransactionIdMismatch => f.write_str("the CertRep is for another transaction (transactionID differs)"),
            Self::NonceMismatch => f.write_str("the CertRep does not answer this request (recipientNonce differs from our senderNonce)"),
        }
    }
}

impl core::error::Error for CertRepError {}

impl From<CmsError> for CertRepError {
    fn from(e: CmsError) -> Self {
        Self::Cms(e)
    }
}

impl From<DecodeError> for CertRepError {
    fn from(e: DecodeError) -> Self {
        Self::Cms(CmsError::Decode(e))
    }
}

impl<'a> CertRep<'a> {
    /// Verifies and reads a CertRep. `der_bytes` must be DER (run
    /// [`crate::asn1::ber::normalize`] on what the server sent); `ca_or_ra` is the certificate
    /// whose key must have signed it; `transaction_id` and `sender_nonce` are the request's.
    pub fn parse(
        der_bytes: &'a [u8],
        ca_or_ra: &CertificateRef<'a>,
        transaction_id: &str,
        sender_nonce: &Nonce,
    ) -> Result<Self, CertRepError> {
        let sd = SignedDataRef::parse(der_bytes)?;
        let (si, _) = sd.verify(Some(ca_or_ra))?;
        let text = |o: &ObjectIdentifier, what: &'static str| -> Result<Option<&'a [u8]>, CertRepError> {
            match si.signed_attribute(o) {
                Some(t) if t.tag == tag::PRINTABLE_STRING || t.tag == tag::UTF8_STRING || t.tag == tag::IA5_STRING => Ok(Some(t.value)),
                Some(_) => Err(CertRepError::Attribute(what)),
                None => Ok(None),
            }
        };
        if text(&attr::MESSAGE_TYPE, "messageType")? != Some(b"3") {
            return Err(CertRepError::NotCertRep);
        }
        if text(&attr::TRANSACTION_ID, "transactionID")?.ok_or(CertRepError::Attribute("transactionID"))? != transaction_id.as_bytes() {
            return Err(CertRepError::TransactionIdMismatch);
        }
        let rn = si.signed_attribute(&attr::RECIPIENT_NONCE).ok_or(CertRepError::Attribute("recipientNonce"))?;
        if rn.tag != tag::OCTET_STRING || rn.value != sender_nonce {
            return Err(CertRepError::NonceMismatch);
        }
        // senderNonce: the server's own; micromdm echoes ours, others send a fresh one or none.
        if let Some(sn) = si.signed_attribute(&attr::SENDER_NONCE)
            && sn.tag != tag::OCTET_STRING
        {
            return Err(CertRepError::Attribute("senderNonce"));
        }
        let status = match text(&attr::PKI_STATUS, "pkiStatus")?.ok_or(CertRepError::Attribute("pkiStatus"))? {
            b"0" => PkiStatus::Success,
            b"2" => PkiStatus::Failure,
            b"3" => PkiStatus::Pending,
            _ => return Err(CertRepError::Attribute("pkiStatus")),
        };
        let signature_hash = match si.signature_algorithm().map(|a| a.hash()) {
            Ok(HashAlgorithm::Sha1) => HashAlgorithm::Sha1,
            _ => si.digest_algorithm,
        };
        let mut rep = CertRep { status, fail_info: None, fail_info_text: None, envelope: None, envelope_der: None, signature_hash };
        match status {
            PkiStatus::Failure => {
                rep.fail_info = text(&attr::FAIL_INFO, "failInfo")?.map(|v| match v {
                    b"0" => FailInfo::BadAlg,
                    b"1" => FailInfo::BadMessageCheck,
                    b"2" => FailInfo::BadRequest,
                    b"3" => FailInfo::BadTime,
                    b"4" => FailInfo::BadCertId,
                    other => FailInfo::Other(core::str::from_utf8(other).ok().and_then(|s| s.parse().ok()).unwrap_or(u8::MAX)),
                });
                rep.fail_info_text = text(&attr::FAIL_INFO_TEXT, "failInfoText")?.and_then(|v| core::str::from_utf8(v).ok());
            }
            PkiStatus::Success => {
                let content = sd.content().ok_or(CertRepError::Attribute("pkcsPKIEnvelope"))?;
                // The envelope inside a normalized message is itself definite-length DER.
                Tlv::parse_exact(content)?;
                rep.envelope = Some(EnvelopedDataRef::parse(content)?);
                rep.envelope_der = Some(content);
            }
            PkiStatus::Pending => {}
        }
        Ok(rep)
    }
}
