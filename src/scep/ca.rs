//! GetCACert and GetNextCACert replies (RFC 8894 sections 4.2 and 4.7): which certificate
//! is the CA, which one the client encrypts to and expects CertReps from, and whether to trust
//! them at all.
//!
//! - `application/x-x509-ca-cert`: one DER certificate, the CA's; it does everything.
//! - `application/x-x509-ca-ra-cert`: a certs-only SignedData with the CA and RA (or an
//!   issuing intermediate) certificates. The recipient is the certificate at the end of the
//!   chain, the one that issues no other certificate in the set: roles are read from the chain,
//!   not from keyUsage (micromdm's CA carries keyCertSign only and still decrypts requests).
//!   With two end certificates (NDES-style separate RA encryption and signing certificates),
//!   the one with keyEncipherment is preferred for encryption.
//!
//! Trust: either the SHA-256 fingerprint of one of the certificates is pinned (out of band,
//! RFC 8894 section 2.2) and the recipient chains to that certificate, or the recipient
//! chains to a configured trust anchor.

use crate::asn1::cert::{CertificateRef, KeyUsage};
use crate::asn1::cms::signed_data::SignedDataRef;
use crate::asn1::path::{Iterated, Options, Usage, ValidationTime, validate};
use crate::asn1::spki::PublicKey;
use crate::error::ScepError;
use crate::span::Span;
use crate::time::UnixTime;

/// How the CA is trusted.
#[derive(Debug, Clone, Copy)]
pub enum CaTrust<'a> {
    /// SHA-256 fingerprint of a CA certificate in the reply (the root, or the issuing CA).
    Fingerprint([u8; 32]),
    /// A trust anchor the reply's certificates must chain to.
    Anchor(&'a CertificateRef<'a>),
}

/// The most certificates a GetCACert reply may hold.
pub const MAX_CA_CERTS: usize = 8;

/// The certificates of a GetCACert reply, checked.
///
/// Holds the reply, where each certificate lies in it and the parsed recipient (under 300
/// bytes on a 32-bit target), not every parsed certificate: a set of eight is 1.6 KiB, and
/// each move of it was a copy on the stack. [`CaCertificates::certificates`] parses again.
#[derive(Debug, Clone)]
pub struct CaCertificates<'a> {
    body: &'a [u8],
    spans: heapless::Vec<Span, MAX_CA_CERTS>,
    recipient: CertificateRef<'a>,
}

impl<'a> CaCertificates<'a> {
    /// Reads a GetCACert reply body; `ra_chain` is true for `application/x-x509-ca-ra-cert`
    /// (a certs-only SignedData), false for a single DER certificate. Then checks it against
    /// `trust`, with validity checked at `now` when given.
    pub fn from_reply(body: &'a [u8], ra_chain: bool, trust: &CaTrust<'_>, now: Option<UnixTime>) -> Result<Self, ScepError> {
        let opts = Options::new(Usage::Any, ValidationTime::new(now, UnixTime::CRATE_FLOOR));
        Self::from_reply_with(body, ra_chain, trust, &opts)
    }

    /// As [`CaCertificates::from_reply`], with the path validated under `opts` (its usage is
    /// replaced by [`Usage::Any`]: the recipient may be the CA itself or an RA).
    pub fn from_reply_with(body: &'a [u8], ra_chain: bool, trust: &CaTrust<'_>, opts: &Options) -> Result<Self, ScepError> {
        let set = Self::from_checked_reply(body, ra_chain)?;
        set.check_trust(trust, &Options { usage: Usage::Any, ..*opts })?;
        Ok(set)
    }

    /// Reads a reply that was checked before (no trust check). A frame of its own (stack):
    /// the parsed certificates live only here.
    #[inline(never)]
    pub(crate) fn from_checked_reply(body: &'a [u8], ra_chain: bool) -> Result<Self, ScepError> {
        let mut certs = heapless::Vec::<CertificateRef<'a>, MAX_CA_CERTS>::new();
        if ra_chain {
            let sd = SignedDataRef::parse(body).map_err(ScepError::MalformedCaResponse)?;
            for c in sd.certificates() {
                certs.push(c).map_err(|_| {
                    ScepError::MalformedCaResponse(crate::error::DecodeError::Unsupported { what: "more than 8 CA certificates" })
                })?;
            }
        } else {
            certs.push(CertificateRef::parse(body).map_err(ScepError::MalformedCaResponse)?).map_err(|_| ScepError::NoUsableRecipient)?;
        }
        if certs.is_empty() {
            return Err(ScepError::MalformedCaResponse(crate::error::DecodeError::InvalidValue { what: "no certificate in the CA reply" }));
        }
        let recipient = certs.get(choose_recipient(&certs)?).copied().ok_or(ScepError::NoUsableRecipient)?;
        let mut spans = heapless::Vec::new();
        for c in &certs {
            // Every certificate lies in `body` (parsed from it), and there are no more than
            // `spans` holds; either failing would be a parser bug, refused as such.
            let span = Span::of(body, c.as_der()).ok_or(ScepError::NoUsableRecipient)?;
            spans.push(span).map_err(|_| ScepError::NoUsableRecipient)?;
        }
        Ok(Self { body, spans, recipient })
    }

    fn cert(&self, span: &Span) -> Option<CertificateRef<'a>> {
        CertificateRef::parse(self.body.get(span.start..span.end)?).ok()
    }

    /// The certificate requests are encrypted to and CertReps are signed by.
    pub fn recipient(&self) -> CertificateRef<'a> {
        self.recipient
    }

    /// The CA that issues the enrolled certificates: the recipient's issuer when it is in the
    /// set (an RA's CA), else the recipient itself.
    pub fn issuing_ca(&self) -> CertificateRef<'a> {
        let r = self.recipient();
        self.certificates()
            .find(|c| {
                c.as_der() != r.as_der()
                    && c.subject().as_der() == r.issuer().as_der()
                    && r.verify_signed_by(&c.spki()).is_ok()
                    && !is_ca_issuing_itself(&r)
            })
            .unwrap_or(r)
    }

    /// All certificates of the reply, in the reply's order.
    pub fn certificates(&self) -> impl Iterator<Item = CertificateRef<'a>> + '_ {
        self.spans.iter().filter_map(|s| self.cert(s))
    }

    /// How many certificates the reply holds.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Never true: a reply without a certificate is refused.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn check_trust(&self, trust: &CaTrust<'_>, opts: &Options) -> Result<(), ScepError> {
        let recipient = self.recipient();
        // The other certificates, looked up in place.
        let others = Iterated(|| self.certificates().filter(move |c| c.as_der() != recipient.as_der()));
        let anchor = match trust {
            CaTrust::Anchor(anchor) => **anchor,
            CaTrust::Fingerprint(fp) => self.certificates().find(|c| c.fingerprint_sha256() == *fp).ok_or(ScepError::UntrustedCa(None))?,
        };
        let anchors = Iterated(|| core::iter::once(anchor));
        validate(&recipient, &others, &anchors, opts).map(|_| ()).map_err(|e| ScepError::UntrustedCa(Some(e)))
    }
}

/// A self-signed certificate (root CA) issues itself; that is not "issuing another".
fn is_ca_issuing_itself(c: &CertificateRef<'_>) -> bool {
    c.subject().as_der() == c.issuer().as_der()
}

fn choose_recipient(certs: &[CertificateRef<'_>]) -> Result<usize, ScepError> {
    let issues_another = |i: usize| {
        let Some(c) = certs.get(i) else { return false };
        certs.iter().enumerate().any(|(j, o)| {
            j != i && o.issuer().as_der() == c.subject().as_der() && !is_ca_issuing_itself(o) && o.verify_signed_by(&c.spki()).is_ok()
        })
    };
    let rsa = |i: usize| certs.get(i).is_some_and(|c| matches!(c.spki().key(), PublicKey::Rsa(_)));
    let ends: heapless::Vec<usize, MAX_CA_CERTS> = (0..certs.len()).filter(|i| !issues_another(*i) && rsa(*i)).collect();
    let encipherment =
        |i: &usize| certs.get(*i).and_then(|c| c.key_usage().ok().flatten()).is_some_and(|ku| ku.contains(KeyUsage::KEY_ENCIPHERMENT));
    ends.iter().copied().find(encipherment).or_else(|| ends.first().copied()).ok_or(ScepError::NoUsableRecipient)
}

/// Reads a GetNextCACert reply (RFC 8894 section 4.7): a SignedData signed by the current CA
/// whose content is a certs-only SignedData with the next CA certificate(s). Returns the
/// inner certs-only message.
pub fn next_ca_certificates<'a>(body: &'a [u8], current_ca: &CertificateRef<'a>) -> Result<SignedDataRef<'a>, ScepError> {
    let outer = SignedDataRef::parse(body).map_err(ScepError::MalformedCaResponse)?;
    outer.verify(Some(current_ca)).map_err(ScepError::NextCaNotSignedByCurrent)?;
    let inner = outer.content().ok_or(ScepError::MalformedCaResponse(crate::error::DecodeError::InvalidValue { what: "no content" }))?;
    let certs = SignedDataRef::parse(inner).map_err(ScepError::MalformedCaResponse)?;
    if certs.certificates().next().is_none() {
        return Err(ScepError::MalformedCaResponse(crate::error::DecodeError::InvalidValue { what: "no next CA certificate" }));
    }
    Ok(certs)
}
