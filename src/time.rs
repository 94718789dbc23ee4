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
    /// The crate's own time floor, 2026-12-01T00:00:00Z (this release): without trusted
    /// time, no certificate that expired before it is accepted. Firmware should give its own
    /// build date instead (a later floor), e.g. from `SOURCE_DATE_EPOCH` at build time.
    pub const CRATE_FLOOR: Self = Self { secs: 1_796_083_200 };

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

/// RFC 3339 in UTC, to the second: `2026-12-06T19:59:16Z`. Times outside the years 0000 to
/// 9999, which RFC 3339 cannot write, are shown as `@` and the seconds since the epoch
/// (`@-62167219201`). No allocation; usable in `defmt`-free logs and host tools alike.
impl core::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let secs_of_day = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return write!(f, "@{}", self.secs);
        }
        write!(f, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs_of_day / 3600, secs_of_day % 3600 / 60, secs_of_day % 60)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`). Exact for every `days` that an `i64` of seconds can produce
/// (|days| < 1.1e14, so no step below can overflow).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

    #[test]
    fn unix_time_displays_as_rfc3339() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(UnixTime::from_secs(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime::from_secs(1_796_500_756).to_string(), "2026-12-05T19:59:16Z");
        assert_eq!(UnixTime::from_secs(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(UnixTime::from_secs(-1).to_string(), "1969-12-31T23:59:59Z");
        assert_eq!(UnixTime::from_secs(253_402_300_799).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(UnixTime::from_secs(253_402_300_800).to_string(), "@253402300800");
        assert_eq!(UnixTime::from_secs(-62_167_219_200).to_string(), "0000-01-01T00:00:00Z");
        assert_eq!(UnixTime::from_secs(-62_167_219_201).to_string(), "@-62167219201");
        // The extremes neither panic nor overflow.
        assert_eq!(UnixTime::from_secs(i64::MAX).to_string(), std::format!("@{}", i64::MAX));
        assert_eq!(UnixTime::from_secs(i64::MIN).to_string(), std::format!("@{}", i64::MIN));
    }
}
