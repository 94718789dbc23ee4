//! Instruction counts and a sampled profile of one run (feature `profile`, with QEMU's
//! `-icount shift=0`: one instruction per nanosecond of virtual time, so `minstret` counts
//! instructions and the 10 MHz machine timer ticks every 100 instructions).
//!
//! - `minstret` is read around each protocol's run.
//! - Instructions spent in network calls that found nothing to do (the image spins while it
//!   waits for the server; how long depends on the host) are counted apart ([`idle`]).
//! - The machine timer interrupts every [`PERIOD_TICKS`] ticks (every 10 000 instructions);
//!   the handler counts the interrupted program counter in a histogram of 64-byte blocks of
//!   `.text`, one per protocol. The host maps blocks to symbols (`.ci/footprint`) and splits
//!   crypto primitives from everything else.
//!
//! The image prints `PROFILE` lines at the end: totals, then one line per non-empty block.

use crate::{hw, print};
use board_common::Protocol;
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use critical_section::Mutex;

/// Timer ticks between samples (100 ticks = 10 000 instructions under `-icount shift=0`).
pub const PERIOD_TICKS: u64 = 100;
/// Instructions per timer tick under `-icount shift=0` (10 MHz timer, 1 GHz virtual clock).
const INSNS_PER_TICK: u64 = 100;
const BUCKET_SHIFT: u32 = 6;
const BUCKETS: usize = 1 << 14; // 1 MiB of .text
const NONE: usize = usize::MAX;

static HIST: [[AtomicU32; BUCKETS]; 2] = [[const { AtomicU32::new(0) }; BUCKETS], [const { AtomicU32::new(0) }; BUCKETS]];
static OUTSIDE: AtomicU32 = AtomicU32::new(0);
static CURRENT: AtomicUsize = AtomicUsize::new(NONE);
/// Per protocol: instructions in idle network calls, instructions in all (no 64-bit atomics on
/// riscv32imac: a critical section guards them).
static IDLE: Mutex<Cell<[u64; 2]>> = Mutex::new(Cell::new([0; 2]));
static INSNS: Mutex<Cell<[u64; 2]>> = Mutex::new(Cell::new([0; 2]));
static STARTED_AT: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

fn index(p: Protocol) -> usize {
    match p {
        Protocol::Scep => 0,
        Protocol::Est => 1,
    }
}

#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
fn machine_timer() {
    let current = CURRENT.load(Ordering::Relaxed);
    if let Some(hist) = HIST.get(current) {
        let pc = riscv::register::mepc::read();
        match hist.get(pc.wrapping_sub(hw::text_start()) >> BUCKET_SHIFT) {
            Some(slot) => {
                slot.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                OUTSIDE.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    hw::set_mtimecmp(hw::mtime() + PERIOD_TICKS);
}

/// Starts counting and sampling `p`.
pub fn begin(p: Protocol) {
    CURRENT.store(index(p), Ordering::Relaxed);
    critical_section::with(|cs| STARTED_AT.borrow(cs).set(hw::instret()));
    hw::set_mtimecmp(hw::mtime() + PERIOD_TICKS);
    hw::timer_interrupt(true);
}

/// Stops counting `p`.
pub fn end(p: Protocol) {
    hw::timer_interrupt(false);
    critical_section::with(|cs| {
        let spent = hw::instret().wrapping_sub(STARTED_AT.borrow(cs).get());
        add(&INSNS, cs, index(p), spent);
    });
    CURRENT.store(NONE, Ordering::Relaxed);
}

/// Adds `insns` instructions of a network call that found nothing to do.
pub fn idle(insns: u64) {
    critical_section::with(|cs| add(&IDLE, cs, CURRENT.load(Ordering::Relaxed), insns));
}

fn add(counters: &Mutex<Cell<[u64; 2]>>, cs: critical_section::CriticalSection<'_>, i: usize, n: u64) {
    let cell = counters.borrow(cs);
    let mut v = cell.get();
    if let Some(c) = v.get_mut(i) {
        *c = c.wrapping_add(n);
    }
    cell.set(v);
}

/// Prints the counts and the histograms.
pub fn report() {
    print(format_args!(
        "PROFILE text-start {:#x} block {} period {} insns",
        hw::text_start(),
        1u32 << BUCKET_SHIFT,
        PERIOD_TICKS * INSNS_PER_TICK
    ));
    let (insns, idle) = critical_section::with(|cs| (INSNS.borrow(cs).get(), IDLE.borrow(cs).get()));
    for (i, name) in [(0, "scep"), (1, "est")] {
        print(format_args!("PROFILE total {} {} idle {}", name, insns[i], idle[i]));
    }
    print(format_args!("PROFILE outside {}", OUTSIDE.load(Ordering::Relaxed)));
    for (i, name) in [(0, "scep"), (1, "est")] {
        for (block, count) in HIST[i].iter().enumerate() {
            let n = count.load(Ordering::Relaxed);
            if n != 0 {
                print(format_args!("PROFILE sample {} {:#x} {}", name, hw::text_start() + (block << BUCKET_SHIFT), n));
            }
        }
    }
}
