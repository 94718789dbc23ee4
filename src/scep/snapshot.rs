//! A pending SCEP transaction as a small, versioned, checksummed record, so a device that
//! reboots while the CA has not decided yet (PENDING) resumes polling the same transaction
//! (RFC 8894 section 3.3.3: CertPoll reuses the transactionID) instead of starting over.
//!
//! ```text
//! "EESP" | version (1) | payload length (u16 BE) | payload | SHA-256(all before)[..8]
//! payload: request type | cipher | hash | POST | transactionID (len, bytes) | last senderNonce
//!          | retry start (u64 ms) | retries (u32) | next poll (u64 ms)
//!          | CA fingerprint (32) | subject Name (len u16, DER)
//! ```
//! At most [`MAX_SNAPSHOT_LEN`] bytes. A record that does not check out is reported, never
//! half-used.

#![deny(clippy::arithmetic_side_effects)]

use super::caps::AlgorithmChoice;
use super::message::{MessageType, Nonce, TransactionId};
use crate::crypto::HashAlgorithm;
use crate::crypto::cbc::CbcCipher;
use crate::error::{DecodeError, EncodeError};
use crate::time::Instant;

/// The most bytes a snapshot takes.
pub const MAX_SNAPSHOT_LEN: usize = 4 + 1 + 2 + MAX_PAYLOAD + 8;
const MAX_PAYLOAD: usize = 4 + 1 + 64 + 16 + 8 + 4 + 8 + 32 + 2 + MAX_SUBJECT;
/// The longest subject Name a snapshot keeps.
pub const MAX_SUBJECT: usize = 256;
const MAGIC: &[u8; 4] = b"EESP";
const VERSION: u8 = 1;

/// What is needed to go on polling a PENDING request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTransaction {
    /// PKCSReq or RenewalReq: what was asked for.
    pub request: MessageType,
    /// The algorithms agreed from GetCACaps.
    pub choice: AlgorithmChoice,
    /// The transaction ID every CertPoll repeats.
    pub transaction_id: TransactionId,
    /// The senderNonce of the last message sent (the next CertRep must echo it).
    pub sender_nonce: Nonce,
    /// When polling started and how many polls were made (for [`crate::retry::RetrySchedule::resume`]).
    pub retry_started: Instant,
    /// Polls made so far.
    pub retry_attempts: u32,
    /// When the next poll is due.
    pub next_poll: Instant,
    /// SHA-256 fingerprint of the CA/RA certificate the transaction runs with.
    pub ca_fingerprint: [u8; 32],
    /// The requested subject (DER Name), for CertPoll's IssuerAndSubject.
    pub subject: heapless::Vec<u8, MAX_SUBJECT>,
}

fn cipher_code(c: CbcCipher) -> u8 {
    match c {
        CbcCipher::Aes128 => 1,
        CbcCipher::Aes192 => 2,
        CbcCipher::Aes256 => 3,
        CbcCipher::DesEde3 => 4,
        CbcCipher::Des => 5,
    }
}

fn hash_code(h: HashAlgorithm) -> u8 {
    match h {
        HashAlgorithm::Sha1 => 1,
        HashAlgorithm::Sha256 => 2,
        HashAlgorithm::Sha384 => 3,
        HashAlgorithm::Sha512 => 4,
    }
}

fn checksum(data: &[u8]) -> [u8; 8] {
    let mut c = [0u8; 8];
    c.copy_from_slice(crate::crypto::Digest::sha256(data).as_bytes().get(..8).unwrap_or(&[0; 8]));
    c
}

struct Out<'o> {
    buf: &'o mut [u8],
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(b.len()).ok_or(EncodeError::BufferTooSmall { needed: MAX_SNAPSHOT_LEN })?;
        self.buf.get_mut(self.pos..end).ok_or(EncodeError::BufferTooSmall { needed: MAX_SNAPSHOT_LEN })?.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
}

struct In<'i> {
    rest: &'i [u8],
}

impl<'i> In<'i> {
    fn take(&mut self, n: usize) -> Result<&'i [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.take(1)?.first().copied().ok_or(DecodeError::Truncated)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
}

impl PendingTransaction {
    /// Writes the record into `out` (at most [`MAX_SNAPSHOT_LEN`] bytes).
    pub fn encode<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
        let request = match self.request {
            MessageType::PkcsReq => 19u8,
            MessageType::RenewalReq => 17,
            _ => return Err(EncodeError::InvalidValue { what: "pending request type" }),
        };
        let tx = self.transaction_id.as_bytes();
        // The transaction ID and subject are bounded strings of the client's own (heapless).
        let payload_len = (4 + 1 + 16 + 8 + 4 + 8 + 32 + 2usize).saturating_add(tx.len()).saturating_add(self.subject.len());
        let total = payload_len.saturating_add(4 + 1 + 2 + 8);
        if out.len() < total {
            return Err(EncodeError::BufferTooSmall { needed: total });
        }
        let mut o = Out { buf: out, pos: 0 };
        o.put(MAGIC)?;
        o.put(&[VERSION])?;
        o.put(&(payload_len as u16).to_be_bytes())?;
        o.put(&[request, cipher_code(self.choice.cipher), hash_code(self.choice.hash), u8::from(self.choice.post)])?;
        o.put(&[tx.len() as u8])?;
        o.put(tx)?;
        o.put(&self.sender_nonce)?;
        o.put(&self.retry_started.as_millis().to_be_bytes())?;
        o.put(&self.retry_attempts.to_be_bytes())?;
        o.put(&self.next_poll.as_millis().to_be_bytes())?;
        o.put(&self.ca_fingerprint)?;
        o.put(&(self.subject.len() as u16).to_be_bytes())?;
        o.put(&self.subject)?;
        let end = o.pos;
        let sum = checksum(o.buf.get(..end).unwrap_or(&[]));
        o.put(&sum)?;
        let end = o.pos;
        o.buf.get(..end).ok_or(EncodeError::BufferTooSmall { needed: total })
    }

    /// Reads a record. A wrong magic, version, length or checksum is an error: the caller
    /// reports it and starts a new enrollment, knowingly.
    pub fn decode(record: &[u8]) -> Result<Self, DecodeError> {
        let mut i = In { rest: record };
        if i.take(4)? != MAGIC {
            return Err(DecodeError::InvalidValue { what: "snapshot magic" });
        }
        if i.u8()? != VERSION {
            return Err(DecodeError::Unsupported { what: "snapshot version" });
        }
        let len_bytes = i.take(2)?;
        let payload_len =
            usize::from(u16::from_be_bytes([len_bytes.first().copied().unwrap_or(0), len_bytes.get(1).copied().unwrap_or(0)]));
        if payload_len > MAX_PAYLOAD {
            return Err(DecodeError::InvalidLength);
        }
        let payload = i.take(payload_len)?;
        let sum = i.take(8)?;
        if !i.rest.is_empty() {
            return Err(DecodeError::TrailingData);
        }
        let signed = record.get(..7 + payload_len).ok_or(DecodeError::Truncated)?;
        if checksum(signed) != sum {
            return Err(DecodeError::InvalidValue { what: "snapshot checksum" });
        }
        let mut p = In { rest: payload };
        let bad = |what| DecodeError::InvalidValue { what };
        let request = match p.u8()? {
            19 => MessageType::PkcsReq,
            17 => MessageType::RenewalReq,
            _ => return Err(bad("snapshot request type")),
        };
        let cipher = match p.u8()? {
            1 => CbcCipher::Aes128,
            2 => CbcCipher::Aes192,
            3 => CbcCipher::Aes256,
            4 => CbcCipher::DesEde3,
            5 => CbcCipher::Des,
            _ => return Err(bad("snapshot cipher")),
        };
        let hash = match p.u8()? {
            1 => HashAlgorithm::Sha1,
            2 => HashAlgorithm::Sha256,
            3 => HashAlgorithm::Sha384,
            4 => HashAlgorithm::Sha512,
            _ => return Err(bad("snapshot hash")),
        };
        let post = match p.u8()? {
            0 => false,
            1 => true,
            _ => return Err(bad("snapshot POST flag")),
        };
        let tx_len = usize::from(p.u8()?);
        let tx = core::str::from_utf8(p.take(tx_len)?).map_err(|_| bad("snapshot transaction ID"))?;
        let mut transaction_id = TransactionId::new();
        transaction_id.push_str(tx).map_err(|_| bad("snapshot transaction ID"))?;
        let mut sender_nonce = [0u8; 16];
        sender_nonce.copy_from_slice(p.take(16)?);
        let retry_started = Instant::from_millis(p.u64()?);
        let mut attempts = [0u8; 4];
        attempts.copy_from_slice(p.take(4)?);
        let next_poll = Instant::from_millis(p.u64()?);
        let mut ca_fingerprint = [0u8; 32];
        ca_fingerprint.copy_from_slice(p.take(32)?);
        let sl = p.take(2)?;
        let subject_len = usize::from(u16::from_be_bytes([sl.first().copied().unwrap_or(0), sl.get(1).copied().unwrap_or(0)]));
        let subject = heapless::Vec::from_slice(p.take(subject_len)?).map_err(|_| bad("snapshot subject"))?;
        if !p.rest.is_empty() {
            return Err(DecodeError::TrailingData);
        }
        Ok(Self {
            request,
            choice: AlgorithmChoice { cipher, hash, post },
            transaction_id,
            sender_nonce,
            retry_started,
            retry_attempts: u32::from_be_bytes(attempts),
            next_poll,
            ca_fingerprint,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PendingTransaction {
        let mut transaction_id = TransactionId::new();
        transaction_id.push_str("5F689028780D0C9623F4CA70D45539D9E4BF3914").unwrap();
        PendingTransaction {
            request: MessageType::PkcsReq,
            choice: AlgorithmChoice { cipher: CbcCipher::Aes128, hash: HashAlgorithm::Sha256, post: true },
            transaction_id,
            sender_nonce: [0xab; 16],
            retry_started: Instant::from_secs(1000),
            retry_attempts: 3,
            next_poll: Instant::from_secs(1240),
            ca_fingerprint: [0x5a; 32],
            subject: heapless::Vec::from_slice(&[
                0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'd', b'e', b'v', b'1',
            ])
            .unwrap(),
        }
    }

    #[test]
    fn round_trips_in_a_few_hundred_bytes() {
        let mut buf = [0u8; MAX_SNAPSHOT_LEN];
        let rec = sample().encode(&mut buf).unwrap().to_vec();
        assert!(rec.len() < 200, "{} bytes", rec.len());
        assert_eq!(PendingTransaction::decode(&rec).unwrap(), sample());
        assert_eq!(sample().encode(&mut buf[..rec.len() - 1]), Err(EncodeError::BufferTooSmall { needed: rec.len() }));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_reported() {
        let mut buf = [0u8; MAX_SNAPSHOT_LEN];
        let rec = sample().encode(&mut buf).unwrap().to_vec();
        for n in 0..rec.len() {
            assert!(PendingTransaction::decode(&rec[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..rec.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = rec.clone();
                bad[i] ^= bit;
                assert!(PendingTransaction::decode(&bad).is_err(), "flip at {i}");
            }
        }
        let mut longer = rec.clone();
        longer.push(0);
        assert_eq!(PendingTransaction::decode(&longer), Err(DecodeError::TrailingData));
        let mut v2 = rec.clone();
        v2[4] = 2;
        assert_eq!(PendingTransaction::decode(&v2), Err(DecodeError::Unsupported { what: "snapshot version" }));
    }

    #[test]
    fn only_pending_enrollments_are_saved() {
        let mut s = sample();
        s.request = MessageType::GetCrl;
        assert!(s.encode(&mut [0u8; MAX_SNAPSHOT_LEN]).is_err());
    }
}
