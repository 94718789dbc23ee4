//! The lifecycle manager: one state machine per profile that decides when to enroll, renew,
//! fetch the next CA, switch to it and persist, and tells the caller through [`Step`]s. It runs
//! no protocol itself: a [`Step::Run`] names a [`Job`] (an enrollment, a renewal, a CA fetch)
//! that the caller performs with the SCEP, EST or ACME client, then reports with a `handle_*` call.
//!
//! ```text
//! loop {
//!     match manager.poll(clock.now())? {
//!         Step::GenerateKey(slot)       => manager.handle_key(slot, &keys.generate(slot)?)?,
//!         Step::Run(Job::Enroll { .. }) => /* PKCSReq or /simpleenroll */ manager.handle_issued(now, &cert, &ca)?,
//!         Step::Run(Job::Renew { .. })  => /* RenewalReq or /simplereenroll */ ...,
//!         Step::Run(Job::FetchNextCa)   => /* GetNextCACert or /cacerts */ manager.handle_next_ca(now, &next)?,
//!         Step::Store { slot, record }  => manager.handle_stored(store.store(slot, record).is_ok())?,
//!         Step::Activate { slot, certificate } => /* use this key and certificate from now on */ {}
//!         Step::Report(r)               => log(r),
//!         Step::Wait(wake)              => sleep(wake),
//!     }
//! }
//! ```
//!
//! Guarantees: the identity in use ([`Manager::identity`]) only changes after the new
//! certificate was received, checked (its key, its issuer's signature, its validity when time
//! is known) and persisted; a failed or interrupted renewal leaves the previous identity in use
//! and retries with backoff; a record that cannot be read is reported ([`RestoreError`]).

use super::policy::{KeyPolicy, RenewalPolicy};
use super::record::{self, FLAG_VALIDITY_UNCHECKED, JobPurpose as Purpose, JobRecord, KeySlot, MAX_CERT_LEN, Record, Stage};
use crate::asn1::cert::CertificateRef;
use crate::asn1::path;
use crate::crypto::Digest;
use crate::error::ChainError;
use crate::time::{Duration, UnixTime};
use rand_core::CryptoRngCore;

/// The enrollment protocol of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Protocol {
    /// SCEP (RFC 8894): PKCSReq, RenewalReq, GetNextCACert.
    Scep,
    /// EST (RFC 7030): /simpleenroll, /simplereenroll, /cacerts with root key update.
    Est,
    /// ACME (RFC 8555): orders for the profile's subjectAltNames, renewals as new orders that
    /// name the certificate they replace, renewal windows from the server (ARI,
    /// [`Manager::handle_renewal_window`]). The issued chain must lead to the profile's
    /// [`Trust`] (an anchor: the CA's root; a fingerprint: of the issuing CA), whichever
    /// intermediate the CA uses at the time; no CA rollover jobs (the root is the anchor).
    Acme,
}

/// How the first enrollment's CA is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust<'a> {
    /// The CA certificate must have this public key (DER certificate of the anchor).
    Anchor(&'a [u8]),
    /// The CA certificate's SHA-256 fingerprint (DER).
    Fingerprint([u8; 32]),
}

/// How the request authenticates, for the caller's protocol run (the manager only passes it
/// on: a [`Job`] says which identity signs). `Debug` shows the kind and the user name, never
/// the challenge or the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth<'a> {
    /// Nothing beyond the request's own signature.
    None,
    /// SCEP challengePassword (in the CSR).
    Challenge(&'a str),
    /// EST HTTP Basic.
    Basic {
        /// User name.
        user: &'a str,
        /// Password.
        password: &'a str,
    },
    /// TLS client certificate: the identity in use (renewals).
    ClientCertificate,
}

impl core::fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Challenge(_) => f.write_str("Challenge(not shown)"),
            Auth::Basic { user, .. } => f.debug_struct("Basic").field("user", user).field("password", &"not shown").finish(),
            Auth::ClientCertificate => f.write_str("ClientCertificate"),
        }
    }
}

/// When to look for the next CA and enroll under it ahead of the switch (Cisco IOS's "shadow"
/// certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloverPolicy {
    /// Start asking for the next CA this long before the current CA's notAfter.
    pub check_before: Duration,
    /// Enroll the shadow certificate under the staged next CA this long before the switch.
    pub shadow_before: Duration,
    /// Ask again after this long when the server had no next CA.
    pub recheck: Duration,
}

impl RolloverPolicy {
    /// Look 90 days ahead, shadow-enroll 30 days ahead, re-ask daily.
    pub const DEFAULT: Self = Self {
        check_before: Duration::from_secs(90 * 86_400),
        shadow_before: Duration::from_secs(30 * 86_400),
        recheck: Duration::from_secs(86_400),
    };
}

impl Default for RolloverPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One identity to maintain. `E` is the caller's own protocol settings (algorithm policy,
/// buffer sizes, TLS settings...): the manager never looks at it, nor at `server`, `subject`,
/// `alt_names` and `auth`, which are there for the caller's protocol run of each [`Job`].
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a, E = ()> {
    /// A name for reports and logs.
    pub name: &'a str,
    /// SCEP, EST or ACME.
    pub protocol: Protocol,
    /// The server, as the caller's transport takes it (`host:port`, a URL).
    pub server: &'a str,
    /// The device's key slot numbers behind [`KeySlot::A`] and [`KeySlot::B`] (secure element
    /// slots, key file names...): see [`Manager::device_key_slot`].
    pub key_slots: [u8; 2],
    /// The two `StateStore` slots this profile's records alternate between ([`Step::Store`]
    /// names them; [`Manager::restore`] takes their contents in this order). Profiles that
    /// run side by side use different slots.
    pub store_slots: [u8; 2],
    /// How the CA of the first enrollment is trusted.
    pub trust: Trust<'a>,
    /// The subject of every request.
    pub subject: &'a [crate::asn1::csr::NameAttribute<'a>],
    /// The subjectAltNames of every request (may be empty).
    pub alt_names: &'a [crate::asn1::csr::SubjectAltName<'a>],
    /// How requests authenticate.
    pub auth: Auth<'a>,
    /// When to renew.
    pub renewal: RenewalPolicy,
    /// Same key or a new key per renewal.
    pub keys: KeyPolicy,
    /// CA rollover.
    pub rollover: RolloverPolicy,
    /// The caller's protocol settings.
    pub extra: E,
}

/// Work for the caller's protocol client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job<'m> {
    /// First enrollment (SCEP PKCSReq, EST /simpleenroll) for the key in `key`; also used when
    /// the certificate in use has expired.
    Enroll {
        /// The key slot to certify.
        key: KeySlot,
    },
    /// Renewal (SCEP RenewalReq, EST /simplereenroll) of `certificate`, whose key is in
    /// `signer`: the request certifies the key in `key` (the same slot, or the spare one).
    Renew {
        /// The key slot to certify.
        key: KeySlot,
        /// The key slot of the certificate in use (signs the request, or the TLS client key).
        signer: KeySlot,
        /// The certificate in use.
        certificate: &'m [u8],
        /// True for the shadow certificate: the request goes to the next CA (the issued
        /// certificate must chain to the staged next CA).
        under_next_ca: bool,
    },
    /// SCEP GetNextCACert / EST /cacerts: report with [`Manager::handle_next_ca`] (SCEP: the
    /// client verified the reply is signed by the current CA) or [`Manager::handle_ca_certs`]
    /// (EST: the manager verifies the root key update chain).
    FetchNextCa,
}

/// When to call [`Manager::poll`] again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Wake {
    /// At this time (or earlier: polling early is harmless).
    At(UnixTime),
    /// Once the device has trusted time: nothing can be scheduled without it.
    WhenTimeKnown,
}

/// Something the caller should know (log it, raise an alarm); no answer is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Report {
    /// The state was restored from storage, but a slot was damaged (a torn write): the previous
    /// record was used.
    DamagedSlot,
    /// A certificate was accepted without trusted time: its validity is checked later.
    ValidityUnchecked,
    /// Now that time is known: the certificate in use is not valid (`expired` or not yet).
    ValidityProblem {
        /// True if it has expired, false if it is not valid yet.
        expired: bool,
    },
    /// Renewal keeps failing and the certificate in use expires soon (or has expired).
    ExpiryNear {
        /// The certificate's notAfter.
        not_after: UnixTime,
        /// Consecutive failures.
        failures: u32,
    },
    /// An issued certificate was refused by the manager's checks; the identity in use stays.
    Refused(Refusal),
    /// A next CA certificate was staged.
    NextCaStaged {
        /// Its notAfter.
        not_after: UnixTime,
    },
    /// The profile switched to the next CA (and the shadow certificate).
    CaSwitched,
    /// Persisting failed; nothing changed, the step is retried.
    StorageFailed,
    /// The server's renewal window (ACME Renewal Information) moved the renewal to `at`.
    RenewalScheduled {
        /// When the renewal is now due.
        at: UnixTime,
    },
}

/// Why an issued certificate (or a next CA) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// It does not parse, or is larger than [`MAX_CERT_LEN`].
    Malformed,
    /// It certifies another public key than the one asked for.
    WrongKey,
    /// The CA is not the trusted one (anchor, fingerprint, recorded CA or staged next CA).
    UntrustedCa,
    /// The CA's signature on it does not verify.
    BadSignature,
    /// It is not valid at the current (trusted) time (notBefore more than [`MAX_CLOCK_SKEW`]
    /// ahead, or notAfter passed).
    NotValidNow,
    /// A next CA certificate that is not a CA, or not newer than the current one.
    NotANextCa,
    /// Path validation under the CA refused it for another reason (a CA certificate where
    /// an end entity belongs, a malformed or misplaced extension, the CA's name constraints).
    Invalid(crate::error::ChainError),
}

/// A wrong call order or a record that does not fit the buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ManagerError {
    /// The call does not answer the step the manager is waiting for.
    UnexpectedCall,
    /// The record does not fit the buffers (size them with [`record::MAX_RECORD_LEN`]).
    BufferTooSmall,
}

impl core::fmt::Display for ManagerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ManagerError::UnexpectedCall => f.write_str("call does not answer the manager's current step"),
            ManagerError::BufferTooSmall => f.write_str("lifecycle record does not fit the buffers"),
        }
    }
}

/// Restoring from storage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestoreError {
    /// No slot holds a readable record but some are non-empty: the device had state that is
    /// now unreadable. Not reset silently: the caller decides (e.g. [`Manager::new`] after an
    /// operator's confirmation).
    Unreadable(record::Unreadable),
    /// The stored lengths exceed the buffers.
    BufferTooSmall,
}

impl core::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unreadable(u) => write!(
                f,
                "the stored state is unreadable ({} non-empty slot(s); the first: {}); not reset without the caller's decision",
                u.damaged, u.first_error
            ),
            Self::BufferTooSmall => f.write_str("the stored record is larger than the manager's buffers"),
        }
    }
}

impl core::error::Error for RestoreError {}

/// What the next step should say once the current one is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Decide on the next poll.
    Idle,
    /// Waiting for a key in `slot`, then run `purpose`.
    Key { slot: KeySlot, purpose: Purpose },
    /// Waiting for the job's result.
    Job { purpose: Purpose, key: KeySlot, spki: [u8; 32] },
    /// Waiting for the CA fetch result.
    Fetch,
    /// The encoded record in `next` (len) must be stored; then `then`.
    Store { len: usize, then: Then },
    /// Tell the caller to use the identity in use now.
    Activate,
}

/// What follows a successful store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Decide anew.
    Idle,
    /// Tell the caller to use the identity in use now.
    Activate,
    /// Go on with the job (its key, or its PENDING transaction, is persisted now).
    Job { purpose: Purpose, key: KeySlot, spki: [u8; 32] },
}

/// The caller's two record buffers (each at least the record's size; [`record::MAX_RECORD_LEN`]
/// always fits). At restore they hold what the two storage slots hold.
#[derive(Debug)]
pub struct Buffers<'b> {
    /// The record in force.
    pub current: &'b mut [u8],
    /// The record being written.
    pub next: &'b mut [u8],
}

/// How far in the future an issued certificate's notBefore may be and still be accepted: CAs
/// stamp notBefore with their own clock, which may run a little ahead of the device's.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);

/// The report queue's capacity.
const REPORTS: usize = 4;

/// The lifecycle state machine of one profile (see the module docs).
pub struct Manager<'b> {
    protocol: Protocol,
    key_slots: [u8; 2],
    store_slots: [u8; 2],
    trust: Trust<'b>,
    renewal: RenewalPolicy,
    keys: KeyPolicy,
    rollover: RolloverPolicy,
    current: &'b mut [u8],
    current_len: usize,
    next: &'b mut [u8],
    /// The storage slot (0 or 1) the next record goes to.
    write_slot: u8,
    state: State,
    reports: heapless::Deque<Report, REPORTS>,
    /// Not before this time ask for the next CA again (memory only).
    next_ca_check: Option<UnixTime>,
}

impl core::fmt::Debug for Manager<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let r = self.record();
        f.debug_struct("Manager")
            .field("protocol", &self.protocol)
            .field("state", &self.state)
            .field("stage", &r.stage)
            .field("sequence", &r.sequence)
            .field("active_slot", &r.active_slot)
            .field("failures", &r.failures)
            .field("write_slot", &self.write_slot)
            .finish_non_exhaustive()
    }
}

impl<'b> Manager<'b> {
    // ---- construction --------------------------------------------------------------------

    /// A manager for a device with no stored state. The jitter seed is drawn from `rng`; the
    /// first step stores the identity-less initial record, then a key and an enrollment are
    /// asked for.
    pub fn new<E>(profile: &Profile<'b, E>, buffers: Buffers<'b>, rng: &mut impl CryptoRngCore) -> Result<Self, ManagerError> {
        let mut seed = [0u8; 16];
        rng.fill_bytes(&mut seed);
        let record = Record { jitter_seed: seed, ..EMPTY };
        let Buffers { current, next } = buffers;
        let current_len = record.emit(current).map_err(|_| ManagerError::BufferTooSmall)?;
        let len = record.emit(next).map_err(|_| ManagerError::BufferTooSmall)?;
        let mut m = Self::assemble(profile, current, current_len, next, 0);
        // The identity-less first record is persisted before anything else: it makes the
        // jitter seed durable, and a torn write of it is the only way to find a damaged slot
        // next to an empty one (see `restore`).
        m.state = State::Store { len, then: Then::Idle };
        Ok(m)
    }

    /// A manager from the two storage slots' contents, which the caller read into
    /// `buffers.current` (the profile's first store slot, `lens[0]` bytes) and `buffers.next`
    /// (its second, `lens[1]`). An
    /// empty pair is a fresh device (as [`Manager::new`]); a damaged slot next to a readable
    /// one is reported ([`Report::DamagedSlot`]), and so is a damaged slot next to an empty one
    /// (a torn first write, which held no identity: the manager starts over). Two non-empty
    /// slots that both fail their checks are [`RestoreError::Unreadable`]: never reset.
    pub fn restore<E>(
        profile: &Profile<'b, E>,
        buffers: Buffers<'b>,
        lens: [usize; 2],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, RestoreError> {
        let Buffers { current, next } = buffers;
        let (Some(a), Some(b)) = (current.get(..lens[0]), next.get(..lens[1])) else { return Err(RestoreError::BufferTooSmall) };
        let selected = match record::select(&[a, b]) {
            Ok(s) => s,
            // One damaged slot next to an empty one: only the very first write (the
            // identity-less record of `new`) was ever made, and it was torn. Nothing is lost by
            // starting over; reported.
            Err(e) if e.damaged == 1 && (a.is_empty() || b.is_empty()) => {
                let mut m = Self::new(profile, Buffers { current, next }, rng).map_err(|_| RestoreError::BufferTooSmall)?;
                m.report(Report::DamagedSlot);
                return Ok(m);
            }
            Err(e) => return Err(RestoreError::Unreadable(e)),
        };
        let damaged = selected.damaged > 0;
        let Some((from, rec)) = selected.record else {
            return Self::new(profile, Buffers { current, next }, rng).map_err(|_| RestoreError::BufferTooSmall);
        };
        let len = rec.len();
        let (current, next) = if from == 0 { (current, next) } else { (next, current) };
        let mut m = Self::assemble(profile, current, len, next, if from == 0 { 1 } else { 0 });
        if damaged {
            m.report(Report::DamagedSlot);
        }
        Ok(m)
    }

    fn assemble<E>(profile: &Profile<'b, E>, current: &'b mut [u8], current_len: usize, next: &'b mut [u8], write_slot: u8) -> Self {
        Self {
            protocol: profile.protocol,
            key_slots: profile.key_slots,
            store_slots: profile.store_slots,
            trust: profile.trust,
            renewal: profile.renewal,
            keys: profile.keys,
            rollover: profile.rollover,
            current,
            current_len,
            next,
            write_slot,
            state: State::Idle,
            reports: heapless::Deque::new(),
            next_ca_check: None,
        }
    }

    // ---- getters ---------------------------------------------------------------------------

    /// The record in force (decoded).
    pub fn record(&self) -> Record<'_> {
        record_in(self.current, self.current_len)
    }

    /// The identity in use: its key slot and certificate (None before the first enrollment).
    pub fn identity(&self) -> Option<(KeySlot, &[u8])> {
        let r = self.record();
        (r.stage == Stage::Active).then_some((r.active_slot, r.certificate))
    }

    /// The CA certificate the identity chains to (None before the first enrollment).
    pub fn ca(&self) -> Option<&[u8]> {
        let r = self.record();
        (r.stage == Stage::Active).then_some(r.ca)
    }

    /// The protocol of the profile.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The device's key slot number behind `slot` (the profile's `key_slots`).
    pub fn device_key_slot(&self, slot: KeySlot) -> u8 {
        match slot {
            KeySlot::A => self.key_slots[0],
            KeySlot::B => self.key_slots[1],
        }
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// The key asked for by [`Step::GenerateKey`] is ready in `slot`; `spki` is its
    /// SubjectPublicKeyInfo (DER), which the issued certificate must carry.
    pub fn handle_key(&mut self, slot: KeySlot, spki: &[u8]) -> Result<(), ManagerError> {
        match self.state {
            State::Key { slot: s, purpose } if s == slot => {
                // The job and its key are persisted before the job runs: a retry, or the next
                // boot, certifies this key (the same SCEP transaction), not another one.
                let spki = hash(spki);
                let job = JobRecord { purpose, key: slot, spki_hash: spki, transaction: &[] };
                self.rewrite(Then::Job { purpose, key: slot, spki }, |r| Record { job: Some(job), ..r })
            }
            _ => Err(ManagerError::UnexpectedCall),
        }
    }

    /// The job of [`Step::Run`] issued `certificate` (DER), signed by `ca` (the CA certificate
    /// the protocol run used: for a first enrollment it must match the profile's trust; for a
    /// renewal the recorded CA, or the staged next CA for the shadow). `now` is trusted time,
    /// if any. The certificate is checked, then persisted ([`Step::Store`]), then activated.
    pub fn handle_issued(&mut self, now: Option<UnixTime>, certificate: &[u8], ca: &[u8]) -> Result<(), ManagerError> {
        let State::Job { purpose, key, spki } = self.state else { return Err(ManagerError::UnexpectedCall) };
        match self.check_issued(purpose, spki, certificate, ca, now) {
            Ok((not_before, not_after)) => {
                if now.is_none() {
                    self.report(Report::ValidityUnchecked);
                }
                let r = record_in(self.current, self.current_len);
                let flags = if now.is_none() { r.flags | FLAG_VALIDITY_UNCHECKED } else { r.flags & !FLAG_VALIDITY_UNCHECKED };
                let renew_at = self.renewal.renew_at(not_before, not_after, &r.jitter_seed);
                let sequence = r.sequence.wrapping_add(1);
                let (new, then) = match purpose {
                    Purpose::Enroll | Purpose::Renew => (
                        Record {
                            sequence,
                            stage: Stage::Active,
                            active_slot: key,
                            flags,
                            failures: 0,
                            next_retry: None,
                            renew_at,
                            certificate,
                            ca,
                            // A new identity under the current CA keeps a staged next CA, but
                            // not a shadow certified for the previous key.
                            shadow: if purpose == Purpose::Renew && key == r.active_slot { r.shadow } else { &[] },
                            job: None,
                            ..r
                        },
                        Then::Activate,
                    ),
                    Purpose::Shadow => (Record { sequence, shadow: certificate, job: None, ..r }, Then::Idle),
                };
                let len = put(self.next, &new);
                self.stored(len, then)
            }
            Err(why) => {
                self.report(Report::Refused(why));
                self.fail(now)
            }
        }
    }

    /// The server's suggested renewal window for the certificate in use (ACME Renewal
    /// Information, RFC 9773): renewal moves to a moment inside it chosen from the device's
    /// jitter seed (devices spread over the window; the same device picks the same moment
    /// again), at once when the window has already ended. Only when idle with an identity;
    /// a changed renewal time is persisted ([`Step::Store`]).
    pub fn handle_renewal_window(&mut self, now: Option<UnixTime>, start: UnixTime, end: UnixTime) -> Result<(), ManagerError> {
        if !matches!(self.state, State::Idle) {
            return Err(ManagerError::UnexpectedCall);
        }
        let r = self.record();
        if r.stage != Stage::Active || end < start {
            return Err(ManagerError::UnexpectedCall);
        }
        let span = end.as_secs().saturating_sub(start.as_secs());
        let mut at = UnixTime::from_secs(start.as_secs().saturating_add(super::policy::pick(&r.jitter_seed, b"ari", 0, span)));
        if let Some(now) = now
            && end <= now
        {
            at = now;
        }
        if at == r.renew_at {
            return Ok(());
        }
        info!("lifecycle: renewal moved into the server's window: at {} (Unix time)", at.as_secs());
        self.report(Report::RenewalScheduled { at });
        self.rewrite(Then::Idle, |r| Record { renew_at: at, ..r })
    }

    /// The job of [`Step::Run`] failed (transport error, rejection, timeout, PENDING given up):
    /// the identity in use stays; the failure count and the retry time are persisted.
    pub fn handle_failed(&mut self, now: Option<UnixTime>) -> Result<(), ManagerError> {
        match self.state {
            State::Job { .. } | State::Key { .. } => self.fail(now),
            State::Fetch => {
                self.next_ca_check = now.map(|t| t.saturating_add(self.rollover.recheck));
                self.state = State::Idle;
                Ok(())
            }
            _ => Err(ManagerError::UnexpectedCall),
        }
    }

    /// The job of [`Step::Run`] is waiting on the CA (SCEP PENDING): `transaction` is the
    /// protocol client's snapshot (`scep::client::Client::snapshot`, at most
    /// [`record::MAX_TRANSACTION_LEN`] bytes). It is persisted with the job ([`Step::Store`]);
    /// after that the job goes on ([`Step::Run`] again; [`Manager::pending_transaction`] gives
    /// the snapshot back, also after a reboot, to resume the same transaction).
    pub fn handle_pending(&mut self, transaction: &[u8]) -> Result<(), ManagerError> {
        let State::Job { purpose, key, spki } = self.state else { return Err(ManagerError::UnexpectedCall) };
        if transaction.len() > record::MAX_TRANSACTION_LEN {
            return Err(ManagerError::BufferTooSmall);
        }
        let job = JobRecord { purpose, key, spki_hash: spki, transaction };
        let r = record_in(self.current, self.current_len);
        let new = Record { sequence: r.sequence.wrapping_add(1), job: Some(job), ..r };
        let len = put(self.next, &new);
        self.stored(len, Then::Job { purpose, key, spki })
    }

    /// The persisted PENDING transaction of the job [`Step::Run`] names (see
    /// [`Manager::handle_pending`]), if the CA answered PENDING to it: resume it instead of
    /// starting anew.
    pub fn pending_transaction(&self) -> Option<&[u8]> {
        let State::Job { purpose, key, .. } = self.state else { return None };
        let j = self.record().job?;
        (j.purpose == purpose && j.key == key && !j.transaction.is_empty()).then_some(j.transaction)
    }

    /// SCEP GetNextCACert's answer: the next CA certificate (DER; the client verified the reply
    /// is signed by the current CA), or empty when the server has none yet.
    pub fn handle_next_ca(&mut self, now: Option<UnixTime>, next_ca: &[u8]) -> Result<(), ManagerError> {
        if self.state != State::Fetch {
            return Err(ManagerError::UnexpectedCall);
        }
        self.next_ca_check = now.map(|t| t.saturating_add(self.rollover.recheck));
        if next_ca.is_empty() {
            self.state = State::Idle;
            return Ok(());
        }
        match self.check_next_ca(next_ca) {
            Ok(not_after) => {
                self.report(Report::NextCaStaged { not_after });
                let r = record_in(self.current, self.current_len);
                let new = Record { sequence: r.sequence.wrapping_add(1), next_ca, shadow: &[], ..r };
                let len = put(self.next, &new);
                self.stored(len, Then::Idle)
            }
            Err(why) => {
                self.report(Report::Refused(why));
                self.state = State::Idle;
                Ok(())
            }
        }
    }

    /// EST /cacerts' certificates (DER each): if they carry a root key update (RFC 7030
    /// section 4.1.3: NewWithOld signed by the current CA's key, and the new self-signed root
    /// with the same key), the new root is verified and staged; otherwise nothing changes.
    pub fn handle_ca_certs(&mut self, now: Option<UnixTime>, certificates: &[&[u8]]) -> Result<(), ManagerError> {
        if self.state != State::Fetch {
            return Err(ManagerError::UnexpectedCall);
        }
        let found = {
            let r = self.record();
            super::rollover::find_root_key_update(r.ca, certificates)
        };
        match found {
            Some(new_root) => self.handle_next_ca(now, new_root),
            None => self.handle_next_ca(now, &[]),
        }
    }

    /// The record of [`Step::Store`] was written (`true`) or the write failed (`false`: nothing
    /// changes; the manager retries the work later).
    pub fn handle_stored(&mut self, ok: bool) -> Result<(), ManagerError> {
        let State::Store { len, then } = self.state else { return Err(ManagerError::UnexpectedCall) };
        if ok {
            core::mem::swap(&mut self.current, &mut self.next);
            self.current_len = len;
            self.write_slot ^= 1;
            self.state = match then {
                Then::Idle => State::Idle,
                Then::Activate => State::Activate,
                Then::Job { purpose, key, spki } => State::Job { purpose, key, spki },
            };
        } else {
            self.report(Report::StorageFailed);
            self.state = State::Idle;
        }
        Ok(())
    }

    // ---- output ----------------------------------------------------------------------------

    /// The next thing to do, for trusted time `now` (`None` while the device has none).
    pub fn poll(&mut self, now: Option<UnixTime>) -> Result<Step<'_>, ManagerError> {
        if let Some(r) = self.reports.pop_front() {
            return Ok(Step::Report(r));
        }
        match self.state {
            State::Idle => {}
            State::Key { slot, .. } => return Ok(Step::GenerateKey(slot)),
            State::Job { purpose, key, .. } => return Ok(Step::Run(self.job(purpose, key))),
            State::Fetch => return Ok(Step::Run(Job::FetchNextCa)),
            State::Store { len, .. } => {
                let slot = if self.write_slot == 0 { self.store_slots[0] } else { self.store_slots[1] };
                return Ok(Step::Store { slot, record: self.next.get(..len).unwrap_or_default() });
            }
            State::Activate => {
                self.state = State::Idle;
                let r = self.record();
                return Ok(Step::Activate { slot: r.active_slot, certificate: r.certificate });
            }
        }
        self.decide(now)
    }

    fn decide(&mut self, now: Option<UnixTime>) -> Result<Step<'_>, ManagerError> {
        let facts = Facts::of(&self.record(), &self.renewal);
        if facts.unenrolled {
            if let (Some(retry), Some(t)) = (facts.next_retry, now)
                && t < retry
            {
                return Ok(Step::Wait(Wake::At(retry)));
            }
            return Ok(self.start(Purpose::Enroll, facts.active_slot));
        }
        let Some(now) = now else { return Ok(Step::Wait(Wake::WhenTimeKnown)) };
        let Some((not_before, not_after)) = facts.validity else { return Ok(self.start(Purpose::Enroll, facts.active_slot)) };
        if facts.unchecked {
            // Time is known now: check what was accepted without it, then persist the result.
            if now < not_before || now > not_after {
                self.report(Report::ValidityProblem { expired: now > not_after });
            }
            self.rewrite(Then::Idle, |r| Record { flags: r.flags & !FLAG_VALIDITY_UNCHECKED, ..r })?;
            return self.poll(Some(now));
        }
        let retry_ok = facts.next_retry.is_none_or(|t| now >= t);

        // The switch to the next CA, once the current CA expires and the shadow is ready.
        if let (Some(ca_end), true, Some(shadow_renew_at)) = (facts.ca_not_after, facts.has_next_ca, facts.shadow_renew_at)
            && now >= ca_end
        {
            self.report(Report::CaSwitched);
            self.rewrite(Then::Activate, |r| Record {
                job: None,
                certificate: r.shadow,
                ca: r.next_ca,
                next_ca: &[],
                shadow: &[],
                renew_at: shadow_renew_at,
                failures: 0,
                next_retry: None,
                ..r
            })?;
            return self.poll(Some(now));
        }

        // Expired: the renewal credentials are gone; enroll anew (with the profile's auth).
        if now >= not_after {
            if retry_ok {
                return Ok(self.start(Purpose::Enroll, facts.active_slot));
            }
            return Ok(Step::Wait(Wake::At(facts.next_retry.unwrap_or(now))));
        }
        let mut wake = not_after;
        // Renewal (or its retry). Pointless once the certificate already runs to the CA's own
        // end (a new one would be cut there too): then only the next CA helps.
        let capped = self.protocol != Protocol::Acme && facts.ca_not_after.is_some_and(|ca_end| not_after >= ca_end);
        let renew_due = facts.next_retry.unwrap_or(facts.renew_at);
        if !capped {
            if now >= renew_due {
                let key = match self.keys {
                    KeyPolicy::SameKey => facts.active_slot,
                    KeyPolicy::NewKey => facts.active_slot.other(),
                };
                return Ok(self.start(Purpose::Renew, key));
            }
            wake = wake.min(renew_due);
        }
        // No CA rollover for ACME: the next intermediate comes with the next order.
        if let Some(ca_end) = facts.ca_not_after.filter(|_| self.protocol != Protocol::Acme) {
            if facts.has_next_ca && facts.shadow_renew_at.is_none() {
                // Shadow enrollment under the staged next CA, with the key in use.
                let mut at = UnixTime::from_secs(ca_end.as_secs().saturating_sub(secs(self.rollover.shadow_before)));
                if let Some(retry) = facts.next_retry {
                    at = at.max(retry);
                }
                if now >= at {
                    return Ok(self.start(Purpose::Shadow, facts.active_slot));
                }
                wake = wake.min(at);
            } else if facts.has_next_ca {
                wake = wake.min(ca_end);
            } else {
                // Ask for the next CA ahead of the current one's end.
                let mut at = UnixTime::from_secs(ca_end.as_secs().saturating_sub(secs(self.rollover.check_before)));
                if let Some(check) = self.next_ca_check {
                    at = at.max(check);
                }
                if at < ca_end {
                    if now >= at {
                        self.state = State::Fetch;
                        return Ok(Step::Run(Job::FetchNextCa));
                    }
                    wake = wake.min(at);
                }
            }
        }
        Ok(Step::Wait(Wake::At(wake)))
    }

    // ---- internals -------------------------------------------------------------------------

    fn start(&mut self, purpose: Purpose, key: KeySlot) -> Step<'_> {
        let r = self.record();
        let same = key == r.active_slot && r.stage == Stage::Active && purpose != Purpose::Enroll;
        // A job of this purpose for this slot began before (a failed attempt, or a reboot):
        // its key is there already.
        if let Some(j) = r.job
            && j.purpose == purpose
            && j.key == key
        {
            self.state = State::Job { purpose, key, spki: j.spki_hash };
            return Step::Run(self.job(purpose, key));
        }
        let spki = CertificateRef::parse(r.certificate).map(|c| hash(c.spki().as_der())).unwrap_or([0; 32]);
        if same {
            self.state = State::Job { purpose, key, spki };
            Step::Run(self.job(purpose, key))
        } else {
            self.state = State::Key { slot: key, purpose };
            Step::GenerateKey(key)
        }
    }

    fn job(&self, purpose: Purpose, key: KeySlot) -> Job<'_> {
        let r = self.record();
        match purpose {
            Purpose::Enroll => Job::Enroll { key },
            Purpose::Renew | Purpose::Shadow => {
                Job::Renew { key, signer: r.active_slot, certificate: r.certificate, under_next_ca: purpose == Purpose::Shadow }
            }
        }
    }

    fn check_issued(
        &self,
        purpose: Purpose,
        spki: [u8; 32],
        certificate: &[u8],
        ca: &[u8],
        now: Option<UnixTime>,
    ) -> Result<(UnixTime, UnixTime), Refusal> {
        if certificate.len() > MAX_CERT_LEN || ca.len() > MAX_CERT_LEN {
            return Err(Refusal::Malformed);
        }
        let cert = CertificateRef::parse(certificate).map_err(|_| Refusal::Malformed)?;
        let ca_cert = CertificateRef::parse(ca).map_err(|_| Refusal::Malformed)?;
        if hash(cert.spki().as_der()) != spki {
            return Err(Refusal::WrongKey);
        }
        let r = self.record();
        let trusted = match (purpose, r.stage) {
            // ACME CAs change intermediates at will: the issuer must lead to the anchor.
            _ if self.protocol == Protocol::Acme => match self.trust {
                Trust::Anchor(anchor) => {
                    let opts = path::Options::new(path::Usage::Any, path::ValidationTime::Floor(now.unwrap_or(UnixTime::CRATE_FLOOR)));
                    same_key(ca, anchor)
                        || CertificateRef::parse(anchor)
                            .is_ok_and(|a| path::validate(&ca_cert, &[][..] as &[CertificateRef<'_>], [a].as_slice(), &opts).is_ok())
                }
                Trust::Fingerprint(fp) => ca_cert.fingerprint_sha256() == fp,
            },
            (Purpose::Shadow, _) => same_key(ca, r.next_ca),
            (_, Stage::Active) => same_key(ca, r.ca),
            (_, Stage::Unenrolled) => match self.trust {
                Trust::Anchor(anchor) => same_key(ca, anchor),
                Trust::Fingerprint(fp) => ca_cert.fingerprint_sha256() == fp,
            },
        };
        if !trusted {
            return Err(Refusal::UntrustedCa);
        }
        // The one path validation of the crate, as an end entity under this CA; validity
        // against the time (or the crate's floor) here, the clock-skew allowance below.
        let floor = now.unwrap_or(UnixTime::CRATE_FLOOR);
        let opts = path::Options::new(path::Usage::EndEntity, path::ValidationTime::Floor(floor));
        path::validate(&cert, &[][..] as &[CertificateRef<'_>], [ca_cert].as_slice(), &opts).map_err(|e| match e {
            ChainError::IssuerNotFound { .. } | ChainError::UnsupportedSignature { .. } => Refusal::BadSignature,
            ChainError::Expired { .. } => Refusal::NotValidNow,
            e => Refusal::Invalid(e),
        })?;
        if let Some(now) = now
            && (now.saturating_add(MAX_CLOCK_SKEW) < cert.not_before() || now > cert.not_after())
        {
            return Err(Refusal::NotValidNow);
        }
        Ok((cert.not_before(), cert.not_after()))
    }

    fn check_next_ca(&self, next_ca: &[u8]) -> Result<UnixTime, Refusal> {
        if next_ca.len() > MAX_CERT_LEN {
            return Err(Refusal::Malformed);
        }
        let next = CertificateRef::parse(next_ca).map_err(|_| Refusal::Malformed)?;
        let r = self.record();
        let current = CertificateRef::parse(r.ca).map_err(|_| Refusal::Malformed)?;
        let is_ca = matches!(next.basic_constraints(), Ok(Some(bc)) if bc.ca);
        if !is_ca || next.not_after() <= current.not_after() || same_key(next_ca, r.ca) {
            return Err(Refusal::NotANextCa);
        }
        Ok(next.not_after())
    }

    /// A failed attempt: count it, schedule the retry, warn near expiry, persist.
    fn fail(&mut self, now: Option<UnixTime>) -> Result<(), ManagerError> {
        let (failures, seed, not_after) = {
            let r = self.record();
            (r.failures.saturating_add(1), r.jitter_seed, CertificateRef::parse(r.certificate).map(|c| c.not_after()).ok())
        };
        let wait = self.renewal.retry_after(failures, &seed);
        let next_retry = now.map(|t| t.saturating_add(wait));
        if let (Some(now), Some(not_after)) = (now, not_after) {
            let warn_from = UnixTime::from_secs(not_after.as_secs().saturating_sub(secs(self.renewal.warn_before)));
            if now >= warn_from {
                self.report(Report::ExpiryNear { not_after, failures });
            }
        }
        // Without trusted time the retry cannot be dated: the next poll retries at once. The
        // job's key stays for the retry; a PENDING transaction given up does not.
        self.rewrite(Then::Idle, |r| Record { failures, next_retry, job: r.job.map(|j| JobRecord { transaction: &[], ..j }), ..r })
    }

    /// Re-encodes the record in force, changed by `edit` (which may only reuse its fields),
    /// with the next sequence number, and asks for it to be stored.
    fn rewrite(&mut self, then: Then, edit: impl for<'c> FnOnce(Record<'c>) -> Record<'c>) -> Result<(), ManagerError> {
        let r = record_in(self.current, self.current_len);
        let sequence = r.sequence.wrapping_add(1);
        let new = Record { sequence, ..edit(r) };
        let len = put(self.next, &new);
        self.stored(len, then)
    }

    /// After encoding into `next`: ask for the store, or give up on a record that does not fit.
    fn stored(&mut self, len: Result<usize, ManagerError>, then: Then) -> Result<(), ManagerError> {
        match len {
            Ok(len) => {
                self.state = State::Store { len, then };
                Ok(())
            }
            Err(e) => {
                self.state = State::Idle;
                Err(e)
            }
        }
    }

    fn report(&mut self, r: Report) {
        if self.reports.is_full() {
            self.reports.pop_front();
        }
        let _ = self.reports.push_back(r);
    }
}

/// What the caller does next (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'m> {
    /// Generate (or reset) the key in this slot, then call [`Manager::handle_key`].
    GenerateKey(KeySlot),
    /// Run this job with the protocol client, then report its result.
    Run(Job<'m>),
    /// Write `record` to `StateStore` slot `slot` (one of the profile's `store_slots`), then
    /// call [`Manager::handle_stored`].
    Store {
        /// The `StateStore` slot.
        slot: u8,
        /// The record.
        record: &'m [u8],
    },
    /// From now on use the key in `slot` and `certificate` (persisted already); the key in the
    /// other slot is no longer needed.
    Activate {
        /// The key slot.
        slot: KeySlot,
        /// The certificate.
        certificate: &'m [u8],
    },
    /// Something to log; poll again.
    Report(Report),
    /// Nothing to do until then.
    Wait(Wake),
}

/// What `decide` needs from the record, as owned values.
struct Facts {
    unenrolled: bool,
    unchecked: bool,
    active_slot: KeySlot,
    next_retry: Option<UnixTime>,
    renew_at: UnixTime,
    validity: Option<(UnixTime, UnixTime)>,
    ca_not_after: Option<UnixTime>,
    has_next_ca: bool,
    /// The shadow certificate's renewal moment (None: no shadow).
    shadow_renew_at: Option<UnixTime>,
}

impl Facts {
    fn of(r: &Record<'_>, renewal: &RenewalPolicy) -> Self {
        Self {
            unenrolled: r.stage == Stage::Unenrolled,
            unchecked: r.flags & FLAG_VALIDITY_UNCHECKED != 0,
            active_slot: r.active_slot,
            next_retry: r.next_retry,
            renew_at: r.renew_at,
            validity: CertificateRef::parse(r.certificate).ok().map(|c| (c.not_before(), c.not_after())),
            ca_not_after: CertificateRef::parse(r.ca).ok().map(|c| c.not_after()),
            has_next_ca: !r.next_ca.is_empty(),
            shadow_renew_at: CertificateRef::parse(r.shadow).ok().map(|c| renewal.renew_at(c.not_before(), c.not_after(), &r.jitter_seed)),
        }
    }
}

/// The record in `buf[..len]` (written or checked by the manager; an empty record otherwise).
fn record_in(buf: &[u8], len: usize) -> Record<'_> {
    Record::parse(buf.get(..len).unwrap_or_default()).unwrap_or(EMPTY)
}

const EMPTY: Record<'static> = Record {
    sequence: 0,
    stage: Stage::Unenrolled,
    active_slot: KeySlot::A,
    flags: 0,
    jitter_seed: [0; 16],
    failures: 0,
    next_retry: None,
    renew_at: UnixTime::from_secs(0),
    certificate: &[],
    ca: &[],
    next_ca: &[],
    shadow: &[],
    job: None,
};

fn put(next: &mut [u8], new: &Record<'_>) -> Result<usize, ManagerError> {
    new.emit(next).map_err(|_| ManagerError::BufferTooSmall)
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(Digest::sha256(bytes).as_bytes());
    out
}

/// Both certificates parse and carry the same public key.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    match (CertificateRef::parse(a), CertificateRef::parse(b)) {
        (Ok(a), Ok(b)) => a.spki().as_der() == b.spki().as_der(),
        _ => false,
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_itself_is_small() {
        // Two buffer references, the policies, the state and a 4-entry report queue; the
        // records live in the caller's buffers. (64-bit host; a 32-bit target is smaller.)
        let size = core::mem::size_of::<Manager<'static>>();
        assert!(size <= 320, "Manager is {size} bytes");
    }
}
