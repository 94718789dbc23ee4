//! The board's two identities, kept by the library's lifecycle runner
//! (`embedded_enroll::lifecycle::runner`) across reboots: a SCEP identity from micromdm and an
//! EST identity from est-ca, each a [`Profile`] whose records live in the board's flash
//! ([`crate::flash`]).
//!
//! What a boot does, per profile: restore the record from flash (or start a fresh device), then
//! run the manager's jobs until a new identity is in use or nothing is due. A fresh device
//! enrolls (SCEP PKCSReq, EST /simpleenroll with HTTP Basic); a device with an identity renews
//! (SCEP RenewalReq signed with it, EST /simplereenroll over mutual TLS with it). The images
//! renew at every boot: their [`RenewalPolicy`] makes a renewal due as soon as a certificate is
//! valid (a demo of the renewal path; a product renews at 80 % of the lifetime).
//!
//! A boot that is cut off mid-job (power loss, a killed emulator) leaves the job in the record
//! with its key: the next boot runs the same job with the same key (no new key is generated;
//! for SCEP the same transaction ID). `BOARD_HOLD_AT` builds an image that stops at a job's
//! start on a given boot (`est@1`: the EST job of boot 1) and waits there to be killed, which
//! is how CI cuts a boot off (`boards/reboot-test.sh`).
//!
//! Keys ([`BoardKeys`]): the EST profile's keys are P-256 keys in the flash's key slots 0 and 1
//! (generated on the device, NOT SECURE: see [`crate::flash`]); the SCEP profile's key is the
//! RSA-2048 key embedded at build time (micromdm accepts only RSA), in slot [`RSA_SLOT`]: the
//! way a device with a factory-provisioned key presents it (it is never generated here).

use crate::config;
use crate::flash::{Flash, KEY_SLOTS, NorFlash};
use crate::rng::NotSecureDemoRng;
use crate::{Hex, Platform, Protocol, elapsed_ms, println, show_certificate};
use core::cell::RefCell;
use embedded_enroll::UnixTime;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::NameAttribute;
use embedded_enroll::crypto::Digest;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{self, Clock, Decrypter, ErrorKind, KeySlots, KeyType, Signer, StateStore};
use embedded_enroll::lifecycle::runner::{Device, Event, Flow, JobKind, Runner, Settings, StaticMemory};
use embedded_enroll::lifecycle::{Auth, KeyPolicy, Profile, Protocol as Lc, RenewalPolicy, RolloverPolicy, Trust};
use embedded_enroll::scep::AlgorithmPolicy;
use embedded_enroll::time::{Duration, Instant};
use embedded_enroll::transport::TransportFailure;
use embedded_enroll::transport::blocking::{Network, Timer};
use embedded_enroll::transport::verify::ServerTrust;
use static_cell::{ConstStaticCell, StaticCell};

/// The key slot of the provisioned RSA-2048 key (the SCEP profile's key slot A).
pub const RSA_SLOT: u8 = 8;
/// The SCEP profile's key slots (B is never used: the profile keeps its key).
pub const SCEP_KEY_SLOTS: [u8; 2] = [RSA_SLOT, RSA_SLOT + 1];
/// The EST profile's key slots: flash key slots 0 and 1.
pub const EST_KEY_SLOTS: [u8; 2] = [0, 1];
/// The SCEP profile's state slots in flash.
pub const SCEP_STORE_SLOTS: [u8; 2] = [0, 1];
/// The EST profile's state slots in flash.
pub const EST_STORE_SLOTS: [u8; 2] = [2, 3];

/// Renewal as soon as a certificate is valid (the images renew at every boot), no jitter;
/// retries as the library's default.
pub const RENEW_EACH_BOOT: RenewalPolicy = RenewalPolicy {
    lifetime_percent: 0,
    before_expiry: Duration::from_secs(100 * 365 * 86_400),
    max_jitter: Duration::ZERO,
    ..RenewalPolicy::DEFAULT
};

/// What a profile's run did this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A first certificate is in use.
    Enrolled,
    /// A renewed certificate is in use.
    Renewed,
    /// Nothing was due.
    Unchanged,
    /// The run failed (printed why).
    Failed,
}

impl Outcome {
    /// A new certificate is in use.
    pub fn ok(self) -> bool {
        matches!(self, Outcome::Enrolled | Outcome::Renewed)
    }
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Outcome::Enrolled => "enrolled",
            Outcome::Renewed => "renewed",
            Outcome::Unchanged => "unchanged (nothing due)",
            Outcome::Failed => "FAILED",
        })
    }
}

/// The device's key slots: the flash's P-256 slots (0 to [`KEY_SLOTS`] - 1) and the
/// provisioned RSA-2048 key ([`RSA_SLOT`]).
pub struct BoardKeys<'k, 'f, F: NorFlash> {
    flash: &'k RefCell<&'f mut Flash<F>>,
    rsa: Option<&'k mut RsaPrivateKey2048>,
    /// The last P-256 key read from flash, with its slot (a static: [`P256_KEY`]). Reading one
    /// computes its public point, as costly as a signature: a job uses its key three or four
    /// times.
    loaded: &'k mut Option<(u8, SoftP256Key)>,
}

impl<F: NorFlash> BoardKeys<'_, '_, F> {
    fn rsa(&mut self, slot: u8) -> Result<&mut RsaPrivateKey2048, ErrorKind> {
        match (slot, self.rsa.as_deref_mut()) {
            (RSA_SLOT, Some(key)) => Ok(key),
            _ => Err(ErrorKind::NotFound),
        }
    }
}

// Each key operation in a frame of its own (stack): the RSA and the P-256 paths are never on
// the stack together, and none of them sits under the caller's other work.

/// The P-256 key in flash key slot `slot`, read once and kept in `loaded` for the next
/// operation on that slot. A frame of its own (stack).
#[inline(never)]
fn p256<'l, F: NorFlash>(
    flash: &RefCell<&mut Flash<F>>,
    loaded: &'l mut Option<(u8, SoftP256Key)>,
    slot: u8,
) -> Result<&'l mut SoftP256Key, ErrorKind> {
    if !matches!(loaded, Some((s, _)) if *s == slot) {
        *loaded = None;
        let read = flash.borrow_mut().load_p256(slot);
        match read {
            Ok(Some(key)) => *loaded = Some((slot, key)),
            Ok(None) => return Err(ErrorKind::NotFound),
            Err(e) => return Err(hal::Error::kind(&e)),
        }
    }
    loaded.as_mut().map(|(_, key)| key).ok_or(ErrorKind::NotFound)
}

#[inline(never)]
fn p256_public_key(key: &mut SoftP256Key, out: &mut [u8]) -> Result<usize, ErrorKind> {
    key.public_key_der(out).map_err(|e| hal::Error::kind(&e))
}

#[inline(never)]
fn p256_sign(key: &mut SoftP256Key, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
    key.sign_prehash(digest, out).map_err(|e| hal::Error::kind(&e))
}

#[inline(never)]
fn rsa_public_key(key: &mut RsaPrivateKey2048, out: &mut [u8]) -> Result<usize, ErrorKind> {
    key.public_key_der(out).map_err(|e| hal::Error::kind(&e))
}

#[inline(never)]
fn rsa_sign(key: &mut RsaPrivateKey2048, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
    key.sign_prehash(digest, out).map_err(|e| hal::Error::kind(&e))
}

impl<F: NorFlash> KeySlots for BoardKeys<'_, '_, F> {
    fn key_type(&self, slot: u8) -> Option<KeyType> {
        match slot {
            RSA_SLOT => self.rsa.as_ref().map(|_| KeyType::Rsa { bits: 2048 }),
            s if s < KEY_SLOTS => Some(KeyType::EcP256),
            _ => None,
        }
    }

    fn generate(&mut self, slot: u8, rng: &mut dyn rand_core::CryptoRngCore) -> Result<(), ErrorKind> {
        if slot >= KEY_SLOTS {
            // The RSA key is provisioned, not generated: "generating" it presents that key.
            println!("key: slot {} is the provisioned RSA-2048 key ({})", slot, config::SCEP_RSA_KEY_SOURCE);
            return self.rsa(slot).map(drop);
        }
        let mut rng = rng;
        *self.loaded = None;
        let generated = self.flash.borrow_mut().generate_p256(slot, &mut rng);
        *self.loaded = Some((slot, generated.map_err(|e| hal::Error::kind(&e))?));
        Ok(())
    }

    fn public_key_der(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        if slot >= KEY_SLOTS { rsa_public_key(self.rsa(slot)?, out) } else { p256_public_key(p256(self.flash, self.loaded, slot)?, out) }
    }

    fn sign(&mut self, slot: u8, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        if slot >= KEY_SLOTS {
            rsa_sign(self.rsa(slot)?, digest, out)
        } else {
            p256_sign(p256(self.flash, self.loaded, slot)?, digest, out)
        }
    }

    fn decrypt(&mut self, slot: u8, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), ErrorKind> {
        rsa_decrypt(self.rsa(slot)?, ciphertext, plaintext)
    }
}

/// The flash's state slots, next to [`BoardKeys`] on the same flash.
struct BoardStore<'k, 'f, F: NorFlash>(&'k RefCell<&'f mut Flash<F>>);

impl<F: NorFlash> hal::ErrorType for BoardStore<'_, '_, F> {
    type Error = <Flash<F> as hal::ErrorType>::Error;
}

impl<F: NorFlash> StateStore for BoardStore<'_, '_, F> {
    fn slots(&self) -> u8 {
        self.0.borrow().slots()
    }
    fn capacity(&self) -> usize {
        self.0.borrow().capacity()
    }
    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.borrow_mut().load(slot, out)
    }
    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), Self::Error> {
        self.0.borrow_mut().store(slot, record)
    }
}

/// Connections to the two servers the image was built for, through the board's link.
struct BoardNetwork<'p, P>(&'p mut P);

impl<P: Platform> Network for BoardNetwork<'_, P> {
    type Connector<'a>
        = P::Link<'a>
    where
        Self: 'a;

    fn connector(&mut self, server: &str) -> Result<P::Link<'_>, TransportFailure> {
        let server = [config::SCEP_SERVER, config::EST_SERVER].into_iter().find(|s| *s == server).ok_or(TransportFailure::Connect)?;
        Ok(self.0.link(server))
    }
}

/// Wall-clock time: the host's time at boot, advanced by the board's timer.
struct BoardClock<T> {
    wall: Option<UnixTime>,
    since: Instant,
    timer: T,
}

impl<T: Timer> Clock for BoardClock<T> {
    fn now(&mut self) -> Option<UnixTime> {
        let secs = i64::try_from(elapsed_ms(&mut self.timer, self.since) / 1000).unwrap_or(i64::MAX);
        self.wall.map(|w| UnixTime::from_secs(w.as_secs().saturating_add(secs)))
    }
}

/// The runner's buffers (74 276 bytes, about 72 KiB, in `.bss`), lent to one profile at a time.
static MEMORY: ConstStaticCell<StaticMemory> = ConstStaticCell::new(StaticMemory::new());

/// The P-256 key last used, read from flash ([`BoardKeys`]; a static: off the stack).
static P256_KEY: ConstStaticCell<Option<(u8, SoftP256Key)>> = ConstStaticCell::new(None);

/// The provisioned RSA key's storage (a static: the 2 KiB key stays off the stack).
static RSA_KEY: ConstStaticCell<Option<RsaPrivateKey2048>> = ConstStaticCell::new(None);

/// What the profiles share: the flash, the RSA key, the buffers.
pub struct Identities<'f, F: NorFlash> {
    flash: RefCell<&'f mut Flash<F>>,
    rsa: Option<&'static mut RsaPrivateKey2048>,
    p256: &'static mut Option<(u8, SoftP256Key)>,
    memory: &'static mut StaticMemory,
    boot: u32,
}

impl<'f, F: NorFlash> Identities<'f, F> {
    /// Takes the buffers and loads the provisioned RSA key (`None`, printed, if the statics
    /// were taken before).
    pub fn new(flash: &'f mut Flash<F>, rng: &mut NotSecureDemoRng, boot: u32) -> Option<Self> {
        let memory = MEMORY.try_take()?;
        let p256 = P256_KEY.try_take()?;
        let rsa = load_rsa(rng);
        Some(Self { flash: RefCell::new(flash), rsa, p256, memory, boot })
    }

    /// Restores the profile of `protocol` and runs it until a new identity is in use, a job
    /// fails or nothing is due.
    // A frame of its own: the two profiles' runners are never on the stack together.
    #[inline(never)]
    pub fn keep<P: Platform>(
        &mut self,
        protocol: Protocol,
        platform: &mut P,
        rng: &mut NotSecureDemoRng,
        wall: Option<UnixTime>,
    ) -> Outcome {
        let Some(profile) = profile(protocol, platform.name(), platform.path()) else { return Outcome::Failed };
        let timer = platform.timer();
        let mut clock_timer = platform.timer();
        let since = clock_timer.now();
        let device = Device {
            keys: BoardKeys { flash: &self.flash, rsa: self.rsa.as_deref_mut(), loaded: &mut *self.p256 },
            store: BoardStore(&self.flash),
            network: BoardNetwork(platform),
            clock: BoardClock { wall, since, timer: clock_timer },
            timer: timer.clone(),
            rng,
        };
        run_profile(protocol, profile, device, self.memory, self.boot, timer)
    }
}

/// A profile's subject and the profiles: statics, made once (a frame of its own makes them).
static SCEP_SUBJECT: StaticCell<[NameAttribute<'static>; 2]> = StaticCell::new();
static EST_SUBJECT: StaticCell<[NameAttribute<'static>; 1]> = StaticCell::new();
static SCEP_PROFILE: StaticCell<Profile<'static, Settings<'static>>> = StaticCell::new();
static EST_PROFILE: StaticCell<Profile<'static, Settings<'static>>> = StaticCell::new();

/// The profile of `protocol` for the board `name` (its requests' subject CN), printed with its
/// settings; `None` (printed) when the build lacks what it needs or it was made before.
#[inline(never)]
fn profile(protocol: Protocol, name: &'static str, path: &str) -> Option<&'static Profile<'static, Settings<'static>>> {
    let tls_anchor = config::EST_TLS_ANCHOR.unwrap_or_default();
    match protocol {
        Protocol::Scep => {
            println!("");
            println!("== SCEP identity: micromdm at {} (plain HTTP over {}) ==", config::SCEP_SERVER, path);
            let Some(fingerprint) = config::SCEP_CA_FINGERPRINT else {
                println!("SCEP: no CA fingerprint: build with SCEP_CA_FINGERPRINT=<SHA-256 hex of the CA certificate>");
                return None;
            };
            println!("CA pinned by SHA-256 fingerprint {}; key: provisioned RSA-2048 (same key at renewal)", Hex(&fingerprint));
            println!("SCEP policy: requests AES/SHA-256 when offered; replies in single DES accepted (micromdm sends them)");
            SCEP_PROFILE
                .try_init(Profile {
                    name: "scep",
                    protocol: Lc::Scep,
                    server: config::SCEP_SERVER,
                    key_slots: SCEP_KEY_SLOTS,
                    store_slots: SCEP_STORE_SLOTS,
                    trust: Trust::Fingerprint(fingerprint),
                    subject: SCEP_SUBJECT.try_init([NameAttribute::organization("embedded-enroll"), NameAttribute::common_name(name)])?,
                    alt_names: &[],
                    auth: Auth::Challenge(config::SCEP_CHALLENGE),
                    renewal: RENEW_EACH_BOOT,
                    keys: KeyPolicy::SameKey,
                    rollover: RolloverPolicy::DEFAULT,
                    extra: Settings { scep_policy: AlgorithmPolicy::DEFAULT.const_with_single_des(), ..Settings::DEFAULT },
                })
                .map(|p| &*p)
        }
        Protocol::Est => {
            println!("");
            println!(
                "== EST identity: est-ca at {} (TLS 1.3 over {}, server name {:?}) ==",
                config::EST_SERVER,
                path,
                config::EST_TLS_NAME
            );
            let (Some(_), Some(ca)) = (config::EST_TLS_ANCHOR, config::EST_CA) else {
                println!("EST: build with EST_TLS_CA=<the server's tls-ca.pem> and EST_CA=<the CA's ca.pem>");
                return None;
            };
            println!(
                "the certificates must chain to the EST CA embedded at build time (EST_CA); key: P-256 generated into flash key slot 0, kept at renewal"
            );
            EST_PROFILE
                .try_init(Profile {
                    name: "est",
                    protocol: Lc::Est,
                    server: config::EST_SERVER,
                    key_slots: EST_KEY_SLOTS,
                    store_slots: EST_STORE_SLOTS,
                    trust: Trust::Anchor(ca),
                    subject: EST_SUBJECT.try_init([NameAttribute::common_name(name)])?,
                    alt_names: &[],
                    auth: Auth::Basic { user: config::EST_USER, password: config::EST_PASSWORD },
                    renewal: RENEW_EACH_BOOT,
                    keys: KeyPolicy::SameKey,
                    rollover: RolloverPolicy::DEFAULT,
                    extra: Settings {
                        server_trust: ServerTrust::Anchor(tls_anchor),
                        tls_server_name: Some(config::EST_TLS_NAME),
                        // est-ca refuses line breaks in the base64 body.
                        est_one_line: true,
                        ..Settings::DEFAULT
                    },
                })
                .map(|p| &*p)
        }
    }
}

/// Loads the provisioned RSA key into [`RSA_KEY`], built in place (never a value on the
/// stack); `None` (printed) if it does not load.
#[inline(never)]
fn load_rsa(rng: &mut NotSecureDemoRng) -> Option<&'static mut RsaPrivateKey2048> {
    let slot = RSA_KEY.try_take()?;
    if RsaPrivateKey2048::load_pkcs1_der(slot, config::SCEP_RSA_KEY, rng).is_err()
        && let Err(e) = RsaPrivateKey2048::load_pkcs8_der(slot, config::SCEP_RSA_KEY, rng)
    {
        println!("key: the RSA key does not load (RSA-2048, PKCS#1 or PKCS#8 DER expected): {}", e);
    }
    slot.as_mut()
}

/// The profile's runner: restores, prints what it found, and runs until a new identity is in
/// use, a job fails or nothing is due. A frame of its own (stack).
#[inline(never)]
fn run_profile<K: KeySlots, S: StateStore, N: Network, C: Clock, T: Timer>(
    protocol: Protocol,
    profile: &Profile<'_, Settings<'_>>,
    device: Device<K, S, N, C, T, &mut NotSecureDemoRng>,
    memory: &mut StaticMemory,
    boot: u32,
    mut timer: T,
) -> Outcome {
    let label = match protocol {
        Protocol::Scep => "SCEP",
        Protocol::Est => "EST",
    };
    let mut made = None;
    let runner = match start(&mut made, profile, device, memory) {
        Ok(r) => r,
        Err(e) => {
            println!("[{}] the runner does not start: {}", label, e);
            return Outcome::Failed;
        }
    };
    print_restored(label, runner.manager());
    let since = timer.now();
    let mut outcome = Outcome::Unchanged;
    let mut kind = JobKind::Enroll;
    let result = runner.run(|event| on_event(label, protocol, boot, event, &mut outcome, &mut kind, &mut timer, since));
    if let Err(e) = result {
        println!("[{}] the runner stopped: {}", label, e);
        outcome = Outcome::Failed;
    }
    outcome
}

/// What the runner found in flash, printed. A frame of its own (stack).
#[inline(never)]
fn print_restored(label: &str, manager: &embedded_enroll::lifecycle::Manager<'_>) {
    let record = manager.record();
    match manager.identity() {
        Some((slot, der)) => {
            let serial = CertificateRef::parse(der).map(|c| c.serial()).unwrap_or_default();
            println!(
                "[{}] restored from flash: identity in key slot {:?}, certificate serial {}, renewal due {}",
                label,
                slot,
                Hex(serial),
                record.renew_at
            );
        }
        None if record.job.is_some() => {
            println!("[{}] restored from flash: no identity yet, a job in progress (an interrupted boot)", label)
        }
        None => println!("[{}] nothing in flash: a fresh device", label),
    }
}

/// The runner, made in `slot` (a frame of its own: `Runner::new`'s result is not part of the
/// frame that runs it).
#[inline(never)]
fn start<'s, 'r, K: KeySlots, S: StateStore, N: Network, C: Clock, T: Timer, R: rand_core::CryptoRngCore>(
    slot: &'s mut Option<Runner<'r, K, S, N, C, T, R>>,
    profile: &'r Profile<'r, Settings<'r>>,
    device: Device<K, S, N, C, T, R>,
    memory: &'r mut StaticMemory,
) -> Result<&'s mut Runner<'r, K, S, N, C, T, R>, embedded_enroll::lifecycle::runner::RunnerError> {
    Ok(slot.insert(Runner::new(profile, device, memory.memory())?))
}

/// Prints one runner event and decides what follows: stop once a new identity is in use, a
/// job failed or nothing is due; hold at a job's start when the build asks (`BOARD_HOLD_AT`).
#[allow(clippy::too_many_arguments)]
fn on_event<T: Timer>(
    label: &str,
    protocol: Protocol,
    boot: u32,
    event: &Event<'_>,
    outcome: &mut Outcome,
    kind: &mut JobKind,
    timer: &mut T,
    since: Instant,
) -> Flow {
    let t = elapsed_ms(timer, since);
    match event {
        Event::KeyGenerated(slot) => println!("[{}] [{:>6} ms] key generated in key slot {:?}", label, t, slot),
        Event::JobStarted { kind: k, key, resumed, spki_hash } => {
            *kind = *k;
            match spki_hash {
                Some(h) => println!("[{}] [{:>6} ms] job: {:?} for key slot {:?}, key SPKI SHA-256 {}", label, t, k, key, Hex(h)),
                None => println!("[{}] [{:>6} ms] job: {:?} for key slot {:?} (the key in use)", label, t, k, key),
            }
            if *resumed {
                println!("[{}] [{:>6} ms] resuming the PENDING transaction kept in flash", label, t);
            }
            if config::HOLD_AT == Some((protocol == Protocol::Est, boot)) {
                hold(label, timer);
            }
        }
        Event::Progress(p) => crate::print_progress(t, p),
        Event::Pending { transaction_id, attempts, .. } => {
            println!("[{}] [{:>6} ms] PENDING (transaction {}, poll {}): persisted", label, t, transaction_id, attempts)
        }
        Event::Issued(der) => show_certificate("issued certificate", der),
        Event::JobFailed(why) => {
            println!("[{}] [{:>6} ms] job failed: {}", label, t, why);
            *outcome = Outcome::Failed;
            return Flow::Stop;
        }
        Event::Stored { slot, ok } => {
            println!("[{}] [{:>6} ms] record {} flash state slot {}", label, t, if *ok { "stored in" } else { "NOT stored in" }, slot)
        }
        Event::Activated { slot, .. } => {
            *outcome = if *kind == JobKind::Enroll { Outcome::Enrolled } else { Outcome::Renewed };
            println!("[{}] [{:>6} ms] identity in use: key slot {:?} ({})", label, t, slot, outcome);
            return Flow::Stop;
        }
        Event::Report(r) => println!("[{}] [{:>6} ms] report: {:?}", label, t, r),
        Event::Sleeping(d) => {
            println!("[{}] [{:>6} ms] nothing due for {} s", label, t, d.as_secs());
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// The `BOARD_HOLD_AT` point: the job is persisted and has not begun; wait to be killed.
fn hold<T: Timer>(label: &str, timer: &mut T) -> ! {
    println!("HOLD: [{}] the job is persisted and not begun; waiting to be killed (BOARD_HOLD_AT)", label);
    loop {
        let later = timer.now().saturating_add(Duration::from_secs(1));
        timer.sleep_until(later);
    }
}

#[inline(never)]
fn rsa_decrypt(key: &mut RsaPrivateKey2048, ciphertext: &[u8], plaintext: &mut [u8]) -> Result<(), ErrorKind> {
    key.decrypt_pkcs1v15(ciphertext, plaintext).map_err(|e| hal::Error::kind(&e))
}
