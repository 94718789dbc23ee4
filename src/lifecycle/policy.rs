//! When to renew, how to retry, which key to use: pure functions of the certificate's validity,
//! the failure count and a per-device jitter seed. No clock, no RNG inside: the jitter is
//! derived from a seed the manager drew once (and persists), so a device that reboots in the
//! middle of its schedule picks the same moments again.
//!
//! # A fleet, not a device
//!
//! Devices provisioned on the same day get certificates with nearly the same validity, and a
//! CA outage makes every device that failed during it retry on the same schedule. The
//! defaults ([`RenewalPolicy::DEFAULT`]) are chosen so that neither ends in a storm at the CA.
//!
//! **Renewal: each device at its own moment of a cycle.** [`RenewalPolicy::renew_at`] does not
//! subtract a fresh random amount from each certificate's nominal moment. The seed gives each
//! device a moment (phase) in a cycle of `max_jitter / 2` (36 hours by default; at most a
//! quarter of the time from notBefore to the nominal moment, for short certificates), and the
//! device renews at its moment in one of the two cycles before the nominal moment (less than
//! `max_jitter` early; which of the two, so that later renewals keep to it). Two things follow:
//!
//! - A fleet's renewals are its enrollments spread evenly over a whole cycle. Enrollments
//!   that span less than a cycle give a renewal wave whose peak rate is at most
//!   (span + cycle) / cycle times its average, before sampling noise: with a 36-hour cycle,
//!   at most 1.67 for a fleet enrolled within one day, whatever the pattern (bursts of a
//!   thousand devices powering up in the same minute included).
//! - The interval between a device's renewals is a whole number of cycles, the same for
//!   every device and every renewal, so the next wave has the shape of this one. A renewal
//!   made late (a CA outage and the retries after it), or a notBefore stamped early or late,
//!   by less than half a cycle (18 hours) does not move the device's next renewal: the
//!   bunching an outage causes is gone one renewal later. With a short cycle it is not: the
//!   late devices move by whole cycles and pile onto others.
//!
//! **Retries: few per hour of outage.** After an outage of length D, the devices that retry at
//! a given moment are those whose failures fell in the outage, one of their waits earlier. A
//! fleet that was renewing at r per minute retries at about r times the number of a device's
//! retry moments (counted from its first failure) that fit in a window of length D. From 1
//! hour tripling to a 6-hour cap, they fall at 1, 4, 10, 16, 22... hours: never three within
//! 6 hours, so after an outage of up to 6 hours the fleet retries at about twice its renewal
//! rate. The 10 % of jitter on each wait ([`RenewalPolicy::retry_after`]) keeps devices that
//! failed in the same second apart, but it cannot make up for a schedule that retries often:
//! 5 minutes doubling (5, 15, 35, 75, 155, 315 minutes) puts six retries in 6 hours, and the
//! fleet retries at six times its renewal rate; 1 hour doubling (1, 3, 7 hours) three. The
//! cost of the slower schedule: a renewal that fails waits an hour before its second attempt,
//! which matters little months before expiry, and after the cap a device still tries four
//! times a day.
//!
//! **Measured** (`tests/fleet_sim.rs`: 100 000 managers enrolled over an 8-hour shift in racks
//! of 1 000 that power up together, one-year certificates, two years on a virtual clock, a
//! 6-hour CA outage in the middle of the first renewal wave; requests per minute, each policy
//! the default but for what its row names):
//!
//! | policy | renewal wave 1: peak / average | wave 2 | retries after the outage / renewals before |
//! |---|---|---|---|
//! | default: 72 h, retry 1 h x3 up to 6 h | 72 / 38.0 = 1.89 | 1.89 | 111 / 46.9 = 2.37 |
//! | no jitter | 2 413 / 212 = 11.4 | 49.2 | 2.92 |
//! | 6 h jitter | 1.61 | 3.64 | 3.28 |
//! | 12 h jitter | 2.03 | 3.24 | 3.50 |
//! | retry 1 h x2 up to 6 h | 1.89 | 1.89 | 3.26 |
//! | retry 5 min x2 up to 6 h | 1.89 | 1.89 | 309 / 46.9 = 6.59 |
//! | the former default: 6 h, retry 5 min x2 | 1.61 | 4.01 | 9.24 |
//!
//! The test holds the default to at most 2 (renewals) and 3 (retries). Most of the 1.89 is
//! per-minute noise around 46 renewals a minute at the wave's plateau; the shape alone gives
//! 44 / 36 = 1.22. The shape does not depend on the fleet's size: a fleet twice as large
//! renews twice as fast, as evenly (and with less noise).

use crate::crypto::digest::Hasher;
use crate::time::{Duration, UnixTime};

/// When to renew an identity: at `lifetime_percent` of the certificate's lifetime or
/// `before_expiry` before its notAfter, whichever comes first (the nominal moment), moved earlier
/// by less than `max_jitter` to the device's own moment of a cycle, so that a fleet enrolled
/// together does not renew together, not even years later (see the module docs). On failure,
/// retry after `retry_initial`, growing by `retry_factor` per failure up to `retry_cap`; warn (a
/// [`Report`](super::Report)) when a renewal keeps failing within `warn_before` of expiry.
///
/// Modelled on what network operating systems ship: Cisco's auto-enroll percentage, Juniper's
/// trigger percentage, Aruba's fixed time before expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalPolicy {
    /// Renew when this share of the lifetime has passed (1..=100; 0 disables this trigger).
    pub lifetime_percent: u8,
    /// Renew this long before notAfter (zero disables this trigger).
    pub before_expiry: Duration,
    /// The renewal moment is moved earlier by less than this (never into the first half of the
    /// time from notBefore to the nominal moment): devices spread over a cycle of half of it.
    /// Zero: every device renews at the nominal moment.
    pub max_jitter: Duration,
    /// The first retry after a failed renewal (or enrollment).
    pub retry_initial: Duration,
    /// Each further failure multiplies the wait by this (at least 1).
    pub retry_factor: u32,
    /// The longest wait between retries.
    pub retry_cap: Duration,
    /// Renewal failures this close to notAfter are reported as [`Report::ExpiryNear`](super::Report::ExpiryNear).
    pub warn_before: Duration,
}

impl RenewalPolicy {
    /// Renew at 80 % of the lifetime or 14 days before expiry, up to 3 days early (a fleet
    /// spreads over 36 hours); retry after 1 hour, tripling up to 6 hours; warn in the last 7
    /// days. The module docs say why, with the fleet simulation's numbers.
    pub const DEFAULT: Self = Self {
        lifetime_percent: 80,
        before_expiry: Duration::from_secs(14 * 86_400),
        max_jitter: Duration::from_secs(72 * 3600),
        retry_initial: Duration::from_secs(3600),
        retry_factor: 3,
        retry_cap: Duration::from_secs(6 * 3600),
        warn_before: Duration::from_secs(7 * 86_400),
    };

    /// The moment to renew a certificate valid from `not_before` to `not_after`, for the jitter
    /// seed `seed` (see the module docs). Never before `not_before`, never after `not_after`,
    /// never earlier than half-way from `not_before` to the nominal moment.
    pub fn renew_at(&self, not_before: UnixTime, not_after: UnixTime, seed: &[u8; 16]) -> UnixTime {
        let (nb, na) = (not_before.as_secs(), not_after.as_secs().max(not_before.as_secs()));
        let life = na.saturating_sub(nb);
        let mut at = na;
        if self.lifetime_percent > 0 {
            let pct = i64::from(self.lifetime_percent.min(100));
            // life * pct / 100 without overflow for any i64 lifetime.
            at = at.min(nb.saturating_add(life / 100 * pct + life % 100 * pct / 100));
        }
        if self.before_expiry > Duration::ZERO {
            at = at.min(na.saturating_sub(secs(self.before_expiry)));
        }
        let at = at.max(nb);
        // The lead: from notBefore to the nominal moment (not negative: `at` >= `nb`).
        let lead = at.saturating_sub(nb);
        let cycle = (secs(self.max_jitter) / 2).min(lead / 4);
        UnixTime::from_secs(at.saturating_sub(early(at, lead, cycle, seed)).max(nb))
    }

    /// How long to wait after the `failures`-th consecutive failure (1 = the first), up to 10 %
    /// less (from `seed`) so that devices that failed together do not retry together. What
    /// keeps a fleet's retries after an outage low is how few there are per hour of outage,
    /// which the schedule decides (see the module docs).
    pub fn retry_after(&self, failures: u32, seed: &[u8; 16]) -> Duration {
        let mut wait = self.retry_initial;
        for _ in 1..failures.min(64) {
            wait = wait.saturating_mul(self.retry_factor.max(1));
            if wait >= self.retry_cap {
                break;
            }
        }
        let wait = wait.min(self.retry_cap);
        let jitter = pick(seed, b"retry", i64::from(failures), secs(wait) / 10);
        Duration::from_secs(secs(wait).saturating_sub(jitter) as u64)
    }
}

/// How much earlier than the nominal moment `at` (`lead` after notBefore) a device renews, for
/// a cycle of `cycle` seconds: to the device's own moment of the cycle (`phase`, from the seed),
/// the last one at least `shift` before `at`. The shift is chosen so that the next nominal
/// moment, one lead after a renewal made at the device's moment, falls half a cycle after the
/// device's moment: the renewal after that comes at the same moment of the cycle again, and
/// notBefore stamped up to half a cycle off (CA clocks, backdating) does not move it by a cycle.
/// Less than `2 * cycle`.
fn early(at: i64, lead: i64, cycle: i64, seed: &[u8; 16]) -> i64 {
    if cycle <= 0 {
        return 0;
    }
    let phase = pick(seed, b"renew", 0, cycle.saturating_sub(1));
    // Both below `cycle` (at most i64::MAX / 2): no overflow below.
    let shift = lead.rem_euclid(cycle).saturating_add(cycle / 2).rem_euclid(cycle);
    // The distance from the device's last moment of the cycle to `at - shift`: (at - shift -
    // phase) mod cycle, with `at` reduced first (each term below `cycle`, so no overflow, and
    // no 128-bit division on 32-bit targets).
    let back = at.rem_euclid(cycle).saturating_sub(shift).saturating_sub(phase).rem_euclid(cycle);
    shift.saturating_add(back)
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which key a renewal certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    /// Renew with the key in use (the request is signed by it and certifies it again).
    SameKey,
    /// Generate a new key in the spare slot for every renewal; the working key stays in use
    /// until the new certificate is received, verified and persisted.
    NewKey,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A value in `0..=max` from SHA-256(seed | label | n): uniform enough for spreading a fleet,
/// and the same every time for the same inputs.
/// A number in `0..=max` drawn from `seed` and `label` (and `n`): the same for the same device.
pub(crate) fn pick(seed: &[u8; 16], label: &[u8], n: i64, max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let mut h = Hasher::sha256();
    h.update(seed);
    h.update(label);
    h.update(&n.to_be_bytes());
    let h = h.finalize();
    let mut v = [0u8; 8];
    for (d, s) in v.iter_mut().zip(h.as_bytes()) {
        *d = *s;
    }
    let r = u64::from_be_bytes(v) % (max as u64 + 1);
    r as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn policy() -> RenewalPolicy {
        RenewalPolicy { max_jitter: Duration::ZERO, ..RenewalPolicy::DEFAULT }
    }

    #[test]
    fn renews_at_the_earlier_of_percent_and_fixed_time() {
        let nb = UnixTime::from_secs(1_000_000);
        // One year: 80 % = day 292, 14 days before = day 351 -> day 292.
        let at = policy().renew_at(nb, UnixTime::from_secs(1_000_000 + 365 * DAY), &[0; 16]);
        assert_eq!(at.as_secs(), 1_000_000 + 365 * DAY * 80 / 100);
        // 30 days: 80 % = day 24, 14 days before = day 16 -> day 16.
        let at = policy().renew_at(nb, UnixTime::from_secs(1_000_000 + 30 * DAY), &[0; 16]);
        assert_eq!(at.as_secs(), 1_000_000 + 16 * DAY);
        // 10 days: 14 days before expiry is before notBefore -> notBefore.
        let at = policy().renew_at(nb, UnixTime::from_secs(1_000_000 + 10 * DAY), &[0; 16]);
        assert_eq!(at, nb);
    }

    #[test]
    fn jitter_stays_in_bounds_and_depends_on_the_seed() {
        let p = RenewalPolicy { max_jitter: Duration::from_secs(6 * 3600), ..RenewalPolicy::DEFAULT };
        let nb = UnixTime::from_secs(1_700_000_000);
        let na = UnixTime::from_secs(1_700_000_000 + 365 * DAY);
        let plain = policy().renew_at(nb, na, &[0; 16]).as_secs();
        let mut seen = [false; 2];
        for s in 0u8..64 {
            let at = p.renew_at(nb, na, &[s; 16]).as_secs();
            assert!(at <= plain && at > plain - 6 * 3600, "seed {s}: {at} outside ({}, {plain}]", plain - 6 * 3600);
            seen[usize::from(at == plain)] = true;
            assert_eq!(at, p.renew_at(nb, na, &[s; 16]).as_secs(), "not repeatable");
        }
        assert!(seen[0], "jitter never moved the moment");
    }

    #[test]
    fn a_fleet_spreads_evenly_over_the_cycle() {
        // 36 000 devices holding certificates with the same validity: the default cycle is 36
        // hours, and every hour of it gets its thousand devices, give or take sampling noise
        // (a standard deviation is about 31).
        let nb = UnixTime::from_secs(1_800_000_000);
        let na = UnixTime::from_secs(1_800_000_000 + 365 * DAY);
        let plain = policy().renew_at(nb, na, &[0; 16]).as_secs();
        let mut hours = [0u32; 72];
        for i in 0u32..36_000 {
            let mut seed = [0u8; 16];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            let early = plain - RenewalPolicy::DEFAULT.renew_at(nb, na, &seed).as_secs();
            assert!((0..72 * 3600).contains(&early), "{early} s early");
            hours[(early / 3600) as usize] += 1;
        }
        let busy = hours.iter().filter(|n| **n > 0).count();
        assert_eq!(busy, 36, "{hours:?}");
        assert!(hours.iter().all(|n| *n == 0 || (850..=1150).contains(n)), "{hours:?}");
    }

    #[test]
    fn later_renewals_keep_the_device_moment() {
        // A device renews at its moment of the cycle; the certificate it gets is stamped a
        // little before or after the request (the CA's clock, backdating). The renewal after
        // comes one lead minus the same amount later for every device and every stamp: a
        // fleet's wave keeps its shape renewal after renewal. For several lifetimes (the lead
        // a whole number of cycles or not).
        let t = 1_800_000_000;
        for (life, lead) in [(365 * DAY, 292 * DAY), (398 * DAY, 27_509_760), (90 * DAY, 72 * DAY), (30 * DAY, 16 * DAY)] {
            let mut period = None;
            for s in 0u8..32 {
                let seed = [s; 16];
                let first = RenewalPolicy::DEFAULT.renew_at(UnixTime::from_secs(t), UnixTime::from_secs(t + life), &seed).as_secs();
                for stamped in [-4 * 3600, -600, -1, 0, 1, 600, 4 * 3600] {
                    let nb = first + stamped;
                    let next = RenewalPolicy::DEFAULT.renew_at(UnixTime::from_secs(nb), UnixTime::from_secs(nb + life), &seed).as_secs();
                    let d = next - first;
                    assert_eq!(*period.get_or_insert(d), d, "lifetime {life} s, seed {s}, notBefore {stamped} s from the request");
                }
            }
            let period = period.unwrap();
            assert!(period <= lead && period > lead - 72 * 3600, "lifetime {life} s: renewals {period} s apart");
        }
    }

    #[test]
    fn short_certificates_shrink_the_cycle() {
        // One day, renewed at 80 % (19.2 h): three days of jitter would renew at once; the
        // renewal stays in the second half of the lead.
        let p = RenewalPolicy { before_expiry: Duration::ZERO, ..RenewalPolicy::DEFAULT };
        let nb = 1_800_000_000;
        let lead = DAY * 80 / 100;
        for s in 0u8..64 {
            let at = p.renew_at(UnixTime::from_secs(nb), UnixTime::from_secs(nb + DAY), &[s; 16]).as_secs();
            assert!(at > nb + lead / 2 && at <= nb + lead, "seed {s}: {} s after notBefore", at - nb);
        }
    }

    #[test]
    fn retry_backoff_grows_and_caps() {
        let p =
            RenewalPolicy { retry_initial: Duration::from_secs(100), retry_factor: 3, retry_cap: Duration::from_secs(1000), ..policy() };
        let w: [u64; 5] = core::array::from_fn(|i| p.retry_after(i as u32 + 1, &[7; 16]).as_secs());
        for (got, base) in w.iter().zip([100u64, 300, 900, 1000, 1000]) {
            assert!(*got <= base && *got >= base - base / 10, "{w:?}");
        }
        let last = p.retry_after(u32::MAX, &[7; 16]).as_secs();
        assert!((900..=1000).contains(&last), "{last}");
    }

    #[test]
    fn the_default_retries_at_most_twice_in_six_hours() {
        // Retries 1 h, 4 h, 10 h, 16 h... after the first failure (each wait up to 10 % less):
        // never three within 6 hours, so after a CA outage of up to 6 hours at most two of a
        // device's retries are due at once... and a fleet retries at about twice the rate at
        // which it was renewing (see the module docs).
        for s in 0u8..64 {
            let seed = [s; 16];
            let mut at = [0i64; 12];
            let mut t = 0;
            for (k, a) in at.iter_mut().enumerate() {
                t += RenewalPolicy::DEFAULT.retry_after(k as u32 + 1, &seed).as_secs() as i64;
                *a = t;
            }
            assert!((3240..=3600).contains(&at[0]), "seed {s}: first retry after {} s", at[0]);
            assert!(at.windows(3).all(|w| w[2] - w[0] > 6 * 3600), "seed {s}: {at:?}");
        }
    }

    #[test]
    fn degenerate_policies_do_not_panic() {
        let p = RenewalPolicy { lifetime_percent: 0, before_expiry: Duration::ZERO, ..policy() };
        let nb = UnixTime::from_secs(i64::MIN + 5);
        let na = UnixTime::from_secs(i64::MAX);
        assert_eq!(p.renew_at(nb, na, &[1; 16]), na);
        let p = RenewalPolicy { lifetime_percent: 255, max_jitter: Duration::MAX, ..policy() };
        assert_eq!(p.renew_at(na, nb, &[1; 16]), na, "notAfter before notBefore");
        let p = RenewalPolicy { retry_factor: 0, retry_initial: Duration::MAX, ..policy() };
        let _ = p.retry_after(0, &[0; 16]);
    }
}
