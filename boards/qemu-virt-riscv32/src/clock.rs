//! Time from the CLINT's 10 MHz `mtime`: milliseconds since reset, the crate's [`Timer`], and
//! the `embedded-time` clock smoltcp-nal wants. Without `-icount`, QEMU's `mtime` follows the
//! host's clock.

use crate::hw::{MTIME_HZ, mtime};
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::Timer;
use embedded_time::rate::Fraction;

/// Milliseconds since reset (wraps after 49 days).
pub fn now_ms() -> u32 {
    (mtime() / (MTIME_HZ / 1000)) as u32
}

/// The drivers' clock; sleeping spins on `mtime` (the image has nothing else to do).
#[derive(Debug, Default, Clone, Copy)]
pub struct MtimeTimer;

impl Timer for MtimeTimer {
    fn now(&mut self) -> Instant {
        Instant::from_millis(mtime() / (MTIME_HZ / 1000))
    }

    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while self.now() < deadline {
            core::hint::spin_loop();
        }
        true
    }
}

/// Milliseconds for smoltcp-nal.
#[derive(Debug, Default, Clone, Copy)]
pub struct MtimeClock;

impl embedded_time::Clock for MtimeClock {
    type T = u32;
    const SCALING_FACTOR: Fraction = Fraction::new(1, 1000);

    fn try_now(&self) -> Result<embedded_time::Instant<Self>, embedded_time::clock::Error> {
        Ok(embedded_time::Instant::new(now_ms()))
    }
}
