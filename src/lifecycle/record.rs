//! The manager's persisted state: one versioned, checksummed record per profile, written to two
//! [`StateStore`](crate::hal::StateStore) slots alternately (A/B), so a write torn by power loss
//! leaves the previous record readable.
//!
//! ```text
//! "EELC" | version (1) | sequence (u32 BE) | payload length (u16 BE) | payload
//!        | SHA-256(everything before)[..8]
//! payload: stage (1) | active key slot (1) | flags (1) | jitter seed (16)
//!          | failures (u32) | next retry (i64 s, 0 = none) | renew at (i64 s)
//!          | certificate | CA | staged next CA | shadow certificate   (each: u16 length + DER)
//!          | job in progress                                          (u16 length, 0 = none)
//! job:     purpose (1) | key slot (1) | SHA-256 of the key's SPKI (32) | transaction snapshot
//! ```
//! Version 2 added the job in progress (the key generated for an enrollment or renewal that
//! has not ended, and a SCEP PENDING transaction's snapshot), so a reboot resumes the same
//! transaction with the same key. Version 1 records (no job) are still read.
//! The record with the higher sequence number among the slots that check out wins. A slot that
//! is empty (length 0) is "never written"; a non-empty slot that does not check out is torn or
//! corrupt. If no slot checks out but one is non-empty, [`select`] reports it: the manager never
//! starts over silently on a device that had an identity.

#![deny(clippy::arithmetic_side_effects)]

use crate::crypto::Digest;
use crate::error::EncodeError;
use crate::time::UnixTime;

/// The longest certificate (or CA certificate) a record keeps, in bytes.
pub const MAX_CERT_LEN: usize = 2048;
/// Fixed part of the payload.
const FIXED: usize = 1 + 1 + 1 + 16 + 4 + 8 + 8;
/// The longest protocol transaction snapshot a record keeps (a SCEP PENDING transaction's
/// [`crate::scep`] snapshot is at most 410 bytes).
pub const MAX_TRANSACTION_LEN: usize = 512;
/// The job field's fixed part: purpose, key slot, SPKI hash.
const JOB_FIXED: usize = 1 + 1 + 32;
/// The most bytes a record takes: header, the fixed payload, four certificates, the job in
/// progress, checksum.
pub const MAX_RECORD_LEN: usize = HEADER + FIXED + 4 * (2 + MAX_CERT_LEN) + 2 + JOB_FIXED + MAX_TRANSACTION_LEN + CHECKSUM;
const HEADER: usize = 4 + 1 + 4 + 2;
const CHECKSUM: usize = 8;
const MAGIC: &[u8; 4] = b"EELC";
const VERSION: u8 = 2;

/// Where a profile stands, as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No identity yet (first enrollment failed so far; the record keeps its backoff).
    Unenrolled,
    /// A certificate and its key are in use.
    Active,
}

/// One of the two key slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeySlot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl KeySlot {
    /// The other slot.
    pub fn other(self) -> Self {
        match self {
            KeySlot::A => KeySlot::B,
            KeySlot::B => KeySlot::A,
        }
    }
}

/// What a job in progress is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JobPurpose {
    /// An enrollment (the first, or after the certificate expired).
    Enroll,
    /// A renewal of the certificate in use.
    Renew,
    /// A shadow certificate under the staged next CA.
    Shadow,
}

/// An enrollment or renewal that has begun and not ended: its key was generated (and must be
/// the one certified: a retry or a reboot uses it again, so a SCEP transaction, whose ID comes
/// from the key, stays the same), and a PENDING transaction's snapshot, if the CA answered
/// PENDING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRecord<'a> {
    /// What the job is for.
    pub purpose: JobPurpose,
    /// The key slot being certified.
    pub key: KeySlot,
    /// SHA-256 of the key's SubjectPublicKeyInfo (DER): the issued certificate must carry it.
    pub spki_hash: [u8; 32],
    /// The protocol client's transaction snapshot (SCEP PENDING), or empty.
    pub transaction: &'a [u8],
}

/// Flag: the certificate was accepted while the device had no trusted time; its validity is
/// checked once time is known.
pub const FLAG_VALIDITY_UNCHECKED: u8 = 1;

/// A decoded (or to-be-encoded) record. Certificates are DER; empty slices mean "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Write counter: the newer of two readable records wins.
    pub sequence: u32,
    /// Where the profile stands.
    pub stage: Stage,
    /// The key slot of the certificate in use.
    pub active_slot: KeySlot,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Drawn once from the RNG: the jitter of every renewal and retry comes from it.
    pub jitter_seed: [u8; 16],
    /// Consecutive failed attempts (enrollment or renewal).
    pub failures: u32,
    /// When to try again after a failure (`None`: no retry pending).
    pub next_retry: Option<UnixTime>,
    /// When to renew the certificate in use (meaningless before the first enrollment).
    pub renew_at: UnixTime,
    /// The certificate in use.
    pub certificate: &'a [u8],
    /// The CA certificate that issued it: renewals must chain to it.
    pub ca: &'a [u8],
    /// The next CA certificate, staged (SCEP GetNextCACert, EST root key update).
    pub next_ca: &'a [u8],
    /// A certificate already issued under the next CA, for the switch.
    pub shadow: &'a [u8],
    /// The enrollment or renewal in progress, if one has begun (its key generated).
    pub job: Option<JobRecord<'a>>,
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordError {
    /// Not a record of ours (other magic), or shorter than a header.
    NotARecord,
    /// A version this build does not read.
    UnsupportedVersion(u8),
    /// The checksum does not match (a torn or corrupted write).
    Checksum,
    /// The checksum matches but a field does not parse.
    Malformed,
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecordError::NotARecord => f.write_str("not a lifecycle record"),
            RecordError::UnsupportedVersion(v) => write!(f, "lifecycle record version {v} is not supported"),
            RecordError::Checksum => f.write_str("lifecycle record checksum mismatch (torn or corrupted write)"),
            RecordError::Malformed => f.write_str("lifecycle record is malformed"),
        }
    }
}

impl<'a> Record<'a> {
    /// Decodes and checks a record.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RecordError> {
        let (magic, rest) = bytes.split_at_checked(4).ok_or(RecordError::NotARecord)?;
        if magic != MAGIC {
            return Err(RecordError::NotARecord);
        }
        let mut r = Reader(rest);
        let version = r.u8()?;
        if version != VERSION && version != 1 {
            return Err(RecordError::UnsupportedVersion(version));
        }
        let sequence = r.u32()?;
        let len = usize::from(r.u16()?);
        let body_end = HEADER.checked_add(len).ok_or(RecordError::Checksum)?;
        let (signed, tail) = bytes.split_at_checked(body_end).ok_or(RecordError::Checksum)?;
        let sum = checksum(signed);
        if tail.get(..CHECKSUM) != Some(&sum[..]) {
            return Err(RecordError::Checksum);
        }
        let mut p = Reader(signed.get(HEADER..).ok_or(RecordError::Malformed)?);
        let stage = match p.u8()? {
            0 => Stage::Unenrolled,
            1 => Stage::Active,
            _ => return Err(RecordError::Malformed),
        };
        let active_slot = slot_of(p.u8()?)?;
        let flags = p.u8()?;
        let mut jitter_seed = [0u8; 16];
        jitter_seed.copy_from_slice(p.take(16)?);
        let failures = p.u32()?;
        let next_retry = match p.i64()? {
            0 => None,
            t => Some(UnixTime::from_secs(t)),
        };
        let renew_at = UnixTime::from_secs(p.i64()?);
        let certificate = p.field()?;
        let ca = p.field()?;
        let next_ca = p.field()?;
        let shadow = p.field()?;
        let job = if version == 1 { None } else { p.job()? };
        if !p.0.is_empty() || (stage == Stage::Active && (certificate.is_empty() || ca.is_empty())) {
            return Err(RecordError::Malformed);
        }
        Ok(Record {
            sequence,
            stage,
            active_slot,
            flags,
            jitter_seed,
            failures,
            next_retry,
            renew_at,
            certificate,
            ca,
            next_ca,
            shadow,
            job,
        })
    }

    /// The encoded length.
    pub fn len(&self) -> usize {
        let job = self.job.map_or(0, |j| JOB_FIXED.saturating_add(j.transaction.len()));
        [self.certificate.len(), self.ca.len(), self.next_ca.len(), self.shadow.len(), job, CHECKSUM]
            .iter()
            .fold(HEADER + FIXED + 10, |acc, n| acc.saturating_add(*n))
    }

    /// Always false: a record has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encodes into `out`; returns the record's length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let fields = [self.certificate, self.ca, self.next_ca, self.shadow];
        if fields.iter().any(|f| f.len() > MAX_CERT_LEN) {
            return Err(EncodeError::InvalidValue { what: "lifecycle record certificate (longer than MAX_CERT_LEN)" });
        }
        if self.job.is_some_and(|j| j.transaction.len() > MAX_TRANSACTION_LEN) {
            return Err(EncodeError::InvalidValue { what: "lifecycle record transaction (longer than MAX_TRANSACTION_LEN)" });
        }
        let total = self.len();
        let out = out.get_mut(..total).ok_or(EncodeError::BufferTooSmall { needed: total })?;
        let payload_len = u16::try_from(total.saturating_sub(HEADER + CHECKSUM))
            .map_err(|_| EncodeError::InvalidValue { what: "lifecycle record length" })?;
        let mut w = Writer { out, at: 0 };
        w.put(MAGIC);
        w.put(&[VERSION]);
        w.put(&self.sequence.to_be_bytes());
        w.put(&payload_len.to_be_bytes());
        w.put(&[
            match self.stage {
                Stage::Unenrolled => 0,
                Stage::Active => 1,
            },
            slot_byte(self.active_slot),
            self.flags,
        ]);
        w.put(&self.jitter_seed);
        w.put(&self.failures.to_be_bytes());
        w.put(&self.next_retry.map_or(0, |t| t.as_secs()).to_be_bytes());
        w.put(&self.renew_at.as_secs().to_be_bytes());
        for f in fields {
            // Lengths were checked against MAX_CERT_LEN (< u16::MAX) above.
            w.put(&(f.len() as u16).to_be_bytes());
            w.put(f);
        }
        match self.job {
            None => w.put(&[0, 0]),
            Some(j) => {
                // At most JOB_FIXED + MAX_TRANSACTION_LEN (checked above).
                w.put(&(JOB_FIXED.saturating_add(j.transaction.len()) as u16).to_be_bytes());
                w.put(&[purpose_byte(j.purpose), slot_byte(j.key)]);
                w.put(&j.spki_hash);
                w.put(j.transaction);
            }
        }
        let signed_len = w.at;
        let sum = checksum(w.out.get(..signed_len).unwrap_or_default());
        w.put(&sum);
        Ok(total)
    }
}

fn slot_byte(slot: KeySlot) -> u8 {
    match slot {
        KeySlot::A => 0,
        KeySlot::B => 1,
    }
}

fn slot_of(b: u8) -> Result<KeySlot, RecordError> {
    match b {
        0 => Ok(KeySlot::A),
        1 => Ok(KeySlot::B),
        _ => Err(RecordError::Malformed),
    }
}

fn purpose_byte(p: JobPurpose) -> u8 {
    match p {
        JobPurpose::Enroll => 0,
        JobPurpose::Renew => 1,
        JobPurpose::Shadow => 2,
    }
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM] {
    let d = Digest::sha256(bytes);
    let mut out = [0u8; CHECKSUM];
    for (o, b) in out.iter_mut().zip(d.as_bytes()) {
        *o = *b;
    }
    out
}

struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Writes `bytes` at the cursor (the caller sized `out` from [`Record::len`]).
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(RecordError::Malformed)?;
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn u16(&mut self) -> Result<u16, RecordError> {
        let mut b = [0u8; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(b))
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(b))
    }
    fn field(&mut self) -> Result<&'a [u8], RecordError> {
        let len = usize::from(self.u16()?);
        if len > MAX_CERT_LEN {
            return Err(RecordError::Malformed);
        }
        self.take(len)
    }
    fn job(&mut self) -> Result<Option<JobRecord<'a>>, RecordError> {
        let len = usize::from(self.u16()?);
        if len == 0 {
            return Ok(None);
        }
        if !(JOB_FIXED..=JOB_FIXED + MAX_TRANSACTION_LEN).contains(&len) {
            return Err(RecordError::Malformed);
        }
        let mut j = Reader(self.take(len)?);
        let purpose = match j.u8()? {
            0 => JobPurpose::Enroll,
            1 => JobPurpose::Renew,
            2 => JobPurpose::Shadow,
            _ => return Err(RecordError::Malformed),
        };
        let key = slot_of(j.u8()?)?;
        let mut spki_hash = [0u8; 32];
        spki_hash.copy_from_slice(j.take(32)?);
        Ok(Some(JobRecord { purpose, key, spki_hash, transaction: j.0 }))
    }
}

/// What [`select`] found in the slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected<'a> {
    /// The newest record that checks out, and the slot it came from (`None`: every slot is
    /// empty, a device that never persisted anything).
    pub record: Option<(usize, Record<'a>)>,
    /// Slots that are non-empty but do not check out (a torn write, usually the newer one).
    pub damaged: u8,
}

/// No slot holds a readable record although some are non-empty: reported, never reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unreadable {
    /// Why the first non-empty slot was refused.
    pub first_error: RecordError,
    /// How many slots were non-empty.
    pub damaged: u8,
}

/// Picks the newest readable record among the slots' contents (an empty slice: an empty slot).
pub fn select<'a>(slots: &[&'a [u8]]) -> Result<Selected<'a>, Unreadable> {
    let mut best: Option<(usize, Record<'a>)> = None;
    let mut damaged = 0u8;
    let mut first_error = None;
    for (i, bytes) in slots.iter().enumerate() {
        if bytes.is_empty() {
            continue;
        }
        match Record::parse(bytes) {
            Ok(r) => {
                if best.as_ref().is_none_or(|(_, b)| newer(r.sequence, b.sequence)) {
                    best = Some((i, r));
                }
            }
            Err(e) => {
                damaged = damaged.saturating_add(1);
                first_error.get_or_insert(e);
            }
        }
    }
    match (best, first_error) {
        (None, Some(first_error)) => Err(Unreadable { first_error, damaged }),
        (record, _) => Ok(Selected { record, damaged }),
    }
}

/// Sequence comparison that survives wrap-around (serial number arithmetic, RFC 1982 style).
fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(cert: &'a [u8], ca: &'a [u8]) -> Record<'a> {
        Record {
            sequence: 7,
            stage: Stage::Active,
            active_slot: KeySlot::B,
            flags: FLAG_VALIDITY_UNCHECKED,
            jitter_seed: [9; 16],
            failures: 3,
            next_retry: Some(UnixTime::from_secs(1_800_000_000)),
            renew_at: UnixTime::from_secs(1_790_000_000),
            certificate: cert,
            ca,
            next_ca: &[],
            shadow: &[0x30, 0],
            job: Some(JobRecord { purpose: JobPurpose::Renew, key: KeySlot::A, spki_hash: [7; 32], transaction: b"snapshot" }),
        }
    }

    #[test]
    fn round_trip_and_size() {
        let (cert, ca) = ([0x30u8; 700], [0x31u8; 900]);
        let r = sample(&cert, &ca);
        let mut buf = [0u8; MAX_RECORD_LEN];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(n, r.len());
        assert_eq!(Record::parse(&buf[..n]).unwrap(), r);
        // Trailing bytes after the checksum (a slot larger than the record) are ignored.
        assert_eq!(Record::parse(&buf[..n + 5]).unwrap(), r);
        let mut small = [0u8; 100];
        assert_eq!(r.emit(&mut small), Err(EncodeError::BufferTooSmall { needed: n }));
    }

    #[test]
    fn every_single_byte_change_or_cut_is_detected() {
        let (cert, ca) = ([0x30u8; 40], [0x31u8; 40]);
        let r = sample(&cert, &ca);
        let mut buf = [0u8; 512];
        let n = r.emit(&mut buf).unwrap();
        for i in 0..n {
            let mut b = buf;
            b[i] ^= 0x01;
            assert!(Record::parse(&b[..n]).is_err(), "flip at {i} accepted");
        }
        for cut in 0..n {
            assert!(Record::parse(&buf[..cut]).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn select_prefers_the_newest_readable_and_reports_damage() {
        let (cert, ca) = ([0x30u8; 40], [0x31u8; 40]);
        let mut a = [0u8; 512];
        let mut b = [0u8; 512];
        let na = Record { sequence: 1, ..sample(&cert, &ca) }.emit(&mut a).unwrap();
        let nb = Record { sequence: 2, ..sample(&cert, &ca) }.emit(&mut b).unwrap();
        let s = select(&[&a[..na], &b[..nb]]).unwrap();
        assert_eq!(s.record.map(|(i, r)| (i, r.sequence)), Some((1, 2)));
        // B torn: A wins, damage reported.
        let s = select(&[&a[..na], &b[..nb / 2]]).unwrap();
        assert_eq!(s.record.map(|(i, r)| (i, r.sequence)), Some((0, 1)));
        assert_eq!(s.damaged, 1);
        // Both empty: a fresh device.
        assert_eq!(select(&[&[], &[]]).unwrap(), Selected { record: None, damaged: 0 });
        // Only damage: reported, not reset.
        let e = select(&[&a[..na - 1], &[]]).unwrap_err();
        assert_eq!(e, Unreadable { first_error: RecordError::Checksum, damaged: 1 });
        // Sequence wrap-around: 0 is newer than u32::MAX.
        let na = Record { sequence: u32::MAX, ..sample(&cert, &ca) }.emit(&mut a).unwrap();
        let nb = Record { sequence: 0, ..sample(&cert, &ca) }.emit(&mut b).unwrap();
        assert_eq!(select(&[&a[..na], &b[..nb]]).unwrap().record.map(|(i, _)| i), Some(1));
    }

    #[test]
    fn version_1_records_are_read_without_a_job() {
        let (cert, ca) = ([0x30u8; 40], [0x31u8; 40]);
        let r = Record { job: None, ..sample(&cert, &ca) };
        let mut buf = [0u8; 512];
        let n = r.emit(&mut buf).unwrap();
        // Version 1: no job length, payload 2 bytes shorter, its own checksum.
        let mut v1 = buf[..n - CHECKSUM - 2].to_vec();
        v1[4] = 1;
        let payload = u16::from_be_bytes([v1[9], v1[10]]) - 2;
        v1[9..11].copy_from_slice(&payload.to_be_bytes());
        let sum = checksum(&v1);
        v1.extend_from_slice(&sum);
        assert_eq!(Record::parse(&v1).unwrap(), r);
        // A job with a transaction longer than the format allows is refused when encoding.
        let long = [0u8; MAX_TRANSACTION_LEN + 1];
        let j = JobRecord { purpose: JobPurpose::Enroll, key: KeySlot::B, spki_hash: [1; 32], transaction: &long };
        assert!(Record { job: Some(j), ..r }.emit(&mut [0u8; MAX_RECORD_LEN]).is_err());
        // The largest record fits MAX_RECORD_LEN.
        let big = [0x30u8; MAX_CERT_LEN];
        let t = [0u8; MAX_TRANSACTION_LEN];
        let j = JobRecord { transaction: &t, ..j };
        let r = Record { certificate: &big, ca: &big, next_ca: &big, shadow: &big, job: Some(j), ..r };
        assert_eq!(r.emit(&mut [0u8; MAX_RECORD_LEN]), Ok(MAX_RECORD_LEN));
    }

    #[test]
    fn refuses_what_is_not_ours() {
        assert_eq!(Record::parse(b"EESP\x01"), Err(RecordError::NotARecord));
        assert_eq!(Record::parse(b"EELC\x09\0\0\0\0\0\0"), Err(RecordError::UnsupportedVersion(9)));
        assert_eq!(Record::parse(b""), Err(RecordError::NotARecord));
        let big = [0x30u8; MAX_CERT_LEN + 1];
        let r = Record { certificate: &big, ..sample(&[], &[]) };
        assert_eq!(
            r.emit(&mut [0u8; MAX_RECORD_LEN + 10]),
            Err(EncodeError::InvalidValue { what: "lifecycle record certificate (longer than MAX_CERT_LEN)" })
        );
    }
}
