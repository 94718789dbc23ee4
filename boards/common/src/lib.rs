//! What the embedded-enroll QEMU board images share: the SCEP and EST enrollment runs (generic
//! over the board's link to the servers and its clock), the build-time settings, the NOT
//! SECURE demo RNG, the persistent layout on the board's flash ([`flash`]), the console and
//! the certificate printout.
//!
//! A board provides a [`Platform`] (a [`Connect`] per server and a [`Timer`]), installs its
//! console with [`console::set`], and calls [`run`]. `#![no_std]`, no allocator: the buffers
//! are statics taken once ([`static_cell::ConstStaticCell`]), so they show in `.bss`.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod console;
pub mod est_phase;
pub mod flash;
pub mod log;
pub mod rng;
pub mod scep_phase;
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
    /// This boot's number from the board's flash ([`flash::Flash::next_boot`]), if it keeps one:
    /// the NOT SECURE demo RNG's stream ([`rng::NotSecureDemoRng::for_boot`]), so consecutive
    /// boots of one image do not draw the same keys and nonces.
    fn boot_count(&self) -> Option<u32> {
        None
    }
    /// Called before each protocol's run ([`Protocol`]); a board may start measuring here.
    fn begin(&mut self, _protocol: Protocol) {}
    /// Called after each protocol's run.
    fn end(&mut self, _protocol: Protocol) {}
}

/// The two runs of [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SCEP PKCSReq + RenewalReq.
    Scep,
    /// EST /simpleenroll + /simplereenroll.
    Est,
}

/// The verdict of one run: each protocol's result and duration.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// SCEP PKCSReq and RenewalReq both issued a certificate.
    pub scep: bool,
    /// Milliseconds the SCEP run took.
    pub scep_ms: u64,
    /// EST /simpleenroll and /simplereenroll both issued a certificate.
    pub est: bool,
    /// Milliseconds the EST run took.
    pub est_ms: u64,
}

impl Verdict {
    /// All four enrollments succeeded.
    pub fn passed(&self) -> bool {
        self.scep && self.est
    }
}

/// Runs SCEP (PKCSReq + RenewalReq against micromdm) then EST (simpleenroll + simplereenroll
/// against est-ca over TLS 1.3), prints a summary and returns the verdict. The library's log
/// lines (level info and up) are printed on the console as they come ([`log::init`]).
pub fn run<P: Platform>(platform: &mut P, wall: Option<UnixTime>) -> Verdict {
    crate::log::init();
    let boot = platform.boot_count();
    match boot {
        Some(n) => println!(
            "RNG: NOT SECURE - deterministic ChaCha20 seeded at build time from {}, stream {} (the boot counter in flash) (emulator demo only)",
            config::RNG_SEED_SOURCE,
            n
        ),
        None => println!(
            "RNG: NOT SECURE - deterministic ChaCha20 seeded at build time from {}, stream 0 (no boot counter: every boot repeats it) (emulator demo only)",
            config::RNG_SEED_SOURCE
        ),
    }
    match wall {
        Some(t) => println!("wall clock: {t} (from the host)"),
        None => println!("wall clock: unknown (certificate validity not checked)"),
    }
    let mut rng = rng::NotSecureDemoRng::for_boot(config::RNG_SEED, boot.unwrap_or(0));
    let mut timer = platform.timer();

    let started = timer.now();
    platform.begin(Protocol::Scep);
    let scep = scep_phase::run(platform, &mut rng, wall);
    platform.end(Protocol::Scep);
    let scep_ms = elapsed_ms(&mut timer, started);
    let est_started = timer.now();
    platform.begin(Protocol::Est);
    let est = est_phase::run(platform, &mut rng, wall);
    platform.end(Protocol::Est);
    let est_ms = elapsed_ms(&mut timer, est_started);

    println!("");
    println!("summary:");
    println!("  SCEP PKCSReq + RenewalReq:          {} ({} ms)", verdict(scep), scep_ms);
    println!("  EST simpleenroll + simplereenroll:  {} ({} ms)", verdict(est), est_ms);
    Verdict { scep, scep_ms, est, est_ms }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAILED" }
}

/// Milliseconds on `timer` since `since`.
pub fn elapsed_ms<T: Timer>(timer: &mut T, since: Instant) -> u64 {
    timer.now().saturating_duration_since(since).as_millis()
}

/// A driver's result as one sentence: the outcome, or why the driver stopped.
pub struct Said<'a, T, E>(pub &'a Result<T, E>);

impl<T: core::fmt::Display, E: core::fmt::Display> core::fmt::Display for Said<'_, T, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(outcome) => outcome.fmt(f),
            Err(e) => e.fmt(f),
        }
    }
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

/// Progress lines from the blocking drivers, with the milliseconds since the call.
pub fn progress<T: Timer>(mut timer: T) -> impl FnMut(Progress<'_>) {
    let since = timer.now();
    move |p| {
        let t = elapsed_ms(&mut timer, since);
        match p {
            Progress::Request(line) => println!("  [{:>6} ms] -> {}", t, line),
            Progress::Response(n) => println!("  [{:>6} ms] <- {} bytes", t, n),
            Progress::KeyOperation(op) => println!("  [{:>6} ms]    device key: {}", t, op),
            Progress::Waiting { ms, .. } => println!("  [{:>6} ms]    waiting {} ms", t, ms),
            Progress::TransportError(why) => println!("  [{:>6} ms]    transport error: {}", t, why),
            Progress::DeadlineExceeded { ms } => println!("  [{:>6} ms]    exchange abandoned at its deadline ({} ms)", t, ms),
        }
    }
}
