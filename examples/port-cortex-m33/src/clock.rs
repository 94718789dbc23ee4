//! HAL: time.
//!
//! Two clocks, as the runner needs them: trusted wall-clock time ([`Clock`]) from the SoC's
//! calendar RTC once it was set from a trusted source, and a monotonic millisecond count with
//! low-power waits ([`Timer`]) from a free-running timer.

use embedded_enroll::hal::Clock;
use embedded_enroll::time::{Instant, UnixTime};
use embedded_enroll::transport::blocking::Timer;

/// The SoC's calendar RTC (battery-backed), as the board support gives it.
pub trait Rtc {
    /// Seconds since 1970, or `None` while the RTC has not been set from a trusted source
    /// (authenticated NTP, the factory) since it last lost power.
    fn unix_seconds(&mut self) -> Option<u64>;
}

/// A free-running monotonic millisecond counter (a low-power timer extended to 64 bits) and a
/// way to wait on it.
pub trait Ticker {
    /// Milliseconds since boot.
    fn millis(&mut self) -> u64;
    /// Waits in a low-power mode (`wfi` with the timer's compare interrupt armed, or the
    /// RTOS's delay) until `millis()` reaches `deadline` or an interrupt wakes the core.
    fn wait_until(&mut self, deadline: u64);
}

/// The RTC as the runner's [`Clock`].
#[derive(Debug)]
pub struct RtcClock<R>(pub R);

impl<R: Rtc> Clock for RtcClock<R> {
    fn now(&mut self) -> Option<UnixTime> {
        self.0.unix_seconds().and_then(|s| i64::try_from(s).ok()).map(UnixTime::from_secs)
    }
}

/// The ticker as the runner's [`Timer`].
#[derive(Debug)]
pub struct TickTimer<T>(pub T);

impl<T: Ticker> Timer for TickTimer<T> {
    fn now(&mut self) -> Instant {
        Instant::from_millis(self.0.millis())
    }

    fn sleep_until(&mut self, deadline: Instant) -> bool {
        while self.0.millis() < deadline.as_millis() {
            self.0.wait_until(deadline.as_millis());
        }
        true
    }
}
