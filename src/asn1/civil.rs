//! Calendar arithmetic for X.509 times (RFC 5280 section 4.1.2.5): the contents of a UTCTime
//! or GeneralizedTime to seconds since 1970 and back, with the rules of the `der` crate's
//! `UtcTime`, `GeneralizedTime` and `DateTime` (which this replaces: its conversion from
//! seconds pulled in 64-bit division, about 1.5 KiB of flash on Cortex-M): Z-normalised,
//! seconds mandatory, no fractions, years 1970 through 9999, UTCTime years 50-99 in the 1900s.

/// 9999-12-31T23:59:59Z, the last second represented.
pub(crate) const MAX_SECS: u64 = 253_402_300_799;

/// Days before the first of each month in a common year.
const MONTH_START: [u16; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Two ASCII digits as a number.
fn two_digits(hi: u8, lo: u8) -> Option<u32> {
    (hi.is_ascii_digit() && lo.is_ascii_digit()).then(|| u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
}

/// The contents of a UTCTime (`YYMMDDHHMMSSZ`, `utc`) or a GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`) as seconds since 1970; `None` when malformed or out of range.
pub(crate) fn parse(value: &[u8], utc: bool) -> Option<u64> {
    let (year, rest) = if utc {
        let (&[y1, y2], rest) = value.split_first_chunk::<2>()?;
        let yy = two_digits(y1, y2)?;
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
    } else {
        let (&[y1, y2, y3, y4], rest) = value.split_first_chunk::<4>()?;
        (two_digits(y1, y2)? * 100 + two_digits(y3, y4)?, rest)
    };
    let &[mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2, b'Z'] = rest else { return None };
    let (month, day) = (two_digits(mo1, mo2)?, two_digits(d1, d2)?);
    let (hour, minute, second) = (two_digits(h1, h2)?, two_digits(mi1, mi2)?, two_digits(s1, s2)?);
    if year < 1970 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Month 1..=12 (the table lookup), day 1..=length of the month.
    let leap = is_leap(year);
    let start = u32::from(*MONTH_START.get(usize::try_from(month).ok()?.checked_sub(1)?)?);
    let month_len = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > month_len {
        return None;
    }
    // Leap days from 1970 through the year before (year >= 1970: no term goes negative).
    let y = year - 1;
    let leap_days = (y - 1968) / 4 - (y - 1900) / 100 + (y - 1600) / 400;
    let day_of_year = start + day - 1 + u32::from(leap && month > 2);
    let days = (year - 1970) * 365 + leap_days + day_of_year;
    let secs = u64::from(days) * 86_400 + u64::from(hour * 3600 + minute * 60 + second);
    (secs <= MAX_SECS).then_some(secs)
}

/// Seconds since 1970 (at most [`MAX_SECS`]) as (year, month, day, hour, minute, second).
pub(crate) fn from_secs(secs: u64) -> Option<[u32; 6]> {
    if secs > MAX_SECS {
        return None;
    }
    // 86400 = 128 * 675, and secs / 128 fits in 32 bits: no 64-bit division.
    let days = u32::try_from(secs >> 7).ok()? / 675;
    let rem = u32::try_from(secs - u64::from(days) * 86_400).ok()?;
    // Days to civil date (H. Hinnant's algorithm, from 0000-03-01; days >= 0 here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u32::from(month <= 2);
    Some([year, month, day, rem / 3600, rem / 60 % 60, rem % 60])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_matches_der_crate() {
        use der::Decode;
        // Every day of a few years around the edges, at a few times, both forms.
        for days in (0u64..2_932_897).step_by(97).chain(0..800).chain(2_932_000..2_932_897) {
            for t in [0u64, 1, 3599, 43_200, 86_399] {
                let secs = days * 86_400 + t;
                let dt = der::DateTime::from_unix_duration(core::time::Duration::from_secs(secs)).unwrap();
                let parts = from_secs(secs).unwrap();
                let want = [dt.year(), dt.month().into(), dt.day().into(), dt.hour().into(), dt.minutes().into(), dt.seconds().into()]
                    .map(u32::from);
                assert_eq!(parts, want, "{secs}");
                let g = der::asn1::GeneralizedTime::from_date_time(dt);
                let mut buf = [0u8; 17];
                let enc = der::Encode::encode_to_slice(&g, &mut buf).unwrap();
                assert_eq!(parse(&enc[2..], false), Some(secs));
                if dt.year() < 2050 {
                    let u = der::asn1::UtcTime::from_date_time(dt).unwrap();
                    let enc = der::Encode::encode_to_slice(&u, &mut buf).unwrap();
                    assert_eq!(parse(&enc[2..], true), Some(secs));
                    assert!(der::asn1::UtcTime::from_der(enc).is_ok());
                }
            }
        }
        assert_eq!(from_secs(MAX_SECS + 1), None);
    }

    #[test]
    fn parse_refuses_what_der_refuses() {
        use der::Decode;
        let utc = [
            "700101000000Z",
            "691231235959Z",
            "500101000000Z",
            "491231235959Z",
            "000229000000Z",
            "010229000000Z",
            "991231235959Z",
            "240230000000Z",
            "241301000000Z",
            "240001000000Z",
            "240100000000Z",
            "240131240000Z",
            "240131236000Z",
            "240131235960Z",
            "2401312359Z",
            "240131235959",
            "24013123595+Z",
            "2401312359590",
            "24013123595 Z",
            "-40131235959Z",
            "240431000000Z",
        ];
        for s in utc {
            let mut der_bytes = std::vec![0x17u8, s.len() as u8];
            der_bytes.extend_from_slice(s.as_bytes());
            let theirs = der::asn1::UtcTime::from_der(&der_bytes).ok().map(|u| u.to_unix_duration().as_secs());
            assert_eq!(parse(s.as_bytes(), true), theirs, "{s}");
        }
        let general = [
            "19700101000000Z",
            "19691231235959Z",
            "99991231235959Z",
            "20000229000000Z",
            "19000229000000Z",
            "21000229000000Z",
            "20240229120000Z",
            "20231329000000Z",
            "2024022912000Z",
            "20240229120000.5Z",
            "2024022912000+Z",
            "20240229120000+0000",
            "00000101000000Z",
            "20240431000000Z",
            "24000229000000Z",
        ];
        for s in general {
            let mut der_bytes = std::vec![0x18u8, s.len() as u8];
            der_bytes.extend_from_slice(s.as_bytes());
            let theirs = der::asn1::GeneralizedTime::from_der(&der_bytes).ok().map(|g| g.to_unix_duration().as_secs());
            assert_eq!(parse(s.as_bytes(), false), theirs, "{s}");
        }
    }
}
