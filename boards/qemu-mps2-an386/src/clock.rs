//! Time: SysTick at 1 kHz on the 25 MHz core clock, a millisecond counter, and the
//! crate's [`Timer`] on top of it. Under QEMU (TCG, no `-icount`) the emulated clock follows
//! the host's, so these milliseconds are close to wall-clock milliseconds.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use embedded_enroll::time::Instant;
use embedded_enroll::transport::blocking::Timer;

static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the 1 ms tick.
pub fn start(mut syst: SYST, core_hz: u32) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Milliseconds since [`start`] (wraps after 49 days).
pub fn now_ms() -> u32 {
    MILLIS.load(Ordering::Relaxed)
}

/// Milliseconds elapsed since `since` (a [`now_ms`] value).
pub fn elapsed_ms(since: u32) -> u32 {
    now_ms().wrapping_sub(since)
}

/// The drivers' clock: `now` in milliseconds since boot; sleeping waits for interrupts (the
/// tick wakes the core every millisecond).
#[derive(Debug, Default, Clone, Copy)]
pub struct SysTickTimer;

impl Timer for SysTickTimer {
    fn now(&mut self) -> Instant {
        Instant::from_millis(u64::from(now_ms()))
    }

    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while self.now() < deadline {
            cortex_m::asm::wfi();
        }
        true
    }
}
