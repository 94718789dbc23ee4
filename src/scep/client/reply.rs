//! Reply checks: the GetCACaps, GetCACert and GetNextCACert replies and the CertRep (signer,
//! transaction ID, nonce, status), and the envelope opened from it.

use super::{Awaiting, Buffers, Client, ClientError, Config, Operation, Outcome, ReplyError, Results, Stage};
use crate::asn1::ber;
use crate::asn1::cert::CertificateRef;
use crate::asn1::cms::signed_data::SignedDataRef;
use crate::asn1::path::{self, Usage, ValidationTime};
use crate::crypto::cbc::CbcCipher;
use crate::error::{CmsError, DecodeError, ScepError};
use crate::hal::KeyType;
use crate::http::ResponseReader;
use crate::retry::RetrySchedule;
use crate::scep::ca::{CaCertificates, next_ca_certificates};
use crate::scep::caps::CaCaps;
use crate::scep::message::{CertRep, CertRepError, MessageType, PkiStatus};
use crate::span::Span;
use crate::time::Instant;
use rand_core::CryptoRngCore;

impl<R: CryptoRngCore> Client<'_, '_, R> {
    pub(super) fn process_response(&mut self, now: Instant) -> Result<(), ClientError> {
        let Stage::Awaiting { what, reader } = core::mem::replace(&mut self.stage, Stage::Ready) else {
            return Err(ClientError::UnexpectedCall);
        };
        let head = reader.head().cloned().unwrap_or_default();
        debug!("scep: {} answered HTTP {} ({} bytes)", what.name(), head.status, reader.body(self.bufs.io).len());
        if what == Awaiting::Caps {
            // An error reply means "no capabilities" (RFC 8894 section 3.5.1).
            let caps = if head.status == 200 { CaCaps::parse(reader.body(self.bufs.io)) } else { CaCaps::NONE };
            if head.status != 200 {
                warn!("scep: GetCACaps answered HTTP {}: no capabilities assumed", head.status);
            }
            self.caps = Some(caps);
            self.choice = caps.choose(&self.config.policy).ok();
            info!("scep: capabilities: {}", caps);
            #[cfg(any(feature = "log", feature = "defmt"))]
            if let Some(choice) = self.choice {
                debug!("scep: algorithms chosen: {}", crate::fmt::Dbg(choice));
            }
            return Ok(());
        }
        if head.status != 200 {
            return self.done(Outcome::HttpStatus(head.status));
        }
        let body_len = reader.body(self.bufs.io).len();
        let next = match what {
            Awaiting::Caps => return Ok(()),
            Awaiting::Ca => self.take_ca_reply(&reader)?,
            Awaiting::NextCa => {
                let Buffers { ca, work, io, .. } = &mut self.bufs;
                let body = reader.body(io);
                work.get_mut(..body_len).ok_or(ClientError::BufferTooSmall { buffer: "work", needed: body_len })?.copy_from_slice(body);
                let body = work.get(..body_len).unwrap_or(&[]);
                let recipient = CertificateRef::parse(self.recipient.get(ca)).map_err(|_| ClientError::UnexpectedCall)?;
                let issuing = CertificateRef::parse(self.issuing_ca.get(ca)).map_err(|_| ClientError::UnexpectedCall)?;
                match next_ca_certificates(body, &issuing).or_else(|_| next_ca_certificates(body, &recipient)) {
                    Ok(_) => {
                        info!("scep: the next CA certificates are signed by the current CA");
                        let content = SignedDataRef::parse(body).ok().and_then(|sd| sd.content()).unwrap_or(&[]);
                        self.results.certs = Span::of(work, content).unwrap_or_default();
                        Stage::Done(Outcome::NextCa)
                    }
                    Err(e) => Stage::Done(Outcome::Ca(e)),
                }
            }
            Awaiting::PkiOperation => self.take_cert_rep(&reader, now)?,
        };
        self.stage = next;
        Ok(())
    }

    // A frame of its own (stack): its temporaries are not live beside the others.
    #[inline(never)]
    pub(super) fn take_ca_reply(&mut self, reader: &ResponseReader) -> Result<Stage, ClientError> {
        let Buffers { ca, io, .. } = &mut self.bufs;
        let body = reader.body(io);
        ca.get_mut(..body.len()).ok_or(ClientError::BufferTooSmall { buffer: "ca", needed: body.len() })?.copy_from_slice(body);
        self.ca_len = body.len();
        let body = ca.get(..self.ca_len).unwrap_or(&[]);
        // A chain unless the body is one certificate, whatever the Content-Type says (some
        // servers label either wrongly).
        let single = CertificateRef::parse(body).is_ok();
        self.ca_chain = !single;
        let set = match CaCertificates::from_reply_with(body, self.ca_chain, &self.config.trust, &path_options(&self.config, Usage::Any)) {
            Ok(s) => s,
            Err(e) => return Ok(Stage::Done(Outcome::Ca(e))),
        };
        let (recipient, issuing) = (set.recipient(), set.issuing_ca());
        if self.expected_ca.is_some_and(|fp| fp != recipient.fingerprint_sha256()) {
            warn!("scep: the CA is not the one the saved transaction was started with");
            return Ok(Stage::Done(Outcome::Ca(ScepError::UntrustedCa(None))));
        }
        info!(
            "scep: CA trusted ({}): recipient {}, issuer {}",
            if self.ca_chain { "chain" } else { "one certificate" },
            recipient.subject(),
            issuing.subject()
        );
        self.recipient = Span::of(body, recipient.as_der()).ok_or(ClientError::UnexpectedCall)?;
        self.issuing_ca = Span::of(body, issuing.as_der()).ok_or(ClientError::UnexpectedCall)?;
        Ok(Stage::Ready)
    }

    // A frame of its own (stack): its temporaries are not live beside the others.
    #[inline(never)]
    pub(super) fn take_cert_rep(&mut self, reader: &ResponseReader, now: Instant) -> Result<Stage, ClientError> {
        let Buffers { ca, own, work, io } = &mut self.bufs;
        let body = reader.body(io);
        let der_len = match ber::normalize(body, work) {
            Ok(d) => d.len(),
            Err(DecodeError::OutputTooSmall { needed }) => return Err(ClientError::BufferTooSmall { buffer: "work", needed }),
            Err(e) => return Ok(Stage::Done(Outcome::InvalidReply(ReplyError::CertRep(CertRepError::from(e))))),
        };
        let work: &[u8] = work;
        let der = work.get(..der_len).unwrap_or(&[]);
        let recipient = CertificateRef::parse(self.recipient.get(ca)).map_err(|_| ClientError::UnexpectedCall)?;
        let rep = match CertRep::parse(der, &recipient, &self.transaction_id, &self.nonce) {
            Ok(r) => r,
            Err(e) => return Ok(Stage::Done(Outcome::InvalidReply(ReplyError::CertRep(e)))),
        };
        // The caller's policy binds replies as it binds requests: a server cannot answer with
        // weaker algorithms than the caller allowed (whatever its GetCACaps said).
        if !self.config.policy.accepts_reply_hash(rep.signature_hash) {
            return Ok(Stage::Done(Outcome::InvalidReply(ReplyError::AlgorithmNotAllowed("SHA-1"))));
        }
        info!("scep: CertRep verified: {} (transaction {})", crate::fmt::Dbg(rep.status), self.transaction_id.as_str());
        Ok(match rep.status {
            PkiStatus::Pending => {
                let policy = self.config.retry;
                let retry = self.retry.get_or_insert_with(|| RetrySchedule::new(policy, now));
                self.message_type = MessageType::CertPoll;
                match retry.next(now, None) {
                    Some(until) => {
                        info!("scep: PENDING: poll {} in {} ms", retry.attempts(), (until - now).as_millis());
                        Stage::Waiting { until }
                    }
                    None => Stage::Done(Outcome::PendingTimedOut { attempts: retry.attempts() }),
                }
            }
            PkiStatus::Failure => {
                let mut text = heapless::String::new();
                for ch in rep.fail_info_text.unwrap_or("").chars() {
                    if text.push(ch).is_err() {
                        break;
                    }
                }
                Stage::Done(Outcome::Rejected { fail_info: rep.fail_info, text })
            }
            PkiStatus::Success => {
                let (Some(env), Some(env_der)) = (rep.envelope, rep.envelope_der) else {
                    return Ok(Stage::Done(Outcome::InvalidReply(ReplyError::CertRep(CertRepError::Attribute("pkcsPKIEnvelope")))));
                };
                let policy = self.config.policy;
                if !policy.accepts_reply_cipher(env.cipher()) {
                    let name = if env.cipher() == CbcCipher::Des { "DES" } else { "3DES" };
                    return Ok(Stage::Done(Outcome::InvalidReply(ReplyError::AlgorithmNotAllowed(name))));
                }
                let span = Span::of(work, env_der).ok_or(ClientError::UnexpectedCall)?;
                let signer = CertificateRef::parse(self.signer.get(own)).map_err(|_| ClientError::UnexpectedCall)?;
                let ours = match signer.spki().key_type() {
                    Some(KeyType::Rsa { .. }) => env.key_transport_recipient(&signer).map(|_| false),
                    _ => env.key_agreement_recipient(&signer).map(|_| true),
                };
                match (ours, self.config.envelope_password) {
                    (Ok(agreement), _) => {
                        debug!(
                            "scep: the envelope opens with the device key ({})",
                            if agreement { "key agreement" } else { "key transport" }
                        );
                        Stage::Opening { start: span.start, end: span.end, agreement }
                    }
                    (Err(CmsError::RecipientNotFound), Some(password)) => {
                        debug!("scep: the envelope opens with the configured password (PWRI)");
                        let opened = env.decrypt_with_password(password, io).map(|p| p.len());
                        return self.finish_opened(opened).map(|()| core::mem::replace(&mut self.stage, Stage::Ready));
                    }
                    (Err(CmsError::RecipientNotFound), None) => Stage::Done(Outcome::InvalidReply(ReplyError::NoRecipient)),
                    (Err(e), _) => Stage::Done(Outcome::InvalidReply(ReplyError::Envelope(e))),
                }
            }
        })
    }

    /// The envelope's plaintext (`io[..len]`, a certs-only SignedData, perhaps BER) is
    /// read for what the operation asked for.
    pub(super) fn finish_opened(&mut self, opened: Result<usize, CmsError>) -> Result<(), ClientError> {
        let len = match opened {
            Ok(n) => n,
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Envelope(e))),
        };
        let Buffers { ca, work, io, .. } = &mut self.bufs;
        let plain = io.get(..len).unwrap_or(&[]);
        let der_len = match ber::normalize(plain, work) {
            Ok(d) => d.len(),
            Err(DecodeError::OutputTooSmall { needed }) => return Err(ClientError::BufferTooSmall { buffer: "work", needed }),
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Envelope(CmsError::Decode(e)))),
        };
        let work: &[u8] = work;
        let der = work.get(..der_len).unwrap_or(&[]);
        let sd = match SignedDataRef::parse(der) {
            Ok(sd) => sd,
            Err(e) => return self.done(Outcome::InvalidReply(ReplyError::Envelope(CmsError::Decode(e)))),
        };
        let mut results = Results { certs: Span { start: 0, end: der_len }, ..Results::default() };
        let outcome = match self.operation {
            Operation::GetCert { serial, .. } => match sd.certificates().find(|c| c.serial() == serial) {
                Some(c) => {
                    info!("scep: certificate received: subject {}, serial {}", c.subject(), crate::fmt::Hex(c.serial()));
                    results.certificate = Span::of(work, c.as_der()).unwrap_or_default();
                    Outcome::Certificate
                }
                None => Outcome::InvalidReply(ReplyError::NotFound),
            },
            Operation::GetCrl { .. } => match sd.crls().next() {
                Some(crl) => {
                    results.crl = Span::of(work, crl).unwrap_or_default();
                    Outcome::Crl
                }
                None => Outcome::InvalidReply(ReplyError::NotFound),
            },
            _ => match sd.certificates().find(|c| c.spki().as_der() == self.config.public_key) {
                None => Outcome::InvalidReply(ReplyError::NotFound),
                Some(issued) => {
                    // An end entity with a path to a certificate of the (trusted) GetCACert
                    // reply, not expired at the time or the floor (a notBefore a little ahead
                    // of a skewed device clock is the lifecycle manager's business).
                    let ca_body = ca.get(..self.ca_len).unwrap_or(&[]);
                    let list = ca_certificate_list(ca_body, self.ca_chain);
                    let anchors = path::Iterated(|| list.iter().flatten().copied());
                    let mut opts = path_options(&self.config, Usage::EndEntity);
                    opts.time = ValidationTime::Floor(self.config.wall_time.unwrap_or(self.config.time_floor));
                    let none = path::Iterated(core::iter::empty);
                    let by_ca = crate::asn1::path::validate(&issued, &none, &anchors, &opts).is_ok();
                    if by_ca {
                        info!("scep: certificate issued: subject {}, serial {}", issued.subject(), crate::fmt::Hex(issued.serial()));
                        results.certificate = Span::of(work, issued.as_der()).unwrap_or_default();
                        Outcome::Issued
                    } else {
                        Outcome::InvalidReply(ReplyError::NotIssuedByCa)
                    }
                }
            },
        };
        self.results = results;
        self.done(outcome)
    }
}

/// Path validation as the configuration says: validity at `wall_time` (or against
/// `time_floor`), SHA-1 only when the algorithm policy allows legacy algorithms.
fn path_options(config: &Config<'_>, usage: Usage) -> path::Options {
    let mut opts = path::Options::new(usage, ValidationTime::new(config.wall_time, config.time_floor));
    opts.allow_sha1 = config.policy.allow_legacy;
    opts
}

/// The certificates of a stored GetCACert reply (already checked when it arrived).
fn ca_certificate_list(body: &[u8], chain: bool) -> [Option<CertificateRef<'_>>; crate::scep::ca::MAX_CA_CERTS] {
    let mut list = [None; crate::scep::ca::MAX_CA_CERTS];
    if chain {
        if let Ok(sd) = SignedDataRef::parse(body) {
            for (slot, c) in list.iter_mut().zip(sd.certificates()) {
                *slot = Some(c);
            }
        }
    } else if let Some(slot) = list.first_mut() {
        *slot = CertificateRef::parse(body).ok();
    }
    list
}
