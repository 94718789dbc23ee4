//! embedded-enroll on QEMU `mps2-an386` (Cortex-M4F): one run enrolls over SCEP and over
//! EST, with every byte of network traffic on the emulated UART0 and a host relay
//! (`boards/relay.py`) carrying it to the servers on 127.0.0.1.
//!
//! 1. SCEP (micromdm): GetCACaps, GetCACert pinned by the CA's SHA-256 fingerprint, PKCSReq
//!    with an RSA-2048 device key (embedded at build time), then a RenewalReq signed with
//!    the issued certificate.
//! 2. EST (est-ca), TLS 1.3 through the crate's embedded-tls connector with the TLS trust
//!    anchor embedded at build time: /simpleenroll (Basic auth) with a P-256 key generated
//!    here, then /simplereenroll authenticated by the issued certificate (TLS client auth).
//!
//! Console output and the verdict go through semihosting: exit status 0 only if all four
//! enrollments succeeded. `#![no_std]`, no allocator: every buffer is a static.
//!
//! The RNG is a NOT-SECURE deterministic generator seeded at build time (see `rng.rs`).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod clock;
mod config;
mod est_phase;
mod hw;
mod rng;
mod scep_phase;
mod uart_link;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embedded_enroll::UnixTime;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::transport::blocking::Progress;

/// SYSCLK of the MPS2 FPGA images (the core and the APB peripherals).
const SYSCLK_HZ: u32 = 25_000_000;
/// UART0 baud rate (QEMU does not pace the line; this only sets BAUDDIV validly).
const BAUD: u32 = 115_200;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("PANIC: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let Some(core) = cortex_m::Peripherals::take() else { fail("core peripherals already taken") };
    clock::start(core.SYST, SYSCLK_HZ);
    let Some(mut uart) = hw::Uart0::take(SYSCLK_HZ, BAUD) else { fail("UART0 already taken") };

    hprintln!("embedded-enroll board image: QEMU mps2-an386 (Cortex-M4F), no_std, no allocator");
    hprintln!("RNG: NOT SECURE - deterministic ChaCha20 seeded at build time from {} (emulator demo only)", config::RNG_SEED_SOURCE);
    let wall = hw::host_unix_time().map(|s| UnixTime::from_secs(s as i64));
    match wall {
        Some(t) => hprintln!("wall clock: {} (Unix time, from the host via semihosting SYS_TIME)", t.as_secs()),
        None => hprintln!("wall clock: unknown (certificate validity not checked)"),
    }
    let mut rng = rng::NotSecureDemoRng::from_seed(config::RNG_SEED);

    let started = clock::now_ms();
    let scep = scep_phase::run(&mut uart, &mut rng, wall);
    let scep_ms = clock::elapsed_ms(started);
    let est_started = clock::now_ms();
    let est = est_phase::run(&mut uart, &mut rng, wall);
    let est_ms = clock::elapsed_ms(est_started);

    hprintln!("");
    hprintln!("summary:");
    hprintln!("  SCEP PKCSReq + RenewalReq:          {} ({} ms)", verdict(scep), scep_ms);
    hprintln!("  EST simpleenroll + simplereenroll:  {} ({} ms)", verdict(est), est_ms);
    if scep && est {
        hprintln!("RESULT: PASS (all four enrollments succeeded)");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("RESULT: FAIL");
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAILED" }
}

/// Prints `why` and ends the run with a failure.
fn fail(why: &str) -> ! {
    hprintln!("FATAL: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
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
            hprintln!("{}:", what);
            hprintln!("  subject:     {}", c.subject());
            hprintln!("  issuer:      {}", c.issuer());
            hprintln!("  serial:      {}", Hex(c.serial()));
            hprintln!("  SHA-256:     {}", Hex(&c.fingerprint_sha256()));
            hprintln!("  valid:       {} .. {} (Unix time)", c.not_before().as_secs(), c.not_after().as_secs());
            hprintln!("  DER length:  {} bytes", der.len());
        }
        Err(e) => hprintln!("{}: the certificate does not parse: {}", what, e),
    }
}

/// Progress lines from the blocking drivers, with the milliseconds since `since`.
pub fn progress(since: u32) -> impl FnMut(Progress<'_>) {
    move |p| {
        let t = clock::elapsed_ms(since);
        match p {
            Progress::Request(line) => hprintln!("  [{:>6} ms] -> {}", t, line),
            Progress::Response(n) => hprintln!("  [{:>6} ms] <- {} bytes", t, n),
            Progress::KeyOperation(op) => hprintln!("  [{:>6} ms]    device key: {}", t, op),
            Progress::Waiting { ms, .. } => hprintln!("  [{:>6} ms]    waiting {} ms", t, ms),
            Progress::TransportError => hprintln!("  [{:>6} ms]    transport error", t),
        }
    }
}
