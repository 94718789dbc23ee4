//! The only module with `unsafe` code besides `virtio.rs`: the QEMU `virt` devices reached
//! with volatile accesses at their fixed addresses (QEMU `hw/riscv/virt.c`), the stack's
//! bounds for `board_common::stack`, and (feature `profile`) the machine timer interrupt.
//!
//! - NS16550A UART at 0x1000_0000: THR (offset 0) and LSR (offset 5, bit 5 = THR empty).
//!   Console only; polled.
//! - SiFive test device at 0x0010_0000: writing 0x5555 powers off with exit status 0,
//!   `(code << 16) | 0x3333` with `code` (the verdict of the run).
//! - CLINT `mtime` at 0x0200_BFF8: 64-bit, 10 MHz on this machine.
//! - Goldfish RTC at 0x0010_1000: nanoseconds since 1970 from the host (TIME_LOW at 0x00,
//!   which latches TIME_HIGH at 0x04).
//! - CFI parallel flash, unit 1 (`-drive if=pflash,unit=1`) at 0x2200_0000, 32 MiB: reads and
//!   32-bit writes (commands and data) at an offset; the CFI command set is `flash.rs`'s.
#![allow(unsafe_code)]

const UART0: usize = 0x1000_0000;
const UART_LSR: usize = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;
const TEST_DEVICE: usize = 0x0010_0000;
const MTIME: usize = 0x0200_BFF8;
const RTC: usize = 0x0010_1000;

const PFLASH1: usize = 0x2200_0000;
/// Bytes of each of the `virt` machine's two pflash units.
pub const PFLASH_SIZE: usize = 32 * 1024 * 1024;

/// `mtime` ticks per second on QEMU `virt`.
pub const MTIME_HZ: u64 = 10_000_000;

/// Writes `bytes` to the console UART.
pub fn console_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART0 + 5 is the 16550's line status register and UART0 its transmit holding
        // register, byte-wide MMIO that QEMU maps on `virt`; only this function touches them.
        unsafe {
            while core::ptr::read_volatile((UART0 + UART_LSR) as *const u8) & LSR_THR_EMPTY == 0 {}
            core::ptr::write_volatile(UART0 as *mut u8, b);
        }
    }
}

/// Ends the emulation with exit status `code` (0: success).
pub fn exit(code: u16) -> ! {
    let value = if code == 0 { 0x5555 } else { (u32::from(code) << 16) | 0x3333 };
    // SAFETY: the SiFive test device's only register; writing it stops QEMU.
    unsafe { core::ptr::write_volatile(TEST_DEVICE as *mut u32, value) };
    loop {
        riscv::asm::wfi();
    }
}

/// `mtime`: ticks of the 10 MHz machine timer since reset.
pub fn mtime() -> u64 {
    // SAFETY: the CLINT's `mtime` register, two aligned 32-bit reads (high, low, high again
    // until the high word is stable: it may carry between the reads).
    unsafe {
        loop {
            let hi = core::ptr::read_volatile((MTIME + 4) as *const u32);
            let lo = core::ptr::read_volatile(MTIME as *const u32);
            if core::ptr::read_volatile((MTIME + 4) as *const u32) == hi {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }
}

/// The host's wall clock (seconds since 1970) from the Goldfish RTC, if plausible (after 2020).
pub fn host_unix_time() -> Option<u64> {
    // SAFETY: the RTC's TIME_LOW and TIME_HIGH registers; reading TIME_LOW latches TIME_HIGH.
    let ns = unsafe {
        let lo = core::ptr::read_volatile(RTC as *const u32);
        let hi = core::ptr::read_volatile((RTC + 4) as *const u32);
        (u64::from(hi) << 32) | u64::from(lo)
    };
    let secs = ns / 1_000_000_000;
    (secs > 1_577_836_800).then_some(secs)
}

/// The byte at `offset` of pflash unit 1 (in read-array mode: the flash's contents). Offsets
/// wrap inside the unit.
pub fn pflash_read_u8(offset: usize) -> u8 {
    // SAFETY: PFLASH1 + (offset mod 32 MiB) is inside the flash's MMIO window, which QEMU maps
    // on `virt` whether or not a drive backs it; reads have no side effect.
    unsafe { core::ptr::read_volatile((PFLASH1 + (offset & (PFLASH_SIZE - 1))) as *const u8) }
}

/// The 32-bit word at `offset` (rounded down to a multiple of 4) of pflash unit 1: the
/// contents in read-array mode, the status register (in both 16-bit lanes) after a command.
pub fn pflash_read(offset: usize) -> u32 {
    // SAFETY: an aligned word inside the flash's MMIO window (as above).
    unsafe { core::ptr::read_volatile((PFLASH1 + (offset & (PFLASH_SIZE - 4))) as *const u32) }
}

/// Writes the 32-bit `value` (a command, or the data of a program) at `offset` (rounded down
/// to a multiple of 4) of pflash unit 1.
pub fn pflash_write(offset: usize, value: u32) {
    // SAFETY: an aligned word inside the flash's MMIO window: writes go to the flash's command
    // interface (QEMU's pflash_cfi01), never to RAM.
    unsafe { core::ptr::write_volatile((PFLASH1 + (offset & (PFLASH_SIZE - 4))) as *mut u32, value) }
}

unsafe extern "C" {
    /// Top of the hart's stack (riscv-rt's linker script).
    static _stack_start: u32;
    /// Size of the hart's stack (memory.x).
    static _hart_stack_size: u32;
}

/// The stack's lowest and highest addresses, and the stack pointer.
pub fn stack() -> (usize, usize, usize) {
    let top = (&raw const _stack_start) as usize;
    let size = (&raw const _hart_stack_size) as usize;
    let sp: usize;
    // SAFETY: reads the stack pointer register only.
    unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp) };
    (top - size, top, sp)
}

/// Instructions retired since reset (`minstret`). Under QEMU this counts instructions only
/// with `-icount` (otherwise it follows the host's clock).
pub fn instret() -> u64 {
    riscv::register::minstret::read64()
}

#[cfg(feature = "profile")]
pub use sampling::*;

#[cfg(feature = "profile")]
mod sampling {
    const MTIMECMP: usize = 0x0200_4000;

    unsafe extern "C" {
        /// Start of `.text` (riscv-rt's linker script).
        static __stext: u32;
    }

    /// The address `.text` starts at.
    pub fn text_start() -> usize {
        (&raw const __stext) as usize
    }

    /// Arms the machine timer to interrupt when `mtime` reaches `at`.
    pub fn set_mtimecmp(at: u64) {
        // SAFETY: hart 0's `mtimecmp` in the CLINT; high word first set out of reach so no
        // spurious interrupt fires between the two 32-bit writes.
        unsafe {
            core::ptr::write_volatile((MTIMECMP + 4) as *mut u32, u32::MAX);
            core::ptr::write_volatile(MTIMECMP as *mut u32, at as u32);
            core::ptr::write_volatile((MTIMECMP + 4) as *mut u32, (at >> 32) as u32);
        }
    }

    /// Enables (or disables) the machine timer interrupt.
    pub fn timer_interrupt(on: bool) {
        // SAFETY: the only interrupt handler of the image (profile.rs) is reentrancy-free and
        // touches only atomics and the CLINT.
        unsafe {
            if on {
                riscv::interrupt::enable_interrupt(riscv::interrupt::Interrupt::MachineTimer);
                riscv::interrupt::enable();
            } else {
                riscv::interrupt::disable();
                riscv::interrupt::disable_interrupt(riscv::interrupt::Interrupt::MachineTimer);
            }
        }
    }
}
