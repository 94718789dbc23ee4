//! Time from the CLINT's 10 MHz `mtime`: milliseconds since reset (the stall limit of
//! `net::PolledStack`, smoltcp's clock) and the crate's [`Timer`]. Without `-icount`, QEMU's
//! `mtime` follows the host's clock.

use crate::hw::{MTIME_HZ, mtime};
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::Timer;

/// Milliseconds since reset.
pub fn millis() -> u64 {
    mtime() / (MTIME_HZ / 1000)
}

/// Milliseconds since reset (wraps after 49 days).
pub fn now_ms() -> u32 {
    millis() as u32
}

/// The drivers' clock; sleeping spins on `mtime` (the image has nothing else to do).
#[derive(Debug, Default, Clone, Copy)]
pub struct MtimeTimer;

impl Timer for MtimeTimer {
    fn now(&mut self) -> Instant {
        Instant::from_millis(millis())
    }

    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while self.now() < deadline {
            core::hint::spin_loop();
        }
        true
    }
}
