//! Replays fuzz inputs on a 32-bit Cortex-M4F (QEMU mps2-an386): every input of one fuzz
//! target, through the same property checks as `cargo fuzz` (`embedded-enroll-fuzz-bodies`),
//! compiled for thumbv7em with overflow checks and debug assertions on, and the stack
//! measured by painting before each input.
//!
//! The inputs come as a bundle that QEMU's generic loader places at [`BUNDLE_ADDR`]
//! (`fuzz/replay32/bundle.py` writes it):
//!
//! ```text
//! "EER1" | name_len: u8 | target name | count: u32 LE | count x (len: u32 LE | bytes)
//! ```
//!
//! Output (semihosting): one line per target with the number of inputs and the peak stack
//! (the deepest input and its length); exit status 0 when every input ran to its end. A
//! panic (a violated property, an arithmetic overflow, an out-of-bounds index) or a fault
//! prints the target and input number and exits with status 1.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use embedded_enroll_fuzz_bodies::TARGETS;

/// Where QEMU's loader puts the bundle (see memory.x): 3.5 MiB up to the end of SSRAM2.
const BUNDLE_ADDR: usize = 0x2008_0000;
const BUNDLE_MAX: usize = 0x0038_0000;
/// The part of the stack painted before each input: deeper use is reported as "at least".
const PAINTED: usize = 192 * 1024;
/// Left unpainted below the stack pointer of `main` (the painting loop's own frame).
const MARGIN: usize = 256;
const PAINT: u32 = 0x5AFE_C0DE;

/// Which input is running, for the panic and fault messages.
static CURRENT: AtomicU32 = AtomicU32::new(u32::MAX);

unsafe extern "C" {
    static _stack_start: u32;
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("replay32: PANIC at input #{}: {}", CURRENT.load(Ordering::Relaxed), info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    hprintln!(
        "replay32: HARD FAULT at input #{} (pc={:#010x}; a stack overflow past the RAM bottom ends here)",
        CURRENT.load(Ordering::Relaxed),
        frame.pc()
    );
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

fn fail(what: &str) -> ! {
    hprintln!("replay32: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// The bundle as a byte slice (QEMU wrote it before the core started).
fn bundle() -> &'static [u8] {
    // SAFETY: [BUNDLE_ADDR, BUNDLE_ADDR + BUNDLE_MAX) is RAM that no Rust object occupies
    // (memory.x gives the program only the 512 KiB below it), loaded before reset and never
    // written while the program runs.
    unsafe { core::slice::from_raw_parts(BUNDLE_ADDR as *const u8, BUNDLE_MAX) }
}

/// Little reader over the bundle; every read is bounds-checked.
struct Reader {
    data: &'static [u8],
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> &'static [u8] {
        let end = self.at.saturating_add(n);
        let Some(s) = self.data.get(self.at..end) else { fail("bundle truncated") };
        self.at = end;
        s
    }
    fn u32(&mut self) -> u32 {
        let b = self.take(4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Paints `[low, high)` (word-aligned) with [`PAINT`].
fn paint(low: usize, high: usize) {
    let mut p = (low + 3) & !3;
    while p + 4 <= high {
        // SAFETY: the caller passes a range of the stack below the live frames (below the
        // stack pointer minus MARGIN), where no object lives.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes from `top` down to the lowest word of `[low, top)` that lost its paint.
fn used(low: usize, top: usize) -> usize {
    let mut p = (low + 3) & !3;
    // SAFETY: aligned reads of stack memory at or below the live frames.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

#[entry]
fn main() -> ! {
    let top = (&raw const _stack_start) as usize;
    let sp = cortex_m::register::msp::read() as usize;
    let low = top.saturating_sub(PAINTED);
    let paint_end = sp - MARGIN;

    let mut r = Reader { data: bundle(), at: 0 };
    if r.take(4) != b"EER1" {
        fail("no bundle at 0x20080000 (load one with -device loader,file=...,addr=0x20080000)");
    }
    let name_len = usize::from(r.take(1)[0]);
    let Ok(name) = core::str::from_utf8(r.take(name_len)) else { fail("target name is not UTF-8") };
    let Some(&(_, body)) = TARGETS.iter().find(|(n, _)| *n == name) else { fail("unknown target name in the bundle") };
    let count = r.u32();

    let (mut peak, mut peak_input, mut peak_len, mut max_len) = (0usize, 0u32, 0usize, 0usize);
    for i in 0..count {
        let len = r.u32() as usize;
        let input = r.take(len);
        CURRENT.store(i, Ordering::Relaxed);
        paint(low, paint_end);
        body(input);
        let u = used(low, top);
        if u > peak {
            (peak, peak_input, peak_len) = (u, i, len);
        }
        max_len = max_len.max(len);
    }
    let floor = if peak >= PAINTED - MARGIN { "at least " } else { "" };
    hprintln!(
        "replay32: {} inputs of {} (largest {} bytes) ran to their end; peak stack {}{} bytes (input #{}, {} bytes)",
        count,
        name,
        max_len,
        floor,
        peak,
        peak_input,
        peak_len
    );
    hprintln!("replay32: peak-stack {} {}", name, peak);
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
