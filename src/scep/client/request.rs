//! Request building: the GET requests (GetCACaps, GetCACert, GetNextCACert) and, for the
//! PKIOperation, the CSR, the signer certificate, the envelope and the signed pkiMessage.

use super::{Awaiting, Buffers, Client, ClientError, Operation, Outcome, SignPurpose, Stage, enc};
use crate::asn1::cert::CertificateRef;
use crate::asn1::csr::{self, CsrRef, SelfSignedCertificate};
use crate::hal::KeyType;
use crate::http::{QueryValue, RequestHead, ResponseReader, write_request};
use crate::scep::caps::CaCaps;
use crate::scep::message::{MessageData, MessageType, Request, RequestAttributes};
use crate::span::Span;
use crate::time::{Instant, UnixTime};
use rand_core::CryptoRngCore;

impl<R: CryptoRngCore> Client<'_, '_, R> {
    /// Writes a GET `operation=...` request into `io` and waits for its response.
    pub(super) fn send_get(&mut self, operation: &str, message: Option<&str>, what: Awaiting) -> Result<(), ClientError> {
        let op = [("operation", QueryValue::Text(operation)), ("message", QueryValue::Text(message.unwrap_or("")))];
        let query = if message.is_some() { &op[..] } else { op.get(..1).unwrap_or(&[]) };
        let head = RequestHead { port: self.config.port, query, ..RequestHead::get(self.config.host, self.config.path) };
        self.request_len = write_request(&head, &[], self.bufs.io).map_err(enc("io"))?.len();
        info!("scep: sending {}", operation);
        self.stage = Stage::Awaiting { what, reader: ResponseReader::new() };
        Ok(())
    }

    /// The key type of the key that signs the pkiMessage and opens the reply.
    pub(super) fn message_key(&self) -> Result<KeyType, ClientError> {
        match self.operation {
            Operation::Renew { certificate, .. } | Operation::GetCert { certificate, .. } | Operation::GetCrl { certificate } => {
                CertificateRef::parse(certificate).ok().and_then(|c| c.spki().key_type()).ok_or(ClientError::Config("certificate key type"))
            }
            _ => Ok(self.key),
        }
    }

    pub(super) fn prepare_next(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.caps.is_none() && self.choice.is_none() {
            return self.send_get("GetCACaps", None, Awaiting::Caps);
        }
        if matches!(self.operation, Operation::GetCaCaps) {
            return self.done(Outcome::CaCaps);
        }
        if self.recipient.is_empty() {
            return self.send_get("GetCACert", self.config.ca_identifier, Awaiting::Ca);
        }
        match self.operation {
            Operation::GetCaCaps | Operation::GetCaCertificates => self.done(Outcome::CaCertificates),
            Operation::GetNextCaCertificates => self.send_get("GetNextCACert", self.config.ca_identifier, Awaiting::NextCa),
            _ => self.prepare_pki(now),
        }
    }

    // A frame of its own (stack): its temporaries are not live beside the others.
    #[inline(never)]
    pub(super) fn prepare_pki(&mut self, _now: Instant) -> Result<(), ClientError> {
        let choice = match self.choice {
            Some(c) => c,
            None => match self.caps.unwrap_or(CaCaps::NONE).choose(&self.config.policy) {
                Ok(c) => {
                    self.choice = Some(c);
                    c
                }
                Err(e) => return self.done(Outcome::Ca(e)),
            },
        };
        let Buffers { ca, own, work, io } = &mut self.bufs;
        let csr_builder = match self.operation {
            Operation::Enroll(b) | Operation::Renew { csr: b, .. } => Some(b),
            _ => None,
        };
        // 1. The CSR (not needed to poll).
        if let Some(b) = csr_builder
            && self.csr.is_empty()
            && self.message_type != MessageType::CertPoll
        {
            let tbs = b.encode_info(self.config.public_key, work).map_err(enc("work"))?;
            let digest = choice.hash.digest(tbs).map_err(|e| ClientError::Encode(e.into()))?;
            debug!("scep: CSR built ({} bytes), to be signed with {}", tbs.len(), crate::fmt::Dbg(choice.hash));
            self.stage = Stage::Signing { purpose: SignPurpose::Csr, digest, len: tbs.len(), env_len: 0, attrs: None };
            return Ok(());
        }
        // 2. The signer certificate.
        if self.signer.is_empty() {
            match self.operation {
                Operation::Enroll(b) => {
                    let mut serial = [0u8; 8];
                    self.rng.fill_bytes(&mut serial);
                    if let Some(first) = serial.first_mut() {
                        *first = (*first & 0x3f) | 0x40;
                    }
                    let (not_before, not_after) = match self.config.wall_time {
                        Some(t) => (
                            UnixTime::from_secs(t.as_secs().saturating_sub(3600)),
                            UnixTime::from_secs(t.as_secs().saturating_add(30 * 86_400)),
                        ),
                        None => (UnixTime::from_secs(946_684_800), UnixTime::from_secs(2_524_607_999)),
                    };
                    let cert = SelfSignedCertificate { subject: b.subject(), serial: &serial, not_before, not_after };
                    let tbs = cert.encode_tbs(self.config.public_key, self.key, choice.hash, work).map_err(enc("work"))?;
                    debug!("scep: self-signed signer certificate built, to be signed");
                    self.stage = Stage::Signing {
                        purpose: SignPurpose::SignerCertificate,
                        digest: choice.hash.digest(tbs).map_err(|e| ClientError::Encode(e.into()))?,
                        len: tbs.len(),
                        env_len: 0,
                        attrs: None,
                    };
                    return Ok(());
                }
                Operation::Renew { certificate, .. } | Operation::GetCert { certificate, .. } | Operation::GetCrl { certificate } => {
                    let start = self.csr.end;
                    let end = start + certificate.len();
                    own.get_mut(start..end).ok_or(ClientError::BufferTooSmall { buffer: "own", needed: end })?.copy_from_slice(certificate);
                    self.signer = Span { start, end };
                }
                _ => return Err(ClientError::UnexpectedCall),
            }
        }
        // 3. The pkiMessage: envelope, then the signed attributes to sign.
        let recipient = CertificateRef::parse(self.recipient.get(ca)).map_err(|_| ClientError::UnexpectedCall)?;
        let issuing = CertificateRef::parse(self.issuing_ca.get(ca)).map_err(|_| ClientError::UnexpectedCall)?;
        let signer = CertificateRef::parse(self.signer.get(own)).map_err(|_| ClientError::Config("signer certificate"))?;
        self.rng.fill_bytes(&mut self.nonce);
        let data = match (self.message_type, self.operation) {
            (MessageType::CertPoll, _) => MessageData::IssuerAndSubject { issuer: issuing.subject().as_der(), subject: &self.subject },
            (MessageType::GetCert, Operation::GetCert { serial, .. }) => {
                MessageData::IssuerAndSerial { issuer: issuing.subject().as_der(), serial }
            }
            (MessageType::GetCrl, _) => MessageData::IssuerAndSerial { issuer: signer.issuer().as_der(), serial: signer.serial() },
            _ => MessageData::Csr(self.csr.get(own)),
        };
        let request = Request {
            message_type: self.message_type,
            transaction_id: &self.transaction_id,
            sender_nonce: self.nonce,
            data,
            recipient,
            cipher: choice.cipher,
            hash: choice.hash,
            signer_certificate: signer,
        };
        let envelope = request.envelope(&mut self.rng, work).map_err(enc("work"))?;
        let attrs = request.attributes().map_err(ClientError::Encode)?;
        let list = attrs.as_attributes();
        let signed_attrs = request.signed_data(envelope, &list).encode_signed_attributes(io).map_err(enc("io"))?;
        let digest = choice.hash.digest(signed_attrs).map_err(|e| ClientError::Encode(e.into()))?;
        let env_len = envelope.len();
        debug!(
            "scep: {} enveloped with {} for {}, to be signed with {}",
            crate::fmt::Dbg(self.message_type),
            crate::fmt::Dbg(choice.cipher),
            recipient.subject(),
            crate::fmt::Dbg(choice.hash)
        );
        self.stage = Stage::Signing { purpose: SignPurpose::Message, digest, len: 0, env_len, attrs: Some(attrs) };
        Ok(())
    }

    pub(super) fn finish_signature(
        &mut self,
        purpose: SignPurpose,
        len: usize,
        env_len: usize,
        attrs: Option<&RequestAttributes>,
        signature: &[u8],
    ) -> Result<(), ClientError> {
        let choice = self.choice.ok_or(ClientError::UnexpectedCall)?;
        let key = match purpose {
            SignPurpose::Message if !matches!(self.operation, Operation::Enroll(_)) => self.message_key()?,
            _ => self.key,
        };
        if signature.len() != key.signature_len() {
            return Err(ClientError::Answer);
        }
        let Buffers { own, work, io, .. } = &mut self.bufs;
        match purpose {
            SignPurpose::Csr => {
                let tbs = work.get(..len).ok_or(ClientError::UnexpectedCall)?;
                let assembled = csr::assemble(tbs, key, choice.hash, signature, own).map(|c| c.len());
                // The request info holds the challenge password: not left behind in `work`.
                if let Some(t) = work.get_mut(..len) {
                    zeroize::Zeroize::zeroize(t);
                }
                let csr = own.get(..assembled.map_err(enc("own"))?).unwrap_or(&[]);
                let subject = CsrRef::parse(csr).map_err(|_| ClientError::Config("CSR"))?.subject();
                self.subject =
                    heapless::Vec::from_slice(subject.as_der()).map_err(|_| ClientError::Config("subject longer than 256 bytes"))?;
                self.csr = Span { start: 0, end: csr.len() };
            }
            SignPurpose::SignerCertificate => {
                let tbs = work.get(..len).ok_or(ClientError::UnexpectedCall)?;
                let start = self.csr.end;
                let dst = own.get_mut(start..).ok_or(ClientError::BufferTooSmall { buffer: "own", needed: start })?;
                let cert = csr::assemble(tbs, key, choice.hash, signature, dst).map_err(enc("own"))?;
                self.signer = Span { start, end: start + cert.len() };
            }
            SignPurpose::Message => {
                let attrs = attrs.ok_or(ClientError::UnexpectedCall)?;
                let (envelope, rest) = work.split_at_mut_checked(env_len).ok_or(ClientError::UnexpectedCall)?;
                let signer = CertificateRef::parse(self.signer.get(own)).map_err(|_| ClientError::UnexpectedCall)?;
                let list = attrs.as_attributes();
                let mut builder =
                    crate::asn1::cms::signed_data::SignedDataBuilder::new(crate::asn1::oid::DATA, envelope, signer, choice.hash);
                builder.attributes = &list;
                let message = builder.assemble(key, signature, rest).map_err(enc("work"))?;
                let config = &self.config;
                let request = if choice.post {
                    let head = RequestHead {
                        port: config.port,
                        query: &[("operation", QueryValue::Text("PKIOperation"))],
                        ..RequestHead::post(config.host, config.path, "application/x-pki-message")
                    };
                    write_request(&head, message, io)
                } else {
                    let query = [("operation", QueryValue::Text("PKIOperation")), ("message", QueryValue::Base64(message))];
                    let head = RequestHead { port: config.port, query: &query, ..RequestHead::get(config.host, config.path) };
                    write_request(&head, &[], io)
                };
                self.request_len = request.map_err(enc("io"))?.len();
                info!(
                    "scep: sending PKIOperation {} by {} (transaction {})",
                    crate::fmt::Dbg(self.message_type),
                    if choice.post { "POST" } else { "GET" },
                    self.transaction_id.as_str()
                );
                self.stage = Stage::Awaiting { what: Awaiting::PkiOperation, reader: ResponseReader::new() };
                return Ok(());
            }
        }
        self.stage = Stage::Ready;
        Ok(())
    }
}
