//! HTTP-date (RFC 9110 section 5.6.7) and Retry-After (RFC 9110 section 10.2.3).
//!
//! All three forms a recipient must accept are read:
//!
//! ```text
//! Sun, 06 Nov 1994 08:49:37 GMT    IMF-fixdate (what servers send)
//! Sunday, 06-Nov-94 08:49:37 GMT   obsolete RFC 850 form, two-digit year
//! Sun Nov  6 08:49:37 1994         ANSI C asctime() form
//! ```
//!
//! Day and month names are matched ignoring ASCII case, as is `GMT`; the day name is not
//! checked against the date. A leap second (`:60`) is read as the next second. Nothing here
//! panics or allocates, whatever the input.

use crate::time::{Duration, UnixTime};

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTH_NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const SECS_PER_DAY: i64 = 86_400;

/// Parses an HTTP-date in any of its three forms (see the module documentation); leading
/// and trailing spaces and tabs are ignored. `None` if it is not one, or names a day that
/// does not exist (`31 Apr`, `29 Feb` outside leap years).
///
/// `now` only matters for the RFC 850 form's two-digit year: as RFC 9110 requires, a year
/// that would be more than 50 years after `now`'s is taken from the century before. Without
/// `now`, two-digit years map to 1970..=2069.
pub fn parse_http_date(value: &str, now: Option<UnixTime>) -> Option<UnixTime> {
    parse_dates(trim_ows(value.as_bytes()), now)
}

/// The three forms, on a value without surrounding spaces and tabs.
fn parse_dates(b: &[u8], now: Option<UnixTime>) -> Option<UnixTime> {
    imf_fixdate(b).or_else(|| rfc850_date(b, now)).or_else(|| asctime_date(b))
}

/// `b` without leading and trailing spaces and tabs (byte-wise: no char decoding).
fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Reads a Retry-After value: delay-seconds (saturating when absurdly large) or an HTTP-date,
/// which needs `now` and gives the time from `now` until then (zero when it is past).
/// `None` for anything else, or for a date without `now`.
pub fn retry_after(value: &str, now: Option<UnixTime>) -> Option<Duration> {
    let v = trim_ows(value.as_bytes());
    if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        let secs = v.iter().fold(0u64, |acc, b| acc.saturating_mul(10).saturating_add(u64::from(b - b'0')));
        return Some(Duration::from_secs(secs));
    }
    let now = now?;
    let date = parse_dates(v, Some(now))?;
    let ahead = date.as_secs().saturating_sub(now.as_secs());
    Some(u64::try_from(ahead).map_or(Duration::ZERO, Duration::from_secs))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(b: &[u8]) -> Option<UnixTime> {
    let mut c = Cursor(b);
    c.name(&DAY_NAMES)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    to_unix(i64::from(year), month, day, time)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850_date(b: &[u8], now: Option<UnixTime>) -> Option<UnixTime> {
    let mut c = Cursor(b);
    c.name(&LONG_DAY_NAMES)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b"-")?;
    let month = c.month()?;
    c.literal(b"-")?;
    let yy = c.digits(2)?;
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    to_unix(full_year(yy, now), month, day, time)
}

/// `Sun Nov  6 08:49:37 1994` (or `Nov 06`)
fn asctime_date(b: &[u8]) -> Option<UnixTime> {
    let mut c = Cursor(b);
    c.name(&DAY_NAMES)?;
    c.literal(b" ")?;
    let month = c.month()?;
    c.literal(b" ")?;
    let day = if c.literal(b" ").is_some() { c.digits(1)? } else { c.digits(2)? };
    c.literal(b" ")?;
    let time = c.time_of_day()?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.end()?;
    to_unix(i64::from(year), month, day, time)
}

/// The year a two-digit RFC 850 year stands for (RFC 9110 section 5.6.7).
fn full_year(yy: u32, now: Option<UnixTime>) -> i64 {
    let yy = i64::from(yy);
    match now {
        None if yy < 70 => 2000 + yy,
        None => 1900 + yy,
        Some(now) => {
            let current = year_of_day(now.as_secs().div_euclid(SECS_PER_DAY));
            let year = current - current.rem_euclid(100) + yy;
            if year > current + 50 { year - 100 } else { year }
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// Consumes `s` (letters ignoring ASCII case).
    fn literal(&mut self, s: &[u8]) -> Option<()> {
        let (head, rest) = self.0.split_at_checked(s.len())?;
        if !head.eq_ignore_ascii_case(s) {
            return None;
        }
        self.0 = rest;
        Some(())
    }

    /// Consumes one of `names` and gives its index.
    fn name(&mut self, names: &[&str]) -> Option<usize> {
        names.iter().position(|n| self.literal(n.as_bytes()).is_some())
    }

    /// The month, 1..=12.
    fn month(&mut self) -> Option<u32> {
        let index = self.name(&MONTH_NAMES)?;
        u32::try_from(index).ok().map(|m| m + 1)
    }

    /// Exactly `n` ASCII digits (n <= 9).
    fn digits(&mut self, n: usize) -> Option<u32> {
        let (head, rest) = self.0.split_at_checked(n)?;
        let mut value = 0u32;
        for &d in head {
            if !d.is_ascii_digit() {
                return None;
            }
            value = value.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
        }
        self.0 = rest;
        Some(value)
    }

    /// `HH:MM:SS` as seconds into the day (up to 23:59:60).
    fn time_of_day(&mut self) -> Option<u32> {
        let h = self.digits(2)?;
        self.literal(b":")?;
        let m = self.digits(2)?;
        self.literal(b":")?;
        let s = self.digits(2)?;
        (h <= 23 && m <= 59 && s <= 60).then_some(h * 3600 + m * 60 + s)
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The Unix time of a civil date and a time of day (`None` for an impossible date).
pub(crate) fn to_unix(year: i64, month: u32, day: u32, secs_of_day: u32) -> Option<UnixTime> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(SECS_PER_DAY)?.checked_add(i64::from(secs_of_day))?;
    Some(UnixTime::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
/// `month` is 1..=12, `day` 1..=31, `year` within a few million of zero.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year of the day `days` after 1970-01-01 (H. Hinnant's `civil_from_days`). Any `i64`
/// that came from dividing Unix seconds by 86400 is in range.
fn year_of_day(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400;
    // January and February belong to the next civil year.
    if month_from_march >= 10 { year + 1 } else { year }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    /// 1994-11-06T08:49:37Z, RFC 9110's example (Python: calendar.timegm).
    const RFC_EXAMPLE: i64 = 784_111_777;

    fn at(secs: i64) -> Option<UnixTime> {
        Some(UnixTime::from_secs(secs))
    }

    #[test]
    fn the_three_rfc9110_forms_give_the_same_time() {
        let now = at(1_750_000_000); // 2025-06-15
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
            "  sun, 06 nov 1994 08:49:37 gmt\t",
        ] {
            assert_eq!(parse_http_date(value, now), at(RFC_EXAMPLE), "{value:?}");
            assert_eq!(parse_http_date(value, None), at(RFC_EXAMPLE), "{value:?}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", None), at(0));
        assert_eq!(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT", None), at(1_445_412_480));
        assert_eq!(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", None), at(253_402_300_799));
        assert_eq!(parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT", None), at(-62_135_596_800));
        assert_eq!(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT", None), at(-1));
        // A leap second reads as the next second.
        assert_eq!(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", None), parse_http_date("Sun, 01 Jan 2017 00:00:00 GMT", None));
    }

    #[test]
    fn leap_years_and_impossible_days() {
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", None), at(951_782_400));
        assert_eq!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT", None), at(1_709_208_000));
        assert_eq!(parse_http_date("Tue Feb 29 00:00:00 2000", None), at(951_782_400));
        for bad in [
            "Thu, 29 Feb 1900 00:00:00 GMT",
            "Mon, 29 Feb 2100 00:00:00 GMT",
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Thu, 31 Apr 2025 00:00:00 GMT",
            "Thu, 00 Jan 2025 00:00:00 GMT",
            "Thu, 32 Jan 2025 00:00:00 GMT",
            "Thu, 01 Jan 2025 24:00:00 GMT",
            "Thu, 01 Jan 2025 23:60:00 GMT",
            "Thu, 01 Jan 2025 23:59:61 GMT",
            "Sunday, 31-Sep-25 00:00:00 GMT",
            "Sun Feb 30 00:00:00 2025",
        ] {
            assert_eq!(parse_http_date(bad, None), None, "{bad:?}");
        }
    }

    #[test]
    fn two_digit_years_more_than_50_years_ahead_are_from_the_century_before() {
        let date = |yy: &str, now| parse_http_date(&std::format!("Sunday, 01-Jan-{yy} 00:00:00 GMT"), now);
        let y2025 = at(1_750_000_000);
        assert_eq!(date("25", y2025), parse_http_date("Wed, 01 Jan 2025 00:00:00 GMT", None));
        assert_eq!(date("75", y2025), parse_http_date("Tue, 01 Jan 2075 00:00:00 GMT", None), "exactly 50 years ahead");
        assert_eq!(date("76", y2025), parse_http_date("Thu, 01 Jan 1976 00:00:00 GMT", None), "51 years ahead");
        assert_eq!(date("00", y2025), at(946_684_800));
        assert_eq!(date("99", y2025), at(915_148_800));
        // In 2080, 94 is 2094 (14 years ahead) and 31 is 2031.
        let y2080 = parse_http_date("Mon, 01 Jan 2080 00:00:00 GMT", None);
        assert_eq!(date("94", y2080), parse_http_date("Fri, 01 Jan 2094 00:00:00 GMT", None));
        assert_eq!(date("31", y2080), parse_http_date("Wed, 01 Jan 2031 00:00:00 GMT", None));
        // Without `now`: 1970..=2069.
        assert_eq!(date("69", None), parse_http_date("Tue, 01 Jan 2069 00:00:00 GMT", None));
        assert_eq!(date("70", None), at(0));
        // The long day name is required in this form, the short one in the others.
        assert_eq!(parse_http_date("Sun, 06-Nov-94 08:49:37 GMT", None), None);
        assert_eq!(parse_http_date("Sunday, 06 Nov 1994 08:49:37 GMT", None), None);
    }

    #[test]
    fn garbage_is_not_a_date() {
        for bad in [
            "",
            " ",
            "0",
            "GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nvv 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTX",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, -6 Nov 1994 08:49:37 GMT",
            "Sun Nov   6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "\u{e9}\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad, at(RFC_EXAMPLE)), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = at(RFC_EXAMPLE);
        assert_eq!(retry_after("120", None), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("99999999999999999999999999", None), Some(Duration::MAX));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Sunday, 06-Nov-94 09:49:37 GMT", now), Some(Duration::from_secs(3600)));
        assert_eq!(retry_after("Sun Nov  6 08:49:38 1994", now), Some(Duration::from_secs(1)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO), "past");
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:51:37 GMT", None), None, "a date needs now");
        assert_eq!(retry_after("Fri, 31 Dec 9999 23:59:59 GMT", at(i64::MIN)), Some(Duration::from_secs(u64::MAX)));
        for bad in ["", "-1", "+5", "1.5", "12 s", "0x10", "soon"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    /// The day arithmetic agrees with counting days one by one from 1600 to 2400, and
    /// `year_of_day` inverts it.
    #[test]
    fn day_numbers_agree_with_counting() {
        let mut expected = days_from_civil(1600, 1, 1);
        for year in 1600..=2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), expected, "{year}-{month}-{day}");
                    assert_eq!(year_of_day(expected), year);
                    expected += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert!(year_of_day(i64::MAX / SECS_PER_DAY) > 0);
        assert!(year_of_day(i64::MIN / SECS_PER_DAY - 1) < 0);
        // RFC 850 years with `now` at the ends of time do not overflow (overflow checks are on
        // in tests): the date is simply out of range.
        for now in [at(i64::MAX), at(i64::MIN)] {
            let _ = parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now);
        }
    }

    /// No input panics: random strings over the characters dates are made of, and every
    /// prefix and one-byte change of real dates.
    #[test]
    fn no_input_panics() {
        const ALPHABET: &[&str] =
            &["Sun", "Sunday", "Nov", "Feb", ",", " ", "  ", "-", ":", "GMT", "0", "1", "2", "5", "9", "29", "60", "\t", "\u{e9}", "x"];
        let nows = [None, at(0), at(RFC_EXAMPLE), at(i64::MAX), at(i64::MIN)];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..50_000 {
            let mut s = String::new();
            for _ in 0..next() % 16 {
                s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            let now = nows[i % nows.len()];
            let _ = parse_http_date(&s, now);
            let _ = retry_after(&s, now);
        }
        for seed in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            for end in 0..=seed.len() {
                for now in nows {
                    let _ = parse_http_date(&seed[..end], now);
                    let _ = retry_after(&seed[..end], now);
                }
            }
            for i in 0..seed.len() {
                for b in 0u8..0x80 {
                    let mut changed = seed.as_bytes().to_vec();
                    changed[i] = b;
                    let s = String::from_utf8(changed).unwrap();
                    for now in nows {
                        let _ = parse_http_date(&s, now);
                    }
                }
            }
        }
    }
}
