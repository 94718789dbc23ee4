//! The only module with `unsafe` code: the UART0 registers, the semihosting clock call, the
//! stack's bounds (for `board_common::stack`) and the HardFault handler. Everything else in the image is safe code on top of these.
//!
//! - UART0 is the CMSDK APB UART at 0x4000_4000 (QEMU `hw/arm/mps2.c`: AN385/AN386 map, RX
//!   IRQ 0, TX IRQ 1; PCLK = SYSCLK = 25 MHz). It is polled, no interrupt is enabled.
//!   Registers: DATA 0x00, STATE 0x04 (bit 0 TX full, bit 1 RX full, bits 2/3 overrun, W1C),
//!   CTRL 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV 0x10 (QEMU ignores values < 16).
//!   There is no PAC for this board, so the registers are reached with volatile accesses
//!   at fixed addresses; [`Uart0`] is a singleton so only one owner touches them.
//! - SYS_TIME (semihosting 0x11) asks the host for its wall clock: QEMU answers with the
//!   host's time in seconds since 1970 (used for certificate validity checks).
//! - Semihosting file calls (SYS_GET_CMDLINE, SYS_OPEN, SYS_FLEN, SYS_SEEK, SYS_READ,
//!   SYS_WRITE) for the flash file of `flash.rs` (QEMU `-semihosting-config target=native`:
//!   the host's files).
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicBool, Ordering};

/// UART0 base address on mps2-an385/an386.
const UART0_BASE: usize = 0x4000_4000;
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_OVERRUNS: u32 = (1 << 2) | (1 << 3);
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

static UART0_TAKEN: AtomicBool = AtomicBool::new(false);

/// The UART0 peripheral (owned: at most one exists).
#[derive(Debug)]
pub struct Uart0 {
    _owned: (),
}

impl Uart0 {
    /// Takes UART0 and enables TX and RX at `baud` for a `pclk_hz` peripheral clock (8N1,
    /// polled). `None` if it was taken before.
    pub fn take(pclk_hz: u32, baud: u32) -> Option<Self> {
        if UART0_TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        let uart = Self { _owned: () };
        uart.write_reg(CTRL, 0);
        uart.write_reg(BAUDDIV, (pclk_hz / baud).max(16));
        uart.write_reg(STATE, STATE_OVERRUNS);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        Some(uart)
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // SAFETY: UART0_BASE + offset is a 4-byte aligned register of the CMSDK UART that
        // QEMU maps on this machine; reads have no side effect but on DATA (pops RX), which
        // only the owner of the singleton does.
        unsafe { core::ptr::read_volatile((UART0_BASE + offset) as *const u32) }
    }

    fn write_reg(&self, offset: usize, value: u32) {
        // SAFETY: as above; writes go to the UART's own registers only.
        unsafe { core::ptr::write_volatile((UART0_BASE + offset) as *mut u32, value) }
    }

    /// The received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        if self.read_reg(STATE) & STATE_RX_FULL != 0 { Some(self.read_reg(DATA) as u8) } else { None }
    }

    /// Sends `byte` if the transmitter can take it; false if it is still busy.
    pub fn try_write(&mut self, byte: u8) -> bool {
        if self.read_reg(STATE) & STATE_TX_FULL != 0 {
            return false;
        }
        self.write_reg(DATA, u32::from(byte));
        true
    }
}

/// The host's wall clock through semihosting SYS_TIME (seconds since 1970), if it answers
/// with something plausible (after 2020).
pub fn host_unix_time() -> Option<u64> {
    // SAFETY: SYS_TIME takes no parameter block (r1 = 0) and only returns a value in r0; the
    // image runs under QEMU with semihosting enabled (run.sh, .cargo/config.toml runner).
    let secs = unsafe { cortex_m_semihosting::syscall!(TIME) } as u64;
    (secs > 1_577_836_800).then_some(secs)
}

/// The semihosting command line (QEMU: the kernel's file name, a space, then `-append`'s text)
/// into `buf`; its length. `None` if the host refuses (no command line, or `buf` too short).
pub fn host_cmdline(buf: &mut [u8]) -> Option<usize> {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE's parameter block is (buffer, length); the host writes at most
    // `length` bytes to the buffer (a live `&mut [u8]`) and the written length into the block
    // (a live local array, passed by a pointer derived from `&mut`).
    let r = unsafe { cortex_m_semihosting::syscall1(cortex_m_semihosting::nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    (r == 0).then(|| block[1].min(buf.len()))
}

/// A file on the host, opened for reading and writing (binary, "r+b": it must exist).
/// `path` ends with a NUL byte, which is not part of the name.
pub fn host_open(path: &[u8]) -> Option<usize> {
    let (&0, name) = path.split_last()? else { return None };
    // SAFETY: SYS_OPEN's parameter block is (NUL-terminated name, mode, name length); the host
    // only reads the name, which `path` keeps alive for the call.
    let h = unsafe { cortex_m_semihosting::syscall!(OPEN, path.as_ptr(), cortex_m_semihosting::nr::open::RW_BINARY, name.len()) };
    (h as isize >= 0).then_some(h)
}

/// The length of the host file `handle`.
pub fn host_flen(handle: usize) -> Option<usize> {
    // SAFETY: SYS_FLEN's parameter block is (handle); it only returns a value.
    let n = unsafe { cortex_m_semihosting::syscall!(FLEN, handle) };
    (n as isize >= 0).then_some(n)
}

/// Moves the host file `handle`'s position to `pos`.
pub fn host_seek(handle: usize, pos: usize) -> bool {
    // SAFETY: SYS_SEEK's parameter block is (handle, position); it only returns a status.
    unsafe { cortex_m_semihosting::syscall!(SEEK, handle, pos) == 0 }
}

/// Reads `buf.len()` bytes from the host file `handle` at its position; false unless all came.
pub fn host_read(handle: usize, buf: &mut [u8]) -> bool {
    // SAFETY: SYS_READ's parameter block is (handle, buffer, length); the host writes at most
    // `length` bytes into the buffer, a live `&mut [u8]`. It returns the bytes NOT read.
    unsafe { cortex_m_semihosting::syscall!(READ, handle, buf.as_mut_ptr(), buf.len()) == 0 }
}

/// Writes `buf` to the host file `handle` at its position; false unless all of it went.
pub fn host_write(handle: usize, buf: &[u8]) -> bool {
    // SAFETY: SYS_WRITE's parameter block is (handle, buffer, length); the host only reads the
    // buffer. It returns the bytes NOT written.
    unsafe { cortex_m_semihosting::syscall!(WRITE, handle, buf.as_ptr(), buf.len()) == 0 }
}

unsafe extern "C" {
    /// Lowest address of the stack (cortex-m-rt's `link.x`: after .bss and the heap).
    static _stack_end: u32;
    /// Initial stack pointer: the top of RAM.
    static _stack_start: u32;
}

/// The stack's lowest and highest addresses, and the stack pointer.
pub fn stack() -> (usize, usize, usize) {
    let bottom = (&raw const _stack_end) as usize;
    let top = (&raw const _stack_start) as usize;
    (bottom, top, cortex_m::register::msp::read() as usize)
}

/// A fault ends the run with a failure verdict instead of hanging until the timeout.
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    cortex_m_semihosting::hprintln!("HARD FAULT at pc={:#010x} lr={:#010x}", frame.pc(), frame.lr());
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
