//! What the embedded-enroll QEMU board images share: the two identities the library's
//! lifecycle runner keeps across reboots ([`identity`]: SCEP with micromdm, EST with est-ca,
//! generic over the board's link to the servers and its clock), the build-time settings, the
//! NOT SECURE demo RNG, the persistent layout on the board's flash ([`flash`]), the console,
//! the library's log lines ([`log`]) and the certificate printout.
//!
//! A board provides a [`Platform`] (a [`Connect`] per server and a [`Timer`]) and its flash,
//! installs its console with [`console::set`], and calls [`run`] with the boot number
//! ([`flash::start`]). `#![no_std]`, no allocator: the buffers
//! are statics taken once ([`static_cell::ConstStaticCell`]), so they show in `.bss`.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod console;
pub mod flash;
pub mod identity;
pub mod log;
pub mod rng;
pub mod stack;

use embedded_enroll::UnixTime;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::{Connect, Progress, Timer};

/// What a board gives the enrollment runs.
pub trait Platform {
    /// Connections to one server.
    type Link<'a>: Connect
    where
        Self: 'a;
    /// The drivers' clock.
    type Timer: Timer + Clone;
    /// Connections to `server` (`host:port` as configured at build time, e.g. `127.0.0.1:18190`:
    /// the board maps it to what its network reaches).
    fn link(&mut self, server: &'static str) -> Self::Link<'_>;
    /// The clock.
    fn timer(&self) -> Self::Timer;
    /// The board's name: the subject CN of the requests.
    fn name(&self) -> &'static str;
    /// How the bytes travel, for the console (e.g. "UART0 and the host relay").
    fn path(&self) -> &'static str;
    /// Called before each protocol's run ([`Protocol`]); a board may start measuring here.
    fn begin(&mut self, _protocol: Protocol) {}
    /// Called after each protocol's run.
    fn end(&mut self, _protocol: Protocol) {}
}

/// The two identities of [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SCEP with micromdm.
    Scep,
    /// EST with est-ca.
    Est,
}

/// What one boot did: each profile's outcome and duration.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// The SCEP identity.
    pub scep: identity::Outcome,
    /// Milliseconds the SCEP profile took.
    pub scep_ms: u64,
    /// The EST identity.
    pub est: identity::Outcome,
    /// Milliseconds the EST profile took.
    pub est_ms: u64,
}

impl Verdict {
    /// Both profiles have a new certificate in use (enrolled or renewed this boot).
    pub fn passed(&self) -> bool {
        self.scep.ok() && self.est.ok()
    }
}

/// The demo generator of [`run`].
static RNG: static_cell::StaticCell<rng::NotSecureDemoRng> = static_cell::StaticCell::new();

/// Keeps the SCEP identity (micromdm) then the EST identity (est-ca over TLS 1.3) with the
/// library's lifecycle runner, their records and keys in `flash` ([`identity`]): a fresh
/// device enrolls, a device with identities renews them, a boot cut off mid-job finishes that
/// job. Prints a summary and returns the verdict. The library's log lines (level info and up)
/// are printed on the console as they come ([`log::init`]).
pub fn run<P: Platform, F: flash::NorFlash>(platform: &mut P, flash: &mut flash::Flash<F>, boot: u32, wall: Option<UnixTime>) -> Verdict {
    crate::log::init();
    println!(
        "RNG: NOT SECURE - deterministic ChaCha20 seeded at build time from {}, stream {} (the boot counter in flash) (emulator demo only)",
        config::RNG_SEED_SOURCE,
        boot
    );
    match wall {
        Some(t) => println!("wall clock: {t} (from the host)"),
        None => println!("wall clock: unknown (certificate validity not checked)"),
    }
    let mut timer = platform.timer();
    let failed = Verdict { scep: identity::Outcome::Failed, scep_ms: 0, est: identity::Outcome::Failed, est_ms: 0 };
    // The generator in a static (its 300 bytes are not under every enrollment's stack).
    let Some(rng) = RNG.try_init(rng::NotSecureDemoRng::for_boot(config::RNG_SEED, boot)) else {
        println!("the generator is already in use");
        return failed;
    };
    let Some(mut ids) = identity::Identities::new(flash, rng, boot) else {
        println!("the runner's buffers are already in use");
        return failed;
    };

    let started = timer.now();
    platform.begin(Protocol::Scep);
    let scep = ids.keep(Protocol::Scep, platform, rng, wall);
    platform.end(Protocol::Scep);
    let scep_ms = elapsed_ms(&mut timer, started);
    let est_started = timer.now();
    platform.begin(Protocol::Est);
    let est = ids.keep(Protocol::Est, platform, rng, wall);
    platform.end(Protocol::Est);
    let est_ms = elapsed_ms(&mut timer, est_started);

    println!("");
    println!("summary (boot {}):", boot);
    println!("  SCEP identity (micromdm):  {} ({} ms)", scep, scep_ms);
    println!("  EST identity (est-ca):     {} ({} ms)", est, est_ms);
    Verdict { scep, scep_ms, est, est_ms }
}

/// Milliseconds on `timer` since `since`.
pub fn elapsed_ms<T: Timer>(timer: &mut T, since: Instant) -> u64 {
    timer.now().saturating_duration_since(since).as_millis()
}

/// Bytes as colon-separated hex.
pub struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Prints an issued certificate: subject, issuer, serial, SHA-256 fingerprint, validity.
pub fn show_certificate(what: &str, der: &[u8]) {
    match CertificateRef::parse(der) {
        Ok(c) => {
            println!("{}:", what);
            println!("  subject:     {}", c.subject());
            println!("  issuer:      {}", c.issuer());
            println!("  serial:      {}", Hex(c.serial()));
            println!("  SHA-256:     {}", Hex(&c.fingerprint_sha256()));
            println!("  valid:       {} .. {}", c.not_before(), c.not_after());
            println!("  DER length:  {} bytes", der.len());
        }
        Err(e) => println!("{}: the certificate does not parse: {}", what, e),
    }
}

/// Prints one progress line from the blocking drivers, `t` milliseconds into the run.
pub fn print_progress(t: u64, p: &Progress<'_>) {
    match p {
        Progress::Request(line) => println!("  [{:>6} ms] -> {}", t, line),
        Progress::Response(n) => println!("  [{:>6} ms] <- {} bytes", t, n),
        Progress::KeyOperation(op) => println!("  [{:>6} ms]    device key: {}", t, op),
        Progress::Waiting { ms, .. } => println!("  [{:>6} ms]    waiting {} ms", t, ms),
        Progress::TransportError(why) => println!("  [{:>6} ms]    transport error: {}", t, why),
        Progress::DeadlineExceeded { ms } => println!("  [{:>6} ms]    exchange abandoned at its deadline ({} ms)", t, ms),
    }
}
