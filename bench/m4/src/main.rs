//! Cortex-M4F benchmark of embedded-enroll's crypto operations, run in QEMU (mps2-an386) under
//! `-icount shift=0` by `bench/run.sh`: for each operation, the instructions it executes and
//! the stack it needs, with its result checked against what OpenSSL made (`keys/`).
//!
//! - Instructions: under `-icount shift=0` QEMU runs one instruction per nanosecond of virtual
//!   time, and the timers tick at the 25 MHz system clock, so one tick is 40 instructions. The
//!   count comes from the 32-bit CMSDK APB timer 0 (no interrupt, wraps after 171 G
//!   instructions); SysTick (24 bits, wraps after 671 M instructions) is read beside it as a
//!   cross-check. The image first times loops of a known instruction count (inline assembly)
//!   so that the 40 is measured, not assumed.
//! - Peak stack: the free RAM below the caller's frame is painted before the operation and the
//!   deepest overwritten word found after it: the stack the call itself needs.
//! - Code size is not measured here: `bench/run.sh` builds one image per operation (the cargo
//!   features) and a baseline with none, and compares their `.text`.
//!
//! Keys, digest and output buffers are set up before the measured call; key parsing is not
//! counted. Each result is checked after the call (the RSA signature equals OpenSSL's, the P-256
//! signature equals the RFC 6979 one, both verifications accept the signature and reject a
//! corrupted one, the decryption returns the CEK), so a broken operation cannot report a time.
//!
//! Output (semihosting), checked and tabulated by `bench/report.py`:
//!
//! ```text
//! bench: overhead empty n=0 timer0=<ticks> systick=<ticks mod 2^24> stack=<bytes>
//! bench: calibration spin n=<instructions> timer0=<ticks> systick=<ticks mod 2^24> stack=<bytes>
//! bench: op <name> n=0 timer0=<ticks> systick=<ticks mod 2^24> stack=<bytes>
//! bench: done
//! ```
#![no_std]
#![no_main]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

/// CMSDK APB timer 0 of mps2-an386 (CTRL, VALUE, RELOAD), clocked at the 25 MHz PCLK.
const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;
/// SysTick current value register (the `cortex-m` peripheral API sets the counter up).
const SYST_CVR: *const u32 = 0xE000_E018 as *const u32;
const SYST_MASK: u32 = 0x00FF_FFFF;
const PAINT: u32 = 0x5AFE_C0DE;
/// Left unpainted below the stack pointer of `measure` (its own frame is above it).
const MARGIN: usize = 64;

unsafe extern "C" {
    static _stack_start: u32;
    static __sheap: u32;
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("bench: PANIC: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!("bench: HARD FAULT at pc={:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail(what: &str) -> ! {
    fail_with(what, "")
}

fn fail_with(what: &str, err: impl core::fmt::Debug) -> ! {
    hprintln!("bench: FAILED: {} {:?}", what, err);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Both timers' counters (both count down).
#[inline(always)]
fn stamp() -> (u32, u32) {
    // SAFETY: reads of two memory-mapped timer registers.
    unsafe { (core::ptr::read_volatile(TIMER0_VALUE), core::ptr::read_volatile(SYST_CVR)) }
}

struct Sample {
    timer0: u32,
    systick: u32,
    stack: usize,
}

/// Runs `op` once: the ticks of both timers across the call and the stack it used below the
/// frame of this function. Not inlined, and `op` is called through a `dyn` pointer hidden
/// from the optimizer, so the operation's frames are all below the painted line.
#[inline(never)]
fn measure(op: &mut dyn FnMut()) -> Sample {
    let low = (&raw const __sheap) as usize;
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (low + 3) & !3;
    while p + 4 <= sp - MARGIN {
        // SAFETY: free RAM between the end of .bss and the live frames (MARGIN below the
        // stack pointer of this function); no object lives there.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    let op = core::hint::black_box(op);
    let (t0, s0) = stamp();
    op();
    let (t1, s1) = stamp();
    let mut p = (low + 3) & !3;
    // SAFETY: aligned reads of the same free RAM.
    while p < sp && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    if p <= low + 4 {
        fail("the operation used all the free RAM (stack measurement saturated)");
    }
    Sample { timer0: t0.wrapping_sub(t1), systick: s0.wrapping_sub(s1) & SYST_MASK, stack: sp - p }
}

/// `2 * n` instructions exactly (`n >= 1`): a subtract-and-branch loop.
#[inline(always)]
fn spin(n: u32) {
    // SAFETY: register-only loop.
    unsafe {
        core::arch::asm!("1:", "subs {0}, {0}, #1", "bne 1b", inout(reg) n => _, options(nomem, nostack));
    }
}

/// One output line: `bench: <kind> <name> n=<instructions of a calibration loop, else 0>
/// timer0=<ticks> systick=<ticks mod 2^24> stack=<bytes>`.
fn report(kind: &str, name: &str, n: u64, s: &Sample) {
    hprintln!("bench: {} {} n={} timer0={} systick={} stack={}", kind, name, n, s.timer0, s.systick, s.stack);
}

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals taken"));
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(SYST_MASK);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();
    // SAFETY: the CMSDK timer's registers; free-running down from 2^32 - 1, no interrupt.
    unsafe {
        core::ptr::write_volatile(TIMER0_CTRL, 0);
        core::ptr::write_volatile(TIMER0_RELOAD, u32::MAX);
        core::ptr::write_volatile(TIMER0_VALUE, u32::MAX);
        core::ptr::write_volatile(TIMER0_CTRL, 1);
    }

    // Calibration: the cost of an empty measurement, then loops of known length (the last
    // one longer than SysTick's 2^24-tick period: the 32-bit timer keeps counting).
    let empty = measure(&mut || {});
    report("overhead", "empty", 0, &empty);
    for n in [500_000u32, 5_000_000, 50_000_000, 350_000_000] {
        let n = core::hint::black_box(n);
        let s = measure(&mut || spin(n));
        report("calibration", "spin", 2 * u64::from(n), &s);
    }

    #[cfg(feature = "rsa-sign")]
    ops::rsa_sign();
    #[cfg(feature = "rsa-verify")]
    ops::rsa_verify();
    #[cfg(feature = "rsa-decrypt")]
    ops::rsa_decrypt();
    #[cfg(feature = "p256-sign")]
    ops::p256_sign();
    #[cfg(feature = "p256-verify")]
    ops::p256_verify();

    hprintln!("bench: done");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

/// One function per operation (not inlined, so their keys do not share one frame): set up,
/// measure the call, check the result.
#[allow(dead_code)]
mod ops {
    use super::{fail, fail_with, measure, report};
    use embedded_enroll::crypto::{Digest, HashAlgorithm};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;

    const MSG_SHA256: &[u8; 32] = include_bytes!("../keys/msg.sha256");
    const RSA_PK8: &[u8] = include_bytes!("../keys/rsa2048.pk8.der");
    const RSA_PUB: &[u8] = include_bytes!("../keys/rsa2048.pub.pkcs1.der");
    const RSA_SIG: &[u8; 256] = include_bytes!("../keys/msg.rsa2048.sig");
    const CEK: &[u8; 32] = include_bytes!("../keys/cek.bin");
    const CEK_RSA: &[u8; 256] = include_bytes!("../keys/cek.rsa2048.bin");
    const P256_PK8: &[u8] = include_bytes!("../keys/p256.pk8.der");
    const P256_SPKI: &[u8; 91] = include_bytes!("../keys/p256.spki.der");
    const P256_SIG_DER: &[u8] = include_bytes!("../keys/msg.p256.sig.der");
    const P256_RFC6979: &[u8; 64] = include_bytes!("../keys/msg.p256-rfc6979.raw");

    fn digest() -> Digest {
        Digest::from_bytes(HashAlgorithm::Sha256, MSG_SHA256).unwrap_or_else(|e| fail_with("digest", e))
    }

    fn rsa_key() -> embedded_enroll::hal::soft::SoftRsaKey2048 {
        // The blinding seed: any fixed value (results do not depend on it).
        let mut rng = ChaCha20Rng::seed_from_u64(0x6265_6e63_686d_3400);
        embedded_enroll::hal::soft::SoftRsaKey2048::from_pkcs8_der(RSA_PK8, &mut rng).unwrap_or_else(|e| fail_with("RSA key", e))
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 with the soft RSA-2048 key through the HAL `Signer`.
    #[inline(never)]
    pub fn rsa_sign() {
        use embedded_enroll::hal::Signer;
        let mut key = rsa_key();
        let digest = digest();
        let mut sig = [0u8; 256];
        let mut res = Ok(0);
        let s = measure(&mut || res = key.sign_prehash(&digest, &mut sig));
        let len = res.unwrap_or_else(|e| fail_with("rsa2048-sign", e));
        if len != sig.len() || sig != *RSA_SIG {
            fail("rsa2048-sign: the signature is not the one OpenSSL made");
        }
        report("op", "rsa2048-sign", 0, &s);
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 verification, e = 65537.
    #[inline(never)]
    pub fn rsa_verify() {
        let key = embedded_enroll::crypto::rsa::RsaPublicKey::from_pkcs1_der(RSA_PUB).unwrap_or_else(|e| fail_with("RSA public key", e));
        let mut res = Ok(());
        let s = measure(&mut || res = key.verify_pkcs1v15(HashAlgorithm::Sha256, MSG_SHA256, RSA_SIG));
        res.unwrap_or_else(|e| fail_with("rsa2048-verify", e));
        let mut bad = *RSA_SIG;
        bad[128] ^= 0x01;
        if key.verify_pkcs1v15(HashAlgorithm::Sha256, MSG_SHA256, &bad).is_ok() {
            fail("rsa2048-verify: a corrupted signature was accepted");
        }
        report("op", "rsa2048-verify", 0, &s);
    }

    /// RSAES-PKCS1-v1_5 decryption of a 32-byte CEK (implicit rejection) through the HAL
    /// `Decrypter`.
    #[inline(never)]
    pub fn rsa_decrypt() {
        use embedded_enroll::hal::Decrypter;
        let mut key = rsa_key();
        let mut cek = [0u8; 32];
        let mut res = Ok(());
        let s = measure(&mut || res = key.decrypt_pkcs1v15(CEK_RSA, &mut cek));
        res.unwrap_or_else(|e| fail_with("rsa2048-decrypt", e));
        if cek != *CEK {
            fail("rsa2048-decrypt: the CEK is not the one OpenSSL encrypted");
        }
        report("op", "rsa2048-decrypt", 0, &s);
    }

    /// ECDSA P-256 over a SHA-256 digest with the soft key through the HAL `Signer`
    /// (deterministic, RFC 6979).
    #[inline(never)]
    pub fn p256_sign() {
        use embedded_enroll::hal::Signer;
        let mut key = embedded_enroll::hal::soft::SoftP256Key::from_pkcs8_der(P256_PK8).unwrap_or_else(|e| fail_with("P-256 key", e));
        let digest = digest();
        let mut sig = [0u8; 64];
        let mut res = Ok(0);
        let s = measure(&mut || res = key.sign_prehash(&digest, &mut sig));
        let len = res.unwrap_or_else(|e| fail_with("p256-sign", e));
        if len != sig.len() || sig != *P256_RFC6979 {
            fail("p256-sign: the signature is not the RFC 6979 one (keys/rfc6979.py, checked by OpenSSL)");
        }
        report("op", "p256-sign", 0, &s);
    }

    /// ECDSA P-256 verification of OpenSSL's DER signature over a SHA-256 digest.
    #[inline(never)]
    pub fn p256_verify() {
        let point = &P256_SPKI[P256_SPKI.len() - 65..];
        let mut res = Ok(());
        let s = measure(&mut || res = embedded_enroll::crypto::p256::verify_prehash(point, MSG_SHA256, P256_SIG_DER));
        res.unwrap_or_else(|e| fail_with("p256-verify", e));
        let mut bad = *MSG_SHA256;
        bad[0] ^= 0x01;
        if embedded_enroll::crypto::p256::verify_prehash(point, &bad, P256_SIG_DER).is_ok() {
            fail("p256-verify: a signature over another digest was accepted");
        }
        report("op", "p256-verify", 0, &s);
    }
}
