//! The runner: one loop that keeps a device enrolled for years. It joins the [`Manager`] to
//! the SCEP, EST and ACME clients and their blocking drivers ([`Runner::run`]) or, with the `async`
//! feature, their async ones (`Runner::run_async`): give it a profile, the device (key slots,
//! state store, network, clock, timer, RNG) and its memory, and it
//!
//! - restores the profile's record from the store (or starts a fresh device),
//! - generates keys in the slots the manager names, and persists the job with its key before
//!   the job runs (a reboot resumes the same transaction with the same key),
//! - runs each job through the right client: SCEP PKCSReq / RenewalReq / GetNextCACert, EST
//!   `/cacerts` (when the CA is pinned by fingerprint) then `/simpleenroll`, `/simplereenroll`
//!   over mutual TLS with the certificate in use, `/cacerts` for a root key update,
//! - runs an ACME profile's jobs as orders for its subjectAltNames (the account key made in
//!   [`Settings::acme_account_slot`] on first use; the challenges answered by the responder
//!   the firmware gives, `Runner::set_challenge_responder`; a renewal names the certificate it
//!   replaces), and while idle asks the server's renewal window (ARI) for the certificate in
//!   use, which moves the renewal inside it (`Manager::handle_renewal_window`; a server
//!   without ARI leaves it to the renewal policy),
//! - keeps a SCEP PENDING transaction in the record (its snapshot) and resumes it after a
//!   reboot,
//! - persists every record and reports each step as an [`Event`],
//! - sleeps until the manager's next deadline.
//!
//! ```text
//! let mut runner = Runner::new(&PROFILE, Device { keys, store, network, clock, timer, rng }, memory)?;
//! runner.run(|event| { log(event); Flow::Continue })?;   // returns only when told to stop
//! ```
//!
//! The profile's one [`Trust`] serves both protocols: the CA of the first enrollment (SCEP
//! GetCACert checked against it; EST `/cacerts` searched for it when it is a fingerprint). EST's
//! TLS server is authenticated by [`Settings::server_trust`], and the CA certificate of EST
//! renewals is the recorded one.
//!
//! A caller who wants control keeps using the Sans-IO [`Manager`] and the clients directly: the
//! runner is built only from their public API.
//!
//! **Memory.** [`Memory`] names every buffer; [`StaticMemory`] is a ready-made set (about 72
//! KiB: two records, the client buffers for RSA-2048 SCEP or EST, the TLS record buffers) that
//! a firmware places in a static.

use super::manager::{Job, Manager, ManagerError, Profile, Protocol, Report, RestoreError, Step, Trust, Wake};
use super::record::{KeySlot, MAX_CERT_LEN, MAX_RECORD_LEN, MAX_TRANSACTION_LEN};
use super::{Auth, Buffers};
use crate::asn1::cert::CertificateRef;
use crate::asn1::csr::CsrBuilder;
use crate::crypto::Digest;
use crate::hal::{Clock, ErrorKind, ErrorType, KeyRole, KeySlots, KeyType, Signer, StateStore};
use crate::time::{Duration, Instant, UnixTime};
use crate::transport::TransportFailure;
use crate::transport::blocking::{DeviceKeys, DriveError, DriveOptions, Network, Progress, Timer};
use crate::transport::verify::ServerTrust;
use core::cell::RefCell;
use rand_core::{CryptoRng, CryptoRngCore, RngCore};

/// The protocol settings of a profile the runner reads (the `E` of [`Profile`]).
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// SCEP: the CGI path (default `/scep`).
    pub scep_path: &'a str,
    /// SCEP: the algorithms requests may use and replies may carry.
    #[cfg(feature = "scep")]
    pub scep_policy: crate::scep::AlgorithmPolicy,
    /// SCEP PENDING polling and EST Retry-After: delays and bounds.
    pub retry: crate::retry::RetryPolicy,
    /// EST: the CA label (`/.well-known/est/<label>/`), if any.
    pub est_label: Option<&'a str>,
    /// EST: request bodies on one line (est-ca) or in 64-column lines (libest, the default).
    pub est_one_line: bool,
    /// EST: send HTTP Basic credentials with the first request of an enrollment
    /// ([`Auth::Basic`]; the TLS server is authenticated first), not only after a 401. Default
    /// true. Renewals authenticate with the certificate in use and answer a 401 only.
    pub preemptive_basic: bool,
    /// EST: how the TLS server is authenticated (its chain must lead to this anchor).
    pub server_trust: ServerTrust<'a>,
    /// EST: the TLS server name, if not the profile's server host.
    pub tls_server_name: Option<&'a str>,
    /// The drivers' bound per exchange.
    pub drive: DriveOptions,
    /// ACME: the directory's path (default `/directory`).
    #[cfg(feature = "acme")]
    pub acme_directory: &'a str,
    /// ACME: the device key slot of the account key (generated there on first use when
    /// empty). Default 15.
    #[cfg(feature = "acme")]
    pub acme_account_slot: u8,
    /// ACME: contact URIs for the account (`mailto:...`).
    #[cfg(feature = "acme")]
    pub acme_contact: &'a [&'a str],
    /// ACME: External Account Binding, for a CA that requires it.
    #[cfg(feature = "acme")]
    pub acme_eab: Option<crate::acme::client::ExternalAccountBinding<'a>>,
    /// ACME: the challenges the device answers (through the runner's responder,
    /// `Runner::set_challenge_responder`). Default http-01.
    #[cfg(feature = "acme")]
    pub acme_challenges: crate::acme::Challenges,
    /// Without trusted time: certificates that expired before this are refused.
    pub time_floor: UnixTime,
    /// The longest single sleep (the clock is read again after it; default one hour).
    pub max_sleep: Duration,
    /// How often to look at the clock again while the device has no trusted time (default
    /// one minute).
    pub time_poll: Duration,
}

impl Settings<'_> {
    /// The defaults: `/scep`, the default algorithm and retry policies, no EST label,
    /// 64-column bodies, preemptive Basic, an unauthenticated TLS server (set
    /// [`Settings::server_trust`] for EST), the drivers' default deadline.
    pub const DEFAULT: Settings<'static> = Settings {
        scep_path: "/scep",
        #[cfg(feature = "scep")]
        scep_policy: crate::scep::AlgorithmPolicy::DEFAULT,
        retry: crate::retry::RetryPolicy::DEFAULT,
        est_label: None,
        est_one_line: false,
        preemptive_basic: true,
        server_trust: ServerTrust::Unauthenticated,
        tls_server_name: None,
        drive: DriveOptions::DEFAULT,
        #[cfg(feature = "acme")]
        acme_directory: "/directory",
        #[cfg(feature = "acme")]
        acme_account_slot: 15,
        #[cfg(feature = "acme")]
        acme_contact: &[],
        #[cfg(feature = "acme")]
        acme_eab: None,
        #[cfg(feature = "acme")]
        acme_challenges: crate::acme::Challenges { http01: true, dns01: false, tls_alpn01: false },
        time_floor: UnixTime::CRATE_FLOOR,
        max_sleep: Duration::from_secs(3600),
        time_poll: Duration::from_secs(60),
    };
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings::DEFAULT
    }
}

/// What the runner needs of the device.
#[derive(Debug)]
pub struct Device<K, S, N, C, T, R> {
    /// The key slots ([`Profile::key_slots`] name two of them).
    pub keys: K,
    /// The persistent store ([`Profile::store_slots`] name two of its slots).
    pub store: S,
    /// Connections to the servers.
    pub network: N,
    /// Trusted wall-clock time, when the device has it.
    pub clock: C,
    /// The monotonic clock the drivers and the sleeps use.
    pub timer: T,
    /// The random generator (nonces, TLS, software key generation).
    pub rng: R,
}

/// The buffers the runner works in (see [`StaticMemory`] for sizes that do).
#[derive(Debug)]
pub struct Memory<'m> {
    /// The two records (the one in force, the one being written): each at least
    /// [`MAX_RECORD_LEN`] bytes, or as large as the store's slots.
    pub records: [&'m mut [u8]; 2],
    /// SCEP: the GetCACert reply. EST: the CA certificate the issued one must chain to.
    pub ca: &'m mut [u8],
    /// The CSR and the SCEP signer certificate.
    pub own: &'m mut [u8],
    /// The decoded reply.
    pub work: &'m mut [u8],
    /// One HTTP request or response.
    pub io: &'m mut [u8],
    /// The certificate being renewed ([`MAX_CERT_LEN`] bytes).
    pub certificate: &'m mut [u8],
    /// The requested key's SubjectPublicKeyInfo (600 bytes hold RSA-4096).
    pub spki: &'m mut [u8],
    /// A SCEP PENDING transaction's snapshot ([`MAX_TRANSACTION_LEN`] bytes).
    pub transaction: &'m mut [u8],
    /// EST: the TLS read buffer (16 640 bytes for any server; embedded-tls needs a whole
    /// record).
    pub tls_read: &'m mut [u8],
    /// EST: the TLS write buffer.
    pub tls_write: &'m mut [u8],
}

/// A set of buffers for [`Memory`] to place in a static (about 70 KiB): enough for SCEP with
/// RSA-2048 or RSA-4096 keys and for EST over TLS 1.3 with any record size.
#[derive(Debug)]
pub struct StaticMemory {
    records: [[u8; MAX_RECORD_LEN]; 2],
    ca: [u8; 4096],
    own: [u8; 4096],
    work: [u8; 12288],
    io: [u8; 12288],
    certificate: [u8; MAX_CERT_LEN],
    spki: [u8; 600],
    transaction: [u8; MAX_TRANSACTION_LEN],
    tls_read: [u8; 16640],
    tls_write: [u8; 4096],
}

impl StaticMemory {
    /// Zeroed buffers (a `const fn`, for a static).
    pub const fn new() -> Self {
        Self {
            records: [[0; MAX_RECORD_LEN]; 2],
            ca: [0; 4096],
            own: [0; 4096],
            work: [0; 12288],
            io: [0; 12288],
            certificate: [0; MAX_CERT_LEN],
            spki: [0; 600],
            transaction: [0; MAX_TRANSACTION_LEN],
            tls_read: [0; 16640],
            tls_write: [0; 4096],
        }
    }

    /// The buffers, lent to a runner.
    pub fn memory(&mut self) -> Memory<'_> {
        let [a, b] = &mut self.records;
        Memory {
            records: [a, b],
            ca: &mut self.ca,
            own: &mut self.own,
            work: &mut self.work,
            io: &mut self.io,
            certificate: &mut self.certificate,
            spki: &mut self.spki,
            transaction: &mut self.transaction,
            tls_read: &mut self.tls_read,
            tls_write: &mut self.tls_write,
        }
    }
}

impl Default for StaticMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// The kind of job the runner is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JobKind {
    /// An enrollment.
    Enroll,
    /// A renewal (or a shadow enrollment under the next CA).
    Renew,
    /// A fetch of the next CA.
    FetchNextCa,
}

/// Why a job failed (the manager retries it with backoff).
#[derive(Debug)]
pub enum Failure<'a> {
    /// The SCEP client ended without a certificate.
    #[cfg(feature = "scep")]
    Scep(&'a crate::scep::client::Outcome),
    /// The EST client ended without a certificate.
    #[cfg(feature = "est")]
    Est(&'a crate::est::client::Outcome),
    /// The ACME client ended without a certificate.
    #[cfg(feature = "acme")]
    Acme(&'a crate::acme::Outcome),
    /// The protocol client refused a call or the driver stopped (either protocol).
    Driver(DriveError<crate::error::ClientError>),
    /// The device's key slots failed.
    Key(ErrorKind),
    /// The server cannot be reached.
    Network(TransportFailure),
    /// The profile cannot be run by this build or these settings (why).
    Unsupported(&'static str),
    /// A reply that did not have what the job needs (why).
    Reply(&'static str),
}

impl core::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            #[cfg(feature = "scep")]
            Self::Scep(o) => write!(f, "SCEP: {o}"),
            #[cfg(feature = "est")]
            Self::Est(o) => write!(f, "EST: {o}"),
            #[cfg(feature = "acme")]
            Self::Acme(o) => write!(f, "ACME: {o}"),
            Self::Driver(e) => write!(f, "{e}"),
            Self::Key(e) => write!(f, "device key: {e}"),
            Self::Network(e) => write!(f, "network: {e}"),
            Self::Unsupported(why) => write!(f, "not supported: {why}"),
            Self::Reply(why) => write!(f, "reply: {why}"),
        }
    }
}

/// What the runner did: one per step, for logs and displays.
#[derive(Debug)]
pub enum Event<'a> {
    /// A key was generated in this slot.
    KeyGenerated(KeySlot),
    /// A job begins (`resumed`: a PENDING transaction from the record goes on).
    JobStarted {
        /// What it is.
        kind: JobKind,
        /// The key slot it certifies.
        key: KeySlot,
        /// A persisted PENDING transaction is resumed.
        resumed: bool,
        /// SHA-256 of the certified key's SubjectPublicKeyInfo, as the persisted job records
        /// it: a job resumed after a reboot shows the same value. `None` when the job is not
        /// persisted (a renewal with the key in use, a CA fetch: nothing to resume).
        spki_hash: Option<[u8; 32]>,
    },
    /// A driver step within the job.
    Progress(Progress<'a>),
    /// SCEP: the CA answered PENDING; the transaction is persisted and polled at `next_poll`.
    Pending {
        /// The transaction ID.
        transaction_id: &'a str,
        /// Polls made so far.
        attempts: u32,
        /// When the next poll is due (the timer's clock).
        next_poll: Instant,
    },
    /// The job's certificate arrived (the manager checks it before anything else).
    Issued(&'a [u8]),
    /// The job failed; the manager schedules a retry.
    JobFailed(Failure<'a>),
    /// A record was written to the store slot (`ok`), or the write failed.
    Stored {
        /// The store slot.
        slot: u8,
        /// The write succeeded.
        ok: bool,
    },
    /// The identity in use is now the key in `slot` with `certificate` (persisted already).
    Activated {
        /// The key slot.
        slot: KeySlot,
        /// The certificate.
        certificate: &'a [u8],
    },
    /// The manager's report (refusals, expiry warnings, CA rollover, damaged slots).
    Report(Report),
    /// Nothing to do for this long.
    Sleeping(Duration),
}

/// What the caller's event handler wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Return from [`Runner::run`].
    Stop,
}

/// Why the runner stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerError {
    /// The stored records cannot be read (never reset: see [`RestoreError`]).
    Restore(RestoreError),
    /// Reading the store failed.
    Storage(ErrorKind),
    /// The manager refused a call (a bug) or a record did not fit the buffers.
    Manager(ManagerError),
    /// The timer stopped a sleep ([`Timer::sleep_until`] returned false).
    Stopped,
}

impl core::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Restore(e) => write!(f, "the stored state cannot be restored: {e}"),
            Self::Storage(e) => write!(f, "the store cannot be read: {e}"),
            Self::Manager(e) => write!(f, "lifecycle manager: {e}"),
            Self::Stopped => f.write_str("the timer stopped the runner"),
        }
    }
}

impl core::error::Error for RunnerError {}

impl From<ManagerError> for RunnerError {
    fn from(e: ManagerError) -> Self {
        Self::Manager(e)
    }
}

/// What [`Runner::step`] leaves to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Step again at once.
    Continue,
    /// Nothing to do until the manager's deadline.
    Wait(Wake),
}

/// The buffers a job uses (all of [`Memory`] but the records).
struct JobMemory<'m> {
    ca: &'m mut [u8],
    own: &'m mut [u8],
    work: &'m mut [u8],
    io: &'m mut [u8],
    certificate: &'m mut [u8],
    spki: &'m mut [u8],
    transaction: &'m mut [u8],
    #[cfg_attr(not(all(feature = "est", feature = "tls")), allow(dead_code))]
    tls_read: &'m mut [u8],
    #[cfg_attr(not(all(feature = "est", feature = "tls")), allow(dead_code))]
    tls_write: &'m mut [u8],
}

/// A job, with what it needs copied out of the manager's record.
#[derive(Debug, Clone, Copy)]
struct JobSpec {
    kind: JobKind,
    key: KeySlot,
    signer: KeySlot,
    /// Renewal: the certificate in use is in `memory.certificate[..len]`.
    certificate_len: usize,
    /// The CA the issued certificate must chain to, if recorded: in `memory.ca` for EST,
    /// its fingerprint for SCEP.
    ca_len: usize,
    ca_fingerprint: Option<[u8; 32]>,
    /// A persisted PENDING transaction, in `memory.transaction[..len]`.
    transaction_len: usize,
    /// A shadow certificate under the staged next CA.
    under_next_ca: bool,
}

/// [`Runner::run`]'s loop, for the blocking and the async runner (`$aw`: `await`).
macro_rules! run_loop {
    ($this:ident, $on_event:ident, $step:ident $(, $aw:tt)?) => {{
        let stop = core::cell::Cell::new(false);
        let mut handler = |e: &Event<'_>| {
            let flow = $on_event(e);
            if flow == Flow::Stop {
                stop.set(true);
            }
            flow
        };
        loop {
            let next = $this.$step(&mut handler)$(.$aw)??;
            if stop.get() {
                return Ok(());
            }
            if let Next::Wait(wake) = next {
                let pause = $this.pause(wake);
                info!("lifecycle: nothing due: sleeping {} s", pause.as_secs());
                handler(&Event::Sleeping(pause));
                if stop.get() {
                    return Ok(());
                }
                let deadline = $this.device.timer.now().saturating_add(pause);
                if !$this.device.timer.sleep_until(deadline)$(.$aw)? {
                    return Err(RunnerError::Stopped);
                }
            }
        }
    }};
}

/// [`Runner::step`]: the shared part, then the profile's job.
macro_rules! step_body {
    ($this:ident, $on_event:ident, $scep:ident, $est:ident, $acme:ident, $acme_ari:ident $(, $aw:tt)?) => {{
        let spec = match $this.begin_step($on_event)? {
            #[cfg(all(feature = "acme", feature = "tls"))]
            Begun::Done(Next::Wait(_)) if $this.ari_due() => {
                let Self { profile, manager, device, memory, responder, ari_next, ari_off, .. } = $this;
                let ctx = JobContext { profile, manager, device, memory, $on_event, responder };
                let (next, off) = ctx.$acme_ari()$(.$aw)??;
                (*ari_next, *ari_off) = (Some(next), off);
                return Ok(Next::Continue);
            }
            Begun::Done(next) => return Ok(next),
            Begun::Job(spec) => spec,
        };
        let Self {
            profile,
            manager,
            device,
            memory,
            #[cfg(feature = "acme")]
            responder,
            ..
        } = $this;
        let ctx = JobContext {
            profile,
            manager,
            device,
            memory,
            $on_event,
            #[cfg(feature = "acme")]
            responder,
        };
        match profile.protocol {
            Protocol::Scep => ctx.$scep(spec)$(.$aw)??,
            Protocol::Est => ctx.$est(spec)$(.$aw)??,
            Protocol::Acme => ctx.$acme(spec)$(.$aw)??,
        }
        Ok(Next::Continue)
    }};
}

/// The lifecycle runner of one profile (see the module docs).
pub struct Runner<'r, K, S, N, C, T, R> {
    profile: &'r Profile<'r, Settings<'r>>,
    manager: Manager<'r>,
    device: Device<K, S, N, C, T, R>,
    memory: JobMemory<'r>,
    /// ACME: who answers the challenges.
    #[cfg(feature = "acme")]
    responder: Option<&'r mut dyn crate::acme::Responder>,
    /// ACME: when to ask the server's renewal window again (`None`: at the next idle step;
    /// memory only, a reboot asks again).
    #[cfg(all(feature = "acme", feature = "tls"))]
    ari_next: Option<UnixTime>,
    /// ACME: the server has no ARI (its directory lacks renewalInfo): the profile's renewal
    /// policy alone decides.
    #[cfg(all(feature = "acme", feature = "tls"))]
    ari_off: bool,
}

impl<K, S, N, C, T, R> core::fmt::Debug for Runner<'_, K, S, N, C, T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runner").field("profile", &self.profile.name).field("manager", &self.manager).finish_non_exhaustive()
    }
}

impl<'r, K, S, N, C, T, R> Runner<'r, K, S, N, C, T, R>
where
    K: KeySlots,
    S: StateStore,
    N: Network,
    C: Clock,
    T: Timer,
    R: CryptoRngCore,
{
    /// Runs until `on_event` says [`Flow::Stop`]: every step, every job, every sleep until the
    /// manager's next deadline ([`Settings::max_sleep`] at most at a time).
    pub fn run(&mut self, mut on_event: impl FnMut(&Event<'_>) -> Flow) -> Result<(), RunnerError> {
        run_loop!(self, on_event, step)
    }

    /// One step of the manager: a key generated, a whole job run, a record stored, an
    /// activation or a report; or the deadline to wait for.
    pub fn step(&mut self, on_event: &mut dyn FnMut(&Event<'_>) -> Flow) -> Result<Next, RunnerError> {
        step_body!(self, on_event, scep, est, acme, acme_ari)
    }
}

/// What the shared part of a step did.
enum Begun {
    /// The step is over.
    Done(Next),
    /// A job is to run.
    Job(JobSpec),
}

impl<'r, K, S, N, C, T, R> Runner<'r, K, S, N, C, T, R>
where
    K: KeySlots,
    S: StateStore,
    C: Clock,
    R: CryptoRngCore,
{
    /// A runner for `profile`: the profile's two store slots are read into the memory's
    /// records and the manager restored from them (a fresh device when both are empty).
    pub fn new(
        profile: &'r Profile<'r, Settings<'r>>,
        mut device: Device<K, S, N, C, T, R>,
        memory: Memory<'r>,
    ) -> Result<Self, RunnerError> {
        let Memory { records: [a, b], ca, own, work, io, certificate, spki, transaction, tls_read, tls_write } = memory;
        let la = device.store.load(profile.store_slots[0], a).map_err(|e| RunnerError::Storage(crate::hal::Error::kind(&e)))?;
        let lb = device.store.load(profile.store_slots[1], b).map_err(|e| RunnerError::Storage(crate::hal::Error::kind(&e)))?;
        let manager =
            Manager::restore(profile, Buffers { current: a, next: b }, [la, lb], &mut device.rng).map_err(RunnerError::Restore)?;
        info!("lifecycle: profile restored ({} bytes, {} bytes in the store slots)", la, lb);
        let memory = JobMemory { ca, own, work, io, certificate, spki, transaction, tls_read, tls_write };
        Ok(Self {
            profile,
            manager,
            device,
            memory,
            #[cfg(feature = "acme")]
            responder: None,
            #[cfg(all(feature = "acme", feature = "tls"))]
            ari_next: None,
            #[cfg(all(feature = "acme", feature = "tls"))]
            ari_off: false,
        })
    }

    /// ACME: whether the server's renewal window is to be asked now (an idle ACME profile
    /// with an identity, trusted time, a server with ARI, and the time to ask again come).
    #[cfg(all(feature = "acme", feature = "tls"))]
    fn ari_due(&mut self) -> bool {
        if self.profile.protocol != Protocol::Acme || self.ari_off || self.responder.is_none() {
            return false;
        }
        let active = !self.manager.record().certificate.is_empty();
        match self.device.clock.now() {
            Some(now) => active && self.ari_next.is_none_or(|t| now >= t),
            None => false,
        }
    }

    /// ACME: who answers the challenges of this profile's orders (the firmware's http-01
    /// server, DNS updater or tls-alpn-01 listener). Without one an ACME job fails.
    #[cfg(feature = "acme")]
    pub fn set_challenge_responder(&mut self, responder: &'r mut dyn crate::acme::Responder) {
        self.responder = Some(responder);
    }

    /// The manager (the record, the identity in use, its CA).
    pub fn manager(&self) -> &Manager<'r> {
        &self.manager
    }

    /// The device (to use the key of the identity in use, say).
    pub fn device(&mut self) -> &mut Device<K, S, N, C, T, R> {
        &mut self.device
    }

    /// The part of a step the blocking and async runners share: everything but a job's
    /// exchanges (keys, records, activations, reports, the job's inputs).
    // Frames of their own (stack, on devices): a job's locals, the manager's step and the
    // caller's loop are never on the stack together.
    #[inline(never)]
    fn begin_step(&mut self, on_event: &mut dyn FnMut(&Event<'_>) -> Flow) -> Result<Begun, RunnerError> {
        let now = self.device.clock.now();
        let Self { manager, device, memory, .. } = self;
        let spec = match manager.poll(now)? {
            Step::GenerateKey(slot) => {
                let dev = manager.device_key_slot(slot);
                debug!("lifecycle: generating a key in slot {}", dev);
                let generated = device.keys.generate(dev, &mut device.rng).and_then(|()| device.keys.public_key_der(dev, memory.spki));
                match generated {
                    Ok(n) => {
                        on_event(&Event::KeyGenerated(slot));
                        manager.handle_key(slot, memory.spki.get(..n).unwrap_or_default())?;
                    }
                    Err(e) => {
                        warn!("lifecycle: key generation failed: {}", e);
                        on_event(&Event::JobFailed(Failure::Key(e)));
                        manager.handle_failed(now)?;
                    }
                }
                return Ok(Begun::Done(Next::Continue));
            }
            Step::Store { slot, record } => {
                let ok = device.store.store(slot, record).is_ok();
                if ok {
                    debug!("lifecycle: record stored in store slot {} ({} bytes)", slot, record.len());
                } else {
                    warn!("lifecycle: writing store slot {} failed", slot);
                }
                on_event(&Event::Stored { slot, ok });
                manager.handle_stored(ok)?;
                return Ok(Begun::Done(Next::Continue));
            }
            Step::Activate { slot, certificate } => {
                info!("lifecycle: new identity in use");
                on_event(&Event::Activated { slot, certificate });
                return Ok(Begun::Done(Next::Continue));
            }
            Step::Report(r) => {
                on_event(&Event::Report(r));
                return Ok(Begun::Done(Next::Continue));
            }
            Step::Wait(wake) => return Ok(Begun::Done(Next::Wait(wake))),
            Step::Run(job) => copy_job(job, memory),
        };
        let Some(mut spec) = spec else {
            manager.handle_failed(now)?;
            return Ok(Begun::Done(Next::Continue));
        };
        // What the record knows that the job needs: the CA (the next one for a shadow
        // certificate), a PENDING transaction.
        let rec = manager.record();
        let ca: &[u8] = if spec.under_next_ca { rec.next_ca } else { rec.ca };
        if !ca.is_empty() {
            spec.ca_fingerprint = CertificateRef::parse(ca).ok().map(|c| c.fingerprint_sha256());
            if let Some(dst) = memory.ca.get_mut(..ca.len()) {
                dst.copy_from_slice(ca);
                spec.ca_len = ca.len();
            }
        }
        if let Some(t) = manager.pending_transaction()
            && let Some(dst) = memory.transaction.get_mut(..t.len())
        {
            dst.copy_from_slice(t);
            spec.transaction_len = t.len();
        }
        let spki_hash = manager.record().job.map(|j| j.spki_hash);
        let resumed = spec.transaction_len > 0;
        info!(
            "lifecycle: job {} for key slot {}{}",
            crate::fmt::Dbg(spec.kind),
            crate::fmt::Dbg(spec.key),
            if resumed { ", resuming a PENDING transaction" } else { "" }
        );
        if on_event(&Event::JobStarted { kind: spec.kind, key: spec.key, resumed, spki_hash }) == Flow::Stop {
            // Not begun: the next step runs it.
            return Ok(Begun::Done(Next::Continue));
        }
        Ok(Begun::Job(spec))
    }

    /// How long to sleep for `wake`.
    fn pause(&mut self, wake: Wake) -> Duration {
        let settings = &self.profile.extra;
        match (wake, self.device.clock.now()) {
            (Wake::At(t), Some(now)) => {
                let secs = t.as_secs().saturating_sub(now.as_secs()).max(0);
                Duration::from_secs(u64::try_from(secs).unwrap_or(0)).min(settings.max_sleep)
            }
            _ => settings.time_poll,
        }
    }
}

/// Copies what a job needs out of the manager's borrow.
fn copy_job(job: Job<'_>, memory: &mut JobMemory<'_>) -> Option<JobSpec> {
    let mut spec = JobSpec {
        kind: JobKind::Enroll,
        key: KeySlot::A,
        signer: KeySlot::A,
        certificate_len: 0,
        ca_len: 0,
        ca_fingerprint: None,
        transaction_len: 0,
        under_next_ca: false,
    };
    match job {
        Job::Enroll { key } => {
            spec.key = key;
            spec.signer = key;
        }
        Job::Renew { key, signer, certificate, under_next_ca } => {
            spec.kind = JobKind::Renew;
            spec.under_next_ca = under_next_ca;
            spec.key = key;
            spec.signer = signer;
            memory.certificate.get_mut(..certificate.len())?.copy_from_slice(certificate);
            spec.certificate_len = certificate.len();
        }
        Job::FetchNextCa => spec.kind = JobKind::FetchNextCa,
    }
    Some(spec)
}

/// One job's borrows.
struct JobContext<'j, 'r, K, S, N, C, T, R> {
    profile: &'r Profile<'r, Settings<'r>>,
    manager: &'j mut Manager<'r>,
    device: &'j mut Device<K, S, N, C, T, R>,
    memory: &'j mut JobMemory<'r>,
    on_event: &'j mut dyn FnMut(&Event<'_>) -> Flow,
    #[cfg(feature = "acme")]
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    responder: &'j mut Option<&'r mut dyn crate::acme::Responder>,
}

/// The device's key slots by role for one job: the requested key and the certificate's key.
struct SlotKeys<'a, 'k, K> {
    keys: &'a RefCell<&'k mut K>,
    requested: u8,
    certificate: u8,
    /// The ACME account key's slot (the certificate's for the other protocols).
    account: u8,
}

impl<K: KeySlots> SlotKeys<'_, '_, K> {
    fn slot(&self, role: KeyRole) -> u8 {
        match role {
            KeyRole::Requested => self.requested,
            KeyRole::Certificate => self.certificate,
            KeyRole::Account => self.account,
        }
    }
    fn with<V>(&self, f: impl FnOnce(&mut K) -> Result<V, ErrorKind>) -> Result<V, ErrorKind> {
        let mut keys = self.keys.try_borrow_mut().map_err(|_| ErrorKind::Busy)?;
        f(&mut keys)
    }
}

impl<K: KeySlots> DeviceKeys for SlotKeys<'_, '_, K> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let slot = self.slot(role);
        self.with(|k| k.sign(slot, digest, out))
    }
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        let slot = self.slot(role);
        self.with(|k| k.decrypt(slot, ciphertext, out))
    }
    fn agree(&mut self, role: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        let slot = self.slot(role);
        self.with(|k| k.agree(slot, peer, out))
    }
}

/// One key slot as a [`Signer`] (the TLS client key of an EST renewal).
#[cfg_attr(not(all(feature = "est", feature = "tls")), allow(dead_code))]
struct SlotSigner<'a, 'k, K> {
    keys: &'a RefCell<&'k mut K>,
    slot: u8,
    key_type: KeyType,
}

impl<K> ErrorType for SlotSigner<'_, '_, K> {
    type Error = ErrorKind;
}

impl<K: KeySlots> Signer for SlotSigner<'_, '_, K> {
    fn key_type(&self) -> KeyType {
        self.key_type
    }
    fn public_key_der(&mut self, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.keys.try_borrow_mut().map_err(|_| ErrorKind::Busy)?.public_key_der(self.slot, out)
    }
    fn sign_prehash(&mut self, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        self.keys.try_borrow_mut().map_err(|_| ErrorKind::Busy)?.sign(self.slot, digest, out)
    }
}

/// The runner's generator shared by the client and the TLS connector (each use borrows it
/// for one call).
struct SharedRng<'a, 'r, R>(&'a RefCell<&'r mut R>);

impl<R: CryptoRngCore> RngCore for SharedRng<'_, '_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.borrow_mut().next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.borrow_mut().next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.borrow_mut().fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.borrow_mut().try_fill_bytes(dest)
    }
}

impl<R: CryptoRngCore> CryptoRng for SharedRng<'_, '_, R> {}

/// The job failed: told to the handler and the manager.
fn failed(
    manager: &mut Manager<'_>,
    clock: &mut impl Clock,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
    why: Failure<'_>,
) -> Result<(), RunnerError> {
    warn!("lifecycle: job failed");
    on_event(&Event::JobFailed(why));
    let now = clock.now();
    manager.handle_failed(now)?;
    Ok(())
}

/// The job's certificate: told to the handler, checked and persisted by the manager.
fn issued(
    manager: &mut Manager<'_>,
    clock: &mut impl Clock,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
    cert: &[u8],
    ca: &[u8],
) -> Result<(), RunnerError> {
    info!("lifecycle: certificate issued ({} bytes)", cert.len());
    on_event(&Event::Issued(cert));
    let now = clock.now();
    manager.handle_issued(now, cert, ca)?;
    Ok(())
}

/// The host and port of `server` (`host:port`, `[v6]:port` or a bare host).
fn split_server(server: &str) -> (&str, Option<u16>) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => match port.parse() {
            Ok(p) => (host.trim_start_matches('[').trim_end_matches(']'), Some(p)),
            Err(_) => (server, None),
        },
        _ => (server, None),
    }
}

// ---- the job core: what the blocking and async runners share ------------------------------

/// Persists a SCEP PENDING transaction (the client's snapshot) before the wait, and tells the
/// handler; [`Flow::Stop`] leaves the job to the next step (it resumes the transaction).
#[cfg(feature = "scep")]
#[inline(never)]
fn scep_pending<G: CryptoRngCore>(
    client: &crate::scep::client::Client<'_, '_, G>,
    manager: &mut Manager<'_>,
    store: &mut impl StateStore,
    clock: &mut impl Clock,
    transaction: &mut [u8],
    next_poll: Instant,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
) -> Result<Flow, RunnerError> {
    if let Ok(Some(snapshot)) = client.snapshot(transaction) {
        manager.handle_pending(snapshot)?;
        if let Step::Store { slot, record } = manager.poll(clock.now())? {
            let ok = store.store(slot, record).is_ok();
            on_event(&Event::Stored { slot, ok });
            manager.handle_stored(ok)?;
        }
    }
    info!("lifecycle: SCEP PENDING, transaction persisted");
    Ok(on_event(&Event::Pending { transaction_id: client.transaction_id(), attempts: client.pending_attempts(), next_poll }))
}

/// A SCEP job's end: the certificate (and the CA that issued it) to the manager, the next CA,
/// or the failure.
#[cfg(feature = "scep")]
#[inline(never)]
fn scep_finish<G: CryptoRngCore>(
    client: &crate::scep::client::Client<'_, '_, G>,
    result: Result<crate::scep::client::Outcome, Failure<'_>>,
    manager: &mut Manager<'_>,
    clock: &mut impl Clock,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
) -> Result<(), RunnerError> {
    use crate::scep::client::Outcome;
    match result {
        Ok(Outcome::Issued) => match (client.certificate(), client.ca_certificates()) {
            (Some(cert), Some(cas)) => issued(manager, clock, on_event, cert, cas.issuing_ca().as_der()),
            _ => failed(manager, clock, on_event, Failure::Reply("SCEP: issued, but the certificate or the CA is missing")),
        },
        Ok(Outcome::NextCa) => {
            let next = client
                .next_ca_certificates()
                .and_then(|sd| sd.certificates().find(|c| matches!(c.basic_constraints(), Ok(Some(bc)) if bc.ca)));
            let now = clock.now();
            manager.handle_next_ca(now, next.map(|c| c.as_der()).unwrap_or_default())?;
            Ok(())
        }
        Ok(outcome) => failed(manager, clock, on_event, Failure::Scep(&outcome)),
        Err(why) => failed(manager, clock, on_event, why),
    }
}

/// The SCEP client of a job (a resumed PENDING transaction when `transaction` holds one).
#[cfg(feature = "scep")]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn scep_client<'s, 'a, G: CryptoRngCore>(
    slot: &'s mut Option<crate::scep::client::Client<'a, 'a, G>>,
    profile: &'a Profile<'a, Settings<'a>>,
    spec: &JobSpec,
    anchor: &'a mut Option<CertificateRef<'a>>,
    spki: &'a [u8],
    certificate: &'a [u8],
    bufs: crate::scep::client::Buffers<'a>,
    transaction: &[u8],
    (wall, mono): (Option<UnixTime>, Instant),
    rng: G,
) -> Result<&'s mut crate::scep::client::Client<'a, 'a, G>, Failure<'static>> {
    use crate::asn1::csr::ChallengePassword;
    use crate::scep::ca::CaTrust;
    use crate::scep::client::{Client, Config, Operation};

    let settings = &profile.extra;
    let trust = match (spec.ca_fingerprint, profile.trust) {
        (Some(fp), _) | (None, Trust::Fingerprint(fp)) => CaTrust::Fingerprint(fp),
        (None, Trust::Anchor(a)) => {
            let c = CertificateRef::parse(a).map_err(|_| Failure::Unsupported("the profile's trust anchor does not parse"))?;
            CaTrust::Anchor(anchor.insert(c))
        }
    };
    let (host, port) = split_server(profile.server);
    let mut config = Config::new(host, trust, spki);
    config.port = port;
    config.path = settings.scep_path;
    config.policy = settings.scep_policy;
    config.retry = settings.retry;
    config.wall_time = wall;
    config.time_floor = settings.time_floor;
    let mut csr = CsrBuilder::new(profile.subject).subject_alt_names(profile.alt_names);
    if let Auth::Challenge(pw) = profile.auth {
        csr = csr.challenge_password(ChallengePassword::Printable(pw));
        config.envelope_password = Some(pw.as_bytes());
    }
    let operation = match spec.kind {
        JobKind::Enroll => Operation::Enroll(csr),
        JobKind::Renew => Operation::Renew { csr, certificate },
        JobKind::FetchNextCa => Operation::GetNextCaCertificates,
    };
    let client = match transaction.get(..spec.transaction_len).filter(|t| !t.is_empty()) {
        Some(snapshot) => Client::resume(config, operation, bufs, rng, snapshot, mono),
        None => Client::new(config, operation, bufs, rng),
    };
    Ok(slot.insert(client.map_err(|e| Failure::Driver(DriveError::Client(e)))?))
}

/// The EST client of a job: `kind` (with `pinned`, `/cacerts` looking for that CA).
#[cfg(all(feature = "est", feature = "tls"))]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn est_client<'s, 'a, G: CryptoRngCore>(
    slot: &'s mut Option<crate::est::client::Client<'a, 'a, G>>,
    profile: &'a Profile<'a, Settings<'a>>,
    kind: JobKind,
    pinned: Option<[u8; 32]>,
    spki: &'a [u8],
    ca: &'a [u8],
    bufs: crate::est::client::Buffers<'a>,
    wall: Option<UnixTime>,
    rng: G,
) -> Result<&'s mut crate::est::client::Client<'a, 'a, G>, Failure<'static>> {
    use crate::est::client::{CaCertsTrust, Client, Config, Credentials, Operation};
    use crate::http::base64::LineStyle;

    let settings = &profile.extra;
    let (host, port) = split_server(profile.server);
    let trust = match pinned {
        Some(fp) => CaCertsTrust::Fingerprint(fp),
        None => CaCertsTrust::TlsAuthenticated,
    };
    let mut config = Config::new(host, trust, spki);
    config.port = port;
    config.label = settings.est_label;
    config.ca_certificate = (!ca.is_empty()).then_some(ca);
    config.body_style = if settings.est_one_line { LineStyle::OneLine } else { LineStyle::default() };
    config.retry = settings.retry;
    config.wall_time = wall;
    config.time_floor = settings.time_floor;
    if let Auth::Basic { user, password } = profile.auth {
        // A renewal authenticates with the certificate in use (mutual TLS): the password goes
        // only to a server that asks for it.
        let preemptive_basic = settings.preemptive_basic && kind != JobKind::Renew;
        config.credentials = Some(Credentials { user, password, preemptive_basic });
    }
    let csr = CsrBuilder::new(profile.subject).subject_alt_names(profile.alt_names);
    let operation = match kind {
        JobKind::Enroll => Operation::Enroll(csr),
        JobKind::Renew => Operation::ReEnroll(csr),
        JobKind::FetchNextCa => Operation::CaCerts,
    };
    Ok(slot.insert(Client::new(config, operation, bufs, rng).map_err(|e| Failure::Driver(DriveError::Client(e)))?))
}

/// The TLS connector of an EST job over `tcp`: the profile's server trust and name, the
/// device's time, and for a renewal the certificate in use with its key.
#[cfg(all(feature = "est", feature = "tls"))]
fn est_tls<'a, 'k, X, G: CryptoRngCore, Y: Signer>(
    profile: &'a Profile<'a, Settings<'a>>,
    tcp: X,
    (read, write): (&'a mut [u8], &'a mut [u8]),
    rng: G,
    wall: Option<UnixTime>,
    client: Option<(&'a [u8], &'k mut Y)>,
) -> crate::transport::tls::TlsConnector<'a, 'k, X, G, Y> {
    let settings = &profile.extra;
    let name = settings.tls_server_name.unwrap_or(split_server(profile.server).0);
    let mut tls = crate::transport::tls::TlsConnector::new(tcp, read, write, rng, settings.server_trust, name);
    if let Some(now) = wall {
        tls = tls.with_time(now);
    }
    tls = tls.with_time_floor(settings.time_floor);
    if let Some((certificate, key)) = client {
        tls = tls.with_client_certificate(certificate, key);
    }
    tls
}

/// An EST exchange's end. With `pinned` (`/cacerts` for the first enrollment's CA): the
/// certificate with that fingerprint copied into `ca_out` (its length), or the failure handed
/// to the manager (`None`). Otherwise the job's result goes to the manager.
#[cfg(all(feature = "est", feature = "tls"))]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn est_finish<G: CryptoRngCore>(
    client: &crate::est::client::Client<'_, '_, G>,
    result: Result<crate::est::client::Outcome, DriveError<crate::est::client::ClientError>>,
    pinned: Option<[u8; 32]>,
    ca: &[u8],
    ca_out: &mut [u8],
    manager: &mut Manager<'_>,
    clock: &mut impl Clock,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
) -> Result<Option<usize>, RunnerError> {
    use crate::est::client::{MAX_CA_CERTS, Outcome};
    let none = |r: Result<(), RunnerError>| r.map(|()| None);
    match (result, pinned) {
        (Ok(Outcome::CaCerts), Some(fp)) => {
            let found = client.trusted_ca_certificates().find(|c| c.fingerprint_sha256() == fp).map(|c| c.as_der());
            match found.and_then(|der| Some((der, ca_out.get_mut(..der.len())?))) {
                Some((der, dst)) => {
                    dst.copy_from_slice(der);
                    Ok(Some(der.len()))
                }
                None => {
                    none(failed(manager, clock, on_event, Failure::Reply("EST: /cacerts has no certificate with the pinned fingerprint")))
                }
            }
        }
        (Ok(Outcome::CaCerts), None) => {
            let mut list: heapless::Vec<&[u8], MAX_CA_CERTS> = heapless::Vec::new();
            for c in client.certificates().iter().flat_map(|sd| sd.certificates()) {
                if list.push(c.as_der()).is_err() {
                    break;
                }
            }
            let now = clock.now();
            manager.handle_ca_certs(now, &list)?;
            Ok(None)
        }
        (Ok(Outcome::Issued), _) => match client.certificate() {
            Some(cert) => none(issued(manager, clock, on_event, cert, ca)),
            None => none(failed(manager, clock, on_event, Failure::Reply("EST: issued, but no certificate"))),
        },
        (Ok(outcome), _) => none(failed(manager, clock, on_event, Failure::Est(&outcome))),
        (Err(why), _) => none(failed(manager, clock, on_event, Failure::Driver(why))),
    }
}

/// The CA of an EST enrollment when the record has none: the profile's anchor copied into
/// `memory.ca` (`Ok(true)`), or a fingerprint to look for in `/cacerts` (`Err(fp)`).
#[cfg(all(feature = "est", feature = "tls"))]
fn est_anchor(profile: &Profile<'_, Settings<'_>>, spec: &mut JobSpec, ca: &mut [u8]) -> Result<bool, [u8; 32]> {
    if spec.ca_len > 0 || spec.kind != JobKind::Enroll {
        return Ok(true);
    }
    match profile.trust {
        Trust::Anchor(a) => match ca.get_mut(..a.len()) {
            Some(dst) => {
                dst.copy_from_slice(a);
                spec.ca_len = a.len();
                Ok(true)
            }
            None => Ok(false),
        },
        Trust::Fingerprint(fp) => Err(fp),
    }
}

// ---- the job core: one body for the blocking and the async runner ------------------------
//
// The job bodies below are written once; `$driver` names the driver module (`blocking` or
// `asynch`) and `$aw` is `await` for the async runner: the exchanges and the sleeps are the
// only places where the two differ.

/// A SCEP job (see [`Runner::step`]).
#[cfg(feature = "scep")]
macro_rules! scep_job {
    ($this:ident, $spec:ident, $driver:ident $(, $aw:tt)?) => {{
        use crate::scep::client::Buffers;
        use crate::transport::$driver::run_scep_with;

        let JobContext { profile, manager, device, memory, on_event, .. } = $this;
        let Device { keys, store, network, clock, timer, rng } = device;
        let (dev_key, dev_signer) = (manager.device_key_slot($spec.key), manager.device_key_slot($spec.signer));
        let spki_len = match keys.public_key_der(dev_key, memory.spki) {
            Ok(n) => n,
            Err(e) => return failed(manager, clock, on_event, Failure::Key(e)),
        };
        let JobMemory { ca, own, work, io, certificate, spki, transaction, .. } = memory;
        let bufs = Buffers { ca: &mut ca[..], own: &mut own[..], work: &mut work[..], io: &mut io[..] };
        let rng = RefCell::new(rng);
        let mut anchor = None;
        let spki = spki.get(..spki_len).unwrap_or_default();
        let certificate = certificate.get(..$spec.certificate_len).unwrap_or_default();
        let times = (clock.now(), timer.now());
        // The client is made in place (a frame of its own builds it): one copy on the stack.
        let mut made = None;
        let client = match scep_client(&mut made, profile, &$spec, &mut anchor, spki, certificate, bufs, transaction, times, SharedRng(&rng))
        {
            Ok(c) => c,
            Err(why) => return failed(manager, clock, on_event, why),
        };
        let keys = RefCell::new(keys);
        let mut slot_keys = SlotKeys { keys: &keys, requested: dev_key, certificate: dev_signer, account: dev_signer };
        let result = loop {
            let mut connector = match network.connector(profile.server) {
                Ok(c) => c,
                Err(e) => break Err(Failure::Network(e)),
            };
            let options = profile.extra.drive.returning_at_wait();
            let r = run_scep_with(client, &mut connector, &mut slot_keys, timer, options, |p| {
                let _ = on_event(&Event::Progress(p));
            })$(.$aw)?;
            match r {
                Err(DriveError::Paused(next_poll)) => {
                    if scep_pending(client, manager, store, clock, transaction, next_poll, on_event)? == Flow::Stop {
                        return Ok(());
                    }
                    if !timer.sleep_until(next_poll)$(.$aw)? {
                        return Err(RunnerError::Stopped);
                    }
                }
                Ok(outcome) => break Ok(outcome),
                Err(e) => break Err(Failure::Driver(e)),
            }
        };
        scep_finish(client, result, manager, clock, on_event)
    }};
}

/// An EST job: `/cacerts` first when the CA is pinned by fingerprint, then the job's exchange.
#[cfg(all(feature = "est", feature = "tls"))]
macro_rules! est_job {
    ($this:ident, $spec:ident, $exchange:ident $(, $aw:tt)?) => {{
        match est_anchor($this.profile, &mut $spec, $this.memory.ca) {
            Ok(true) => {}
            Ok(false) => {
                let why = Failure::Unsupported("the trust anchor does not fit the CA buffer");
                return failed($this.manager, &mut $this.device.clock, $this.on_event, why);
            }
            Err(fp) => match $this.$exchange($spec, JobKind::FetchNextCa, Some(fp))$(.$aw)?? {
                Some(n) => $spec.ca_len = n,
                None => return Ok(()),
            },
        }
        $this.$exchange($spec, $spec.kind, None)$(.$aw)?.map(|_| ())
    }};
}

/// One EST client run for `$kind` (see [`est_finish`] for `$pinned`).
#[cfg(all(feature = "est", feature = "tls"))]
macro_rules! est_exchange {
    ($this:ident, $spec:ident, $kind:ident, $pinned:ident, $driver:ident $(, $aw:tt)?) => {{
        use crate::est::client::Buffers;
        use crate::transport::$driver::run_est_with;

        let JobContext { profile, manager, device, memory, on_event, .. } = $this;
        let profile = *profile;
        let Device { keys, network, clock, timer, rng, .. } = &mut **device;
        let (dev_key, dev_signer) = (manager.device_key_slot($spec.key), manager.device_key_slot($spec.signer));
        let spki_len = match keys.public_key_der(dev_key, memory.spki) {
            Ok(n) => n,
            Err(e) => return failed(manager, clock, *on_event, Failure::Key(e)).map(|()| None),
        };
        let key_type = keys.key_type(dev_signer).unwrap_or(KeyType::EcP256);
        let JobMemory { ca, own, work, io, certificate, spki, tls_read, tls_write, .. } = &mut **memory;
        let (ca, ca_out) = ca.split_at_mut(if $pinned.is_some() { 0 } else { $spec.ca_len.min(ca.len()) });
        let bufs = Buffers { own: &mut own[..], work: &mut work[..], io: &mut io[..] };
        let rng = RefCell::new(rng);
        let spki = spki.get(..spki_len).unwrap_or_default();
        // The client is made in place (a frame of its own builds it): one copy on the stack.
        let mut made = None;
        let client = match est_client(&mut made, profile, $kind, $pinned, spki, ca, bufs, clock.now(), SharedRng(&rng)) {
            Ok(c) => c,
            Err(why) => return failed(manager, clock, *on_event, why).map(|()| None),
        };
        let keys = RefCell::new(keys);
        let mut slot_keys = SlotKeys { keys: &keys, requested: dev_key, certificate: dev_signer, account: dev_signer };
        let mut tls_key = SlotSigner { keys: &keys, slot: dev_signer, key_type };
        let renewing = ($kind == JobKind::Renew).then(|| (certificate.get(..$spec.certificate_len).unwrap_or_default(), &mut tls_key));
        let tcp = match network.connector(profile.server) {
            Ok(tcp) => tcp,
            Err(e) => return failed(manager, clock, *on_event, Failure::Network(e)).map(|()| None),
        };
        let mut tls = est_tls(profile, tcp, (tls_read, tls_write), SharedRng(&rng), clock.now(), renewing);
        // The driver's result goes to `est_finish` as it is (a mapped copy would be one more
        // result on this frame, which sits under the TLS handshake).
        let result = run_est_with(client, &mut tls, &mut slot_keys, timer, profile.extra.drive, |p| {
            let _ = on_event(&Event::Progress(p));
        })$(.$aw)?;
        est_finish(client, result, $pinned, ca, ca_out, manager, clock, *on_event)
    }};
}

/// The ACME identifiers of a profile's subjectAltNames (DNS names and IP addresses; the IP
/// addresses' text in `texts`).
#[cfg(all(feature = "acme", feature = "tls"))]
fn acme_identifiers<'t>(
    alt_names: &'t [crate::asn1::csr::SubjectAltName<'t>],
    texts: &'t mut [heapless::String<40>; crate::acme::client::MAX_IDENTIFIERS],
) -> heapless::Vec<crate::acme::Identifier<'t>, { crate::acme::client::MAX_IDENTIFIERS }> {
    use crate::acme::Identifier;
    use crate::asn1::csr::SubjectAltName;
    use core::fmt::Write;
    let mut ips = texts.iter_mut();
    let mut out = heapless::Vec::new();
    for name in alt_names {
        let id = match name {
            SubjectAltName::Dns(d) => Identifier::Dns(d),
            SubjectAltName::Ip(bytes) => {
                let Some(text) = ips.next() else { break };
                let addr: Option<core::net::IpAddr> = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(core::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(core::net::IpAddr::from),
                    _ => None,
                };
                let Some(addr) = addr else { continue };
                let _ = write!(text, "{addr}");
                Identifier::Ip(text.as_str())
            }
            _ => continue,
        };
        if out.push(id).is_err() {
            break;
        }
    }
    out
}

/// The ACME client of a job: an order for the profile's subjectAltNames (a renewal names the
/// certificate it replaces).
#[cfg(all(feature = "acme", feature = "tls"))]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn acme_client<'s, 'a>(
    slot: &'s mut Option<crate::acme::Client<'a, 'a>>,
    profile: &'a Profile<'a, Settings<'a>>,
    kind: JobKind,
    identifiers: &'a [crate::acme::Identifier<'a>],
    account_key: &'a [u8],
    spki: &'a [u8],
    certificate: &'a [u8],
    bufs: crate::acme::Buffers<'a>,
) -> Result<&'s mut crate::acme::Client<'a, 'a>, Failure<'static>> {
    use crate::acme::{Client, Config, Operation};
    let settings = &profile.extra;
    let (host, port) = split_server(profile.server);
    let mut config = Config::new(host, port.unwrap_or(443), settings.acme_directory, account_key, spki);
    config.contact = settings.acme_contact;
    config.eab = settings.acme_eab;
    config.challenges = settings.acme_challenges;
    // Authorization and order polling keep the ACME client's own schedule (1 s doubling to
    // a minute): `settings.retry` is SCEP's and EST's, whose waits are minutes to days.
    if let Trust::Anchor(anchor) = profile.trust {
        config.trust_anchor = Some(anchor);
    }
    if kind == JobKind::Renew && !certificate.is_empty() && crate::acme::client::ari_id(certificate).is_some() {
        config.replaces = Some(certificate);
    }
    let csr = CsrBuilder::new(profile.subject).subject_alt_names(profile.alt_names);
    let operation = match kind {
        JobKind::Enroll | JobKind::Renew => Operation::Order { identifiers, csr },
        JobKind::FetchNextCa => return Err(Failure::Unsupported("ACME has no CA fetch")),
    };
    Ok(slot.insert(Client::new(config, operation, bufs).map_err(|e| Failure::Driver(DriveError::Client(e)))?))
}

/// An ACME job's end: the certificate and its issuer to the manager, or the failure.
#[cfg(all(feature = "acme", feature = "tls"))]
#[inline(never)]
fn acme_finish(
    client: &crate::acme::Client<'_, '_>,
    result: Result<crate::acme::Outcome, DriveError<crate::error::ClientError>>,
    manager: &mut Manager<'_>,
    clock: &mut impl Clock,
    on_event: &mut dyn FnMut(&Event<'_>) -> Flow,
) -> Result<(), RunnerError> {
    use crate::acme::Outcome;
    match result {
        Ok(Outcome::Issued) => {
            let mut chain = client.certificates();
            match (chain.next(), chain.next()) {
                (Some(cert), Some(ca)) => issued(manager, clock, on_event, cert, ca),
                _ => failed(manager, clock, on_event, Failure::Reply("ACME: the chain has no issuing CA certificate")),
            }
        }
        Ok(outcome) => failed(manager, clock, on_event, Failure::Acme(&outcome)),
        Err(why) => failed(manager, clock, on_event, Failure::Driver(why)),
    }
}

/// An ACME job: the account key (made in its slot on first use), an order over TLS, the
/// challenges through the runner's responder.
#[cfg(all(feature = "acme", feature = "tls"))]
macro_rules! acme_job {
    ($this:ident, $spec:ident, $driver:ident $(, $aw:tt)?) => {{
        use crate::transport::$driver::run_acme_with;

        let JobContext { profile, manager, device, memory, on_event, responder } = $this;
        let Device { keys, network, clock, timer, rng, .. } = device;
        let Some(mut responder) = responder.as_deref_mut() else {
            let why = Failure::Unsupported("ACME needs a challenge responder (Runner::set_challenge_responder)");
            return failed(manager, clock, on_event, why);
        };
        let dev_key = manager.device_key_slot($spec.key);
        let account_slot = profile.extra.acme_account_slot;
        let JobMemory { own, work, io, certificate, spki, tls_read, tls_write, .. } = memory;
        let spki_len = match keys.public_key_der(dev_key, spki) {
            Ok(n) => n,
            Err(e) => return failed(manager, clock, on_event, Failure::Key(e)),
        };
        // The account key: made in its slot the first time.
        let account_len = match keys.public_key_der(account_slot, own) {
            Ok(n) => Ok(n),
            Err(_) => keys.generate(account_slot, rng).and_then(|()| keys.public_key_der(account_slot, own)),
        };
        let account_len = match account_len {
            Ok(n) => n,
            Err(e) => return failed(manager, clock, on_event, Failure::Key(e)),
        };
        let mut texts: [heapless::String<40>; crate::acme::client::MAX_IDENTIFIERS] = Default::default();
        let identifiers = acme_identifiers(profile.alt_names, &mut texts);
        let bufs = crate::acme::Buffers { work: &mut work[..], io: &mut io[..] };
        let spki = spki.get(..spki_len).unwrap_or_default();
        let account_key = own.get(..account_len).unwrap_or_default();
        let certificate = certificate.get(..$spec.certificate_len).unwrap_or_default();
        let mut made = None;
        let client = match acme_client(&mut made, profile, $spec.kind, &identifiers, account_key, spki, certificate, bufs) {
            Ok(c) => c,
            Err(why) => return failed(manager, clock, on_event, why),
        };
        let rng = RefCell::new(rng);
        let keys = RefCell::new(keys);
        let mut slot_keys = SlotKeys { keys: &keys, requested: dev_key, certificate: dev_key, account: account_slot };
        let tcp = match network.connector(profile.server) {
            Ok(tcp) => tcp,
            Err(e) => return failed(manager, clock, on_event, Failure::Network(e)),
        };
        let none: Option<(&[u8], &mut SlotSigner<'_, '_, K>)> = None;
        let mut tls = est_tls(profile, tcp, (tls_read, tls_write), SharedRng(&rng), clock.now(), none);
        let result = run_acme_with(client, &mut tls, &mut slot_keys, &mut responder, timer, profile.extra.drive, |p| {
            let _ = on_event(&Event::Progress(p));
        })$(.$aw)?;
        acme_finish(client, result, manager, clock, on_event)
    }};
}

/// ACME Renewal Information for the certificate in use: the window to the manager (which
/// moves the renewal into it), and when to ask again; `(next, true)` when the server has no
/// ARI (the renewal policy alone decides from then on).
#[cfg(all(feature = "acme", feature = "tls"))]
macro_rules! acme_ari {
    ($this:ident, $driver:ident $(, $aw:tt)?) => {{
        use crate::transport::$driver::run_acme_with;

        let JobContext { profile, manager, device, memory, on_event, responder } = $this;
        let Device { keys, network, clock, timer, rng, .. } = device;
        let now = clock.now().unwrap_or(UnixTime::CRATE_FLOOR);
        let later = |secs: u64| now.saturating_add(Duration::from_secs(secs.max(60)));
        let Some(mut responder) = responder.as_deref_mut() else { return Ok((later(6 * 3600), false)) };
        let JobMemory { work, io, certificate, tls_read, tls_write, .. } = memory;
        let current = manager.record().certificate;
        let Some(dst) = certificate.get_mut(..current.len()) else { return Ok((later(6 * 3600), false)) };
        dst.copy_from_slice(current);
        let certificate: &[u8] = dst;
        let settings = &profile.extra;
        let (host, port) = split_server(profile.server);
        let config = crate::acme::Config::new(host, port.unwrap_or(443), settings.acme_directory, &[], &[]);
        let bufs = crate::acme::Buffers { work: &mut work[..], io: &mut io[..] };
        let client = match crate::acme::Client::new(config, crate::acme::Operation::RenewalInfo { certificate }, bufs) {
            Ok(c) => c,
            // No account key is needed for a plain GET; a client that cannot be made is retried later.
            Err(_) => return Ok((later(6 * 3600), false)),
        };
        let mut made = Some(client);
        let Some(client) = made.as_mut() else { return Ok((later(6 * 3600), false)) };
        let rng = RefCell::new(rng);
        let keys = RefCell::new(keys);
        let slot = manager.device_key_slot(manager.record().active_slot);
        let mut slot_keys = SlotKeys { keys: &keys, requested: slot, certificate: slot, account: slot };
        let tcp = match network.connector(profile.server) {
            Ok(tcp) => tcp,
            Err(_) => return Ok((later(3600), false)),
        };
        let none: Option<(&[u8], &mut SlotSigner<'_, '_, K>)> = None;
        let mut tls = est_tls(profile, tcp, (tls_read, tls_write), SharedRng(&rng), clock.now(), none);
        let result = run_acme_with(client, &mut tls, &mut slot_keys, &mut responder, timer, settings.drive, |p| {
            let _ = on_event(&Event::Progress(p));
        })$(.$aw)?;
        match result {
            Ok(crate::acme::Outcome::RenewalWindow { start, end, retry_after_secs }) => {
                manager.handle_renewal_window(clock.now(), start, end)?;
                Ok((later(retry_after_secs), false))
            }
            Ok(crate::acme::Outcome::NoRenewalInfo) => {
                info!("lifecycle: the ACME server has no renewal information: the renewal policy decides");
                Ok((later(6 * 3600), true))
            }
            _ => {
                warn!("lifecycle: the ACME renewal window could not be read: asked again in 6 hours");
                Ok((later(6 * 3600), false))
            }
        }
    }};
}

// ---- the blocking runner's jobs -----------------------------------------------------------

impl<K, S, N, C, T, R> JobContext<'_, '_, K, S, N, C, T, R>
where
    K: KeySlots,
    S: StateStore,
    N: Network,
    C: Clock,
    T: Timer,
    R: CryptoRngCore,
{
    #[cfg(not(feature = "scep"))]
    fn scep(self, _: JobSpec) -> Result<(), RunnerError> {
        failed(self.manager, &mut self.device.clock, self.on_event, Failure::Unsupported("this build has no SCEP (the `scep` feature)"))
    }

    #[cfg(feature = "scep")]
    #[inline(never)]
    fn scep(self, spec: JobSpec) -> Result<(), RunnerError> {
        scep_job!(self, spec, blocking)
    }

    #[cfg(not(all(feature = "est", feature = "tls")))]
    fn est(self, _: JobSpec) -> Result<(), RunnerError> {
        let why = Failure::Unsupported("this build has no EST over TLS (the `est` and `tls` features)");
        failed(self.manager, &mut self.device.clock, self.on_event, why)
    }

    #[cfg(all(feature = "est", feature = "tls"))]
    fn est(mut self, mut spec: JobSpec) -> Result<(), RunnerError> {
        est_job!(self, spec, est_exchange)
    }

    /// One EST client run for `kind` (see [`est_finish`] for `pinned`).
    #[cfg(all(feature = "est", feature = "tls"))]
    #[inline(never)]
    fn est_exchange(&mut self, spec: JobSpec, kind: JobKind, pinned: Option<[u8; 32]>) -> Result<Option<usize>, RunnerError> {
        est_exchange!(self, spec, kind, pinned, blocking)
    }

    #[cfg(not(all(feature = "acme", feature = "tls")))]
    fn acme(self, _: JobSpec) -> Result<(), RunnerError> {
        let why = Failure::Unsupported("this build has no ACME over TLS (the `acme` and `tls` features)");
        failed(self.manager, &mut self.device.clock, self.on_event, why)
    }

    #[cfg(all(feature = "acme", feature = "tls"))]
    #[inline(never)]
    fn acme(self, spec: JobSpec) -> Result<(), RunnerError> {
        acme_job!(self, spec, blocking)
    }

    /// ACME Renewal Information (see `acme_ari!`).
    #[cfg(all(feature = "acme", feature = "tls"))]
    #[inline(never)]
    fn acme_ari(self) -> Result<(UnixTime, bool), RunnerError> {
        acme_ari!(self, blocking)
    }
}

// ---- the async runner: the same core, awaited ---------------------------------------------

#[cfg(feature = "async")]
impl<'r, K, S, N, C, T, R> Runner<'r, K, S, N, C, T, R>
where
    K: KeySlots,
    S: StateStore,
    N: crate::transport::asynch::AsyncNetwork,
    C: Clock,
    T: crate::transport::asynch::AsyncTimer,
    R: CryptoRngCore,
{
    /// [`Runner::run`] for an async network and timer (the `async` feature): the same steps,
    /// each exchange and sleep awaited.
    pub async fn run_async(&mut self, mut on_event: impl FnMut(&Event<'_>) -> Flow) -> Result<(), RunnerError> {
        run_loop!(self, on_event, step_async, await)
    }

    /// [`Runner::step`] for an async network and timer.
    pub async fn step_async(&mut self, on_event: &mut dyn FnMut(&Event<'_>) -> Flow) -> Result<Next, RunnerError> {
        step_body!(self, on_event, scep_async, est_async, acme_async, acme_ari_async, await)
    }
}

#[cfg(feature = "async")]
impl<K, S, N, C, T, R> JobContext<'_, '_, K, S, N, C, T, R>
where
    K: KeySlots,
    S: StateStore,
    N: crate::transport::asynch::AsyncNetwork,
    C: Clock,
    T: crate::transport::asynch::AsyncTimer,
    R: CryptoRngCore,
{
    #[cfg(not(feature = "scep"))]
    async fn scep_async(self, _: JobSpec) -> Result<(), RunnerError> {
        failed(self.manager, &mut self.device.clock, self.on_event, Failure::Unsupported("this build has no SCEP (the `scep` feature)"))
    }

    #[cfg(feature = "scep")]
    async fn scep_async(self, spec: JobSpec) -> Result<(), RunnerError> {
        scep_job!(self, spec, asynch, await)
    }

    #[cfg(not(all(feature = "est", feature = "tls")))]
    async fn est_async(self, _: JobSpec) -> Result<(), RunnerError> {
        let why = Failure::Unsupported("this build has no EST over TLS (the `est` and `tls` features)");
        failed(self.manager, &mut self.device.clock, self.on_event, why)
    }

    #[cfg(all(feature = "est", feature = "tls"))]
    async fn est_async(mut self, mut spec: JobSpec) -> Result<(), RunnerError> {
        est_job!(self, spec, est_exchange_async, await)
    }

    /// One EST client run for `kind`, awaited (see [`est_finish`] for `pinned`).
    #[cfg(all(feature = "est", feature = "tls"))]
    async fn est_exchange_async(&mut self, spec: JobSpec, kind: JobKind, pinned: Option<[u8; 32]>) -> Result<Option<usize>, RunnerError> {
        est_exchange!(self, spec, kind, pinned, asynch, await)
    }

    #[cfg(not(all(feature = "acme", feature = "tls")))]
    async fn acme_async(self, _: JobSpec) -> Result<(), RunnerError> {
        let why = Failure::Unsupported("this build has no ACME over TLS (the `acme` and `tls` features)");
        failed(self.manager, &mut self.device.clock, self.on_event, why)
    }

    #[cfg(all(feature = "acme", feature = "tls"))]
    async fn acme_async(self, spec: JobSpec) -> Result<(), RunnerError> {
        acme_job!(self, spec, asynch, await)
    }

    /// ACME Renewal Information, awaited (see `acme_ari!`).
    #[cfg(all(feature = "acme", feature = "tls"))]
    async fn acme_ari_async(self) -> Result<(UnixTime, bool), RunnerError> {
        acme_ari!(self, asynch, await)
    }
}
