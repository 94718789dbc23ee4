//! embedded-enroll on QEMU `virt` (riscv32imac, M-mode): each boot keeps a SCEP and an EST
//! identity with the library's lifecycle runner (`board_common::identity`) through a real
//! TCP/IP stack: smoltcp on a virtio-net device (`virtio-drivers`, no allocator), made an
//! embedded-nal 0.9 stack by `net.rs` and driven by the crate's `NalConnector`, over
//! QEMU's user-mode network, whose gateway (10.0.2.2) is the host's loopback.
//!
//! 1. SCEP (micromdm): GetCACaps, GetCACert pinned by the CA's SHA-256 fingerprint, then
//!    PKCSReq on a fresh device or RenewalReq, with the RSA-2048 key embedded at build time.
//! 2. EST (est-ca), TLS 1.3 through the crate's embedded-tls connector: /simpleenroll (Basic)
//!    on a fresh device with a P-256 key generated into the flash, /simplereenroll with TLS
//!    client authentication afterwards.
//!
//! 3. With feature `acme` (run.sh with `ACME_SERVER`, boards/acme-test.sh): an ACME order for
//!    one DNS name from pebble over TLS 1.3, the http-01 challenge answered by the image itself
//!    on guest port 80 (`acme.rs`, `http01.rs`); `BOARD_ACME_ONLY` builds skip 1 and 2.
//!
//! The images renew at every boot on purpose; a boot cut off mid-job finishes that job with
//! the same key on the next boot. Console on the NS16550A UART; the verdict is the exit status
//! through the SiFive test device: 0 only if both identities were enrolled or renewed (and,
//! with ACME, the ACME certificate issued) and the peak stack is within [`STACK_CEILING`].
//! The RNG is NOT SECURE (see `board_common::rng`).
//!
//! Persistent state (`board_common::flash`: the lifecycle records, device keys, the boot counter)
//! lives in the machine's CFI pflash, unit 1 (`flash.rs`; run.sh's `BOARD_FLASH` is its file).
//! Each boot counts itself there first and prints `flash: boot N` and what the slots hold.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

#[cfg(feature = "acme")]
mod acme;
mod clock;
mod flash;
#[cfg(feature = "acme")]
mod http01;
mod hw;
mod net;
#[cfg(feature = "profile")]
mod profile;
mod virtio;

use board_common::Platform;
use board_common::flash::Flash;
use clock::MtimeTimer;
use core::fmt::Write as _;
use embedded_enroll::UnixTime;
use embedded_enroll::transport::nal::NalConnector;
use flash::Pflash;
use net::PolledStack;
use static_cell::StaticCell;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    print(format_args!("PANIC: {info}"));
    hw::exit(101)
}

/// Prints `why` and ends the run with a failure.
pub fn fatal(why: &str) -> ! {
    print(format_args!("FATAL: {why}"));
    hw::exit(1)
}

/// The console: one line on the UART.
fn print(args: core::fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
    hw::console_write(b"\n");
}

struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        hw::console_write(s.as_bytes());
        Ok(())
    }
}

/// The most stack the run may use (bytes): 16 KiB, issue 14's target for the board images.
/// Measured on 2026-12-07 under the library's lifecycle runner: 15 344 (both profiles, smoltcp
/// included; the hand-written phases before it: 15 440). A change that deepens the stack past
/// it fails the board run.
const STACK_CEILING: usize = 16 * 1024;

#[riscv_rt::entry]
fn main() -> ! {
    let (stack_bottom, stack_top, sp) = hw::stack();
    board_common::stack::paint(stack_bottom, sp);
    board_common::console::set(print);
    print(format_args!("embedded-enroll board image: QEMU virt (riscv32imac), no_std, no allocator"));
    let flash = start_flash();
    print(format_args!("flash: peak stack so far {} bytes (stack painting)", board_common::stack::peak(stack_bottom, stack_top)));
    if board_common::config::FLASH_ONLY {
        flash_only(flash);
    }
    let Some((flash, boot)) = flash else { fatal("no flash: the identities need it (run.sh's BOARD_FLASH)") };
    let stack = bring_up();
    let wall = hw::host_unix_time().map(|s| UnixTime::from_secs(s as i64));
    let enrollments = if ACME_ONLY { None } else { Some(board_common::run(&mut Board { stack: &mut *stack }, flash, boot, wall)) };
    let peak = board_common::stack::peak(stack_bottom, stack_top);
    #[cfg(feature = "acme")]
    let (stack, acme, peak) = {
        if ACME_ONLY {
            board_common::log::init();
            print(format_args!(
                "RNG: NOT SECURE - deterministic ChaCha20 seeded at build time from {} (the boot counter in flash picks the stream) (emulator demo only)",
                board_common::config::RNG_SEED_SOURCE
            ));
        }
        // The ACME run's own peak: the stack painted again below this frame.
        let (bottom, _, sp) = hw::stack();
        board_common::stack::paint(bottom, sp);
        let (outcome, ms, stack) = acme::run(stack, flash, boot, wall);
        let acme_peak = board_common::stack::peak(stack_bottom, stack_top);
        print(format_args!("ACME run: peak stack {} bytes (stack painting, this run alone)", acme_peak));
        (stack, (outcome, ms), peak.max(acme_peak))
    };
    #[cfg(feature = "acme")]
    print(format_args!(
        "ACME identity ({}): {} ({} ms)",
        board_common::config::ACME_HOST,
        if acme.0 == acme::AcmeOutcome::Issued { "issued" } else { "FAILED" },
        acme.1
    ));
    print(format_args!("TCP calls that stalled: {}", stack.stalls));
    print(format_args!("peak stack: {} bytes (stack painting)", peak));
    let stack_ok = board_common::stack::within(peak, STACK_CEILING);
    #[cfg(feature = "profile")]
    profile::report();
    let enrolled = enrollments.is_none_or(|v| v.passed());
    #[cfg(feature = "acme")]
    let enrolled = enrolled && acme.0 == acme::AcmeOutcome::Issued;
    if enrolled && stack_ok {
        print(format_args!("RESULT: PASS ({})", PASSED));
        hw::exit(0)
    } else {
        print(format_args!("RESULT: FAIL"));
        hw::exit(1)
    }
}

/// Built for the ACME enrollment alone (`BOARD_ACME_ONLY`, feature `acme`): no SCEP or EST.
#[cfg(feature = "acme")]
const ACME_ONLY: bool = board_common::config::ACME_ONLY;
#[cfg(not(feature = "acme"))]
const ACME_ONLY: bool = false;

/// What a passing run did.
const PASSED: &str = match (cfg!(feature = "acme"), ACME_ONLY) {
    (false, _) => "both identities enrolled or renewed",
    (true, false) => "both identities enrolled or renewed, ACME certificate issued",
    (true, true) => "ACME certificate issued",
};

/// The persistent layout on pflash unit 1, once mounted.
static FLASH: StaticCell<Flash<Pflash>> = StaticCell::new();

/// Where the `BOARD_FLASH_ONLY` self-test puts its own copy of the layout (past the real one).
const SELF_TEST_BASE: u32 = 16 * 1024 * 1024;

/// Mounts the layout on pflash unit 1, counts this boot and prints the flash lines; the flash
/// and the boot count, or `None` (printed why) when this boot keeps nothing.
#[inline(never)]
fn start_flash() -> Option<(&'static mut Flash<Pflash>, u32)> {
    print(format_args!("flash: CFI pflash unit 1 at 0x2200_0000 (32 MiB, 256 KiB blocks; run.sh's BOARD_FLASH is its file)"));
    match Pflash::take() {
        Some(dev) => board_common::flash::start(dev, 0, &FLASH),
        None => {
            print(format_args!("flash: none (pflash taken before): this boot keeps nothing"));
            None
        }
    }
}

/// The end of an image built with `BOARD_FLASH_ONLY`: the flash self-test, then the verdict.
#[inline(never)]
fn flash_only(flash: Option<(&'static mut Flash<Pflash>, u32)>) -> ! {
    let ok = match flash {
        Some((flash, boot)) => board_common::flash::self_test(flash, SELF_TEST_BASE, boot),
        None => false,
    };
    let (bottom, top, _) = hw::stack();
    print(format_args!("flash: peak stack with the self-test {} bytes (stack painting)", board_common::stack::peak(bottom, top)));
    print(format_args!("flash: built with BOARD_FLASH_ONLY: stopping after the flash lines ({})", if ok { "ok" } else { "FAILED" }));
    hw::exit(if ok { 0 } else { 1 })
}

/// The TCP/IP stack, in a static (smoltcp's interface and socket set: kilobytes that would
/// otherwise sit in `main`'s frame under every enrollment).
static STACK: StaticCell<PolledStack> = StaticCell::new();

/// Finds the virtio-net device, brings the interface up and moves the stack into [`STACK`]
/// (ends the run when any of it fails). A frame of its own: the device and the stack are
/// built here and moved once, so `main` does not hold them.
#[inline(never)]
fn bring_up() -> &'static mut PolledStack {
    let device = match virtio::VirtioNet::probe() {
        Ok(d) => d,
        Err(e) => {
            print(format_args!("virtio-net: {e:?} (run QEMU with -device virtio-net-device,netdev=...)"));
            hw::exit(2)
        }
    };
    let mac = device.mac();
    print(format_args!(
        "virtio-net: MAC {}; IPv4 {}/24, gateway {} (QEMU user-mode network: the host's loopback)",
        board_common::Hex(&mac),
        net::GUEST_IP,
        net::GATEWAY
    ));
    let Some(stack) = net::stack(device, [mac[2], mac[3], mac[4], mac[5], 0x5e, 0xed, 0x00, 0x01]) else {
        fatal("smoltcp: interface setup failed")
    };
    STACK.uninit().write(stack)
}

/// The board for the enrollment runs: TCP through smoltcp on virtio-net.
struct Board<'s> {
    stack: &'s mut PolledStack,
}

impl Platform for Board<'_> {
    type Link<'a>
        = NalConnector<'a, PolledStack>
    where
        Self: 'a;
    type Timer = MtimeTimer;

    fn link(&mut self, server: &'static str) -> NalConnector<'_, PolledStack> {
        // An address that does not parse was refused by the build script already.
        let remote = net::guest_address(server).unwrap_or(core::net::SocketAddr::from((net::GATEWAY, 0)));
        NalConnector::new(self.stack, remote)
    }
    fn timer(&self) -> MtimeTimer {
        MtimeTimer
    }
    fn name(&self) -> &'static str {
        "qemu-virt-riscv32"
    }
    fn path(&self) -> &'static str {
        "smoltcp on virtio-net, QEMU user-mode network"
    }
    #[cfg(feature = "profile")]
    fn begin(&mut self, protocol: board_common::Protocol) {
        profile::begin(protocol);
    }
    #[cfg(feature = "profile")]
    fn end(&mut self, protocol: board_common::Protocol) {
        profile::end(protocol);
    }
}
