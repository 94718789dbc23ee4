//! Time as values: the caller always passes `now`; nothing in the crate reads a clock.
//!
//! Two kinds of time are kept apart on purpose:
//! - [`Instant`] is a monotonic millisecond counter with an arbitrary origin (a timer tick
//!   count since boot). Deadlines, retry delays and polling use it.
//! - [`UnixTime`] is wall-clock time in seconds since 1970-01-01T00:00:00Z, which only a
//!   trusted [`Clock`](crate::hal::Clock) can give. Certificate validity uses it.

use core::ops::{Add, Sub};

/// A span of time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration {
    millis: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Self = Self { millis: 0 };
    /// The longest representable span.
    pub const MAX: Self = Self { millis: u64::MAX };

    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// A span of `secs` seconds (saturating at [`Duration::MAX`]).
    pub const fn from_secs(secs: u64) -> Self {
        Self { millis: secs.saturating_mul(1000) }
    }

    /// The span in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// The span in whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.millis / 1000
    }

    /// `self + rhs`, saturating at [`Duration::MAX`].
    pub const fn saturating_add(self, rhs: Self) -> Self {
        Self { millis: self.millis.saturating_add(rhs.millis) }
    }

    /// `self * factor`, saturating at [`Duration::MAX`].
    pub const fn saturating_mul(self, factor: u32) -> Self {
        Self { millis: self.millis.saturating_mul(factor as u64) }
    }

    /// The smaller of two spans.
    pub fn min(self, other: Self) -> Self {
        core::cmp::min(self, other)
    }
}

/// A point on the caller's monotonic clock, in milliseconds since an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Self = Self { millis: 0 };

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// The instant `secs` seconds after the origin (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Self { millis: secs.saturating_mul(1000) }
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }

    /// `self + d`, saturating at the end of representable time.
    pub const fn saturating_add(self, d: Duration) -> Self {
        Self { millis: self.millis.saturating_add(d.as_millis()) }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition: a deadline never wraps around.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating difference: zero if `rhs` is later than `self`.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// Wall-clock time: seconds since the Unix epoch (1970-01-01T00:00:00Z), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixTime {
    secs: i64,
}

impl UnixTime {
    /// The time `secs` seconds after the epoch (negative: before it).
    pub const fn from_secs(secs: i64) -> Self {
        Self { secs }
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> i64 {
        self.secs
    }

    /// `self + d`, saturating.
    pub const fn saturating_add(self, d: Duration) -> Self {
        let add = if d.as_secs() > i64::MAX as u64 { i64::MAX } else { d.as_secs() as i64 };
        Self { secs: self.secs.saturating_add(add) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates_instead_of_wrapping() {
        let late = Instant::from_millis(u64::MAX - 5);
        assert_eq!((late + Duration::from_secs(1)).as_millis(), u64::MAX);
        assert_eq!(Instant::ZERO - late, Duration::ZERO);
        assert_eq!(late - Instant::ZERO, Duration::from_millis(u64::MAX - 5));
    }

    #[test]
    fn duration_conversions_round_down_and_saturate() {
        assert_eq!(Duration::from_millis(1999).as_secs(), 1);
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
        assert_eq!(Duration::from_secs(3).saturating_mul(u32::MAX).as_secs(), 3 * u32::MAX as u64);
        assert_eq!(UnixTime::from_secs(i64::MAX - 1).saturating_add(Duration::from_secs(10)).as_secs(), i64::MAX);
    }
}
