//! When to renew, how to retry, which key to use: pure functions of the certificate's validity,
//! the failure count and a per-device jitter seed. No clock, no RNG inside: the jitter is
//! derived from a seed the manager drew once (and persists), so a device that reboots in the
//! middle of its schedule picks the same moments again.

use crate::crypto::digest::Hasher;
use crate::time::{Duration, UnixTime};

/// When to renew an identity: at `lifetime_percent` of the certificate's lifetime or
/// `before_expiry` before its notAfter, whichever comes first, minus a random jitter of at most
/// `max_jitter` (so a fleet enrolled together does not renew together). On failure, retry after
/// `retry_initial`, growing by `retry_factor` per failure up to `retry_cap`; warn (a
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
    /// The renewal moment is moved earlier by up to this much (never before notBefore).
    pub max_jitter: Duration,
    /// The first retry after a failed renewal.
    pub retry_initial: Duration,
    /// Each further failure multiplies the wait by this (at least 1).
    pub retry_factor: u32,
    /// The longest wait between retries.
    pub retry_cap: Duration,
    /// Renewal failures this close to notAfter are reported as [`Report::ExpiryNear`](super::Report::ExpiryNear).
    pub warn_before: Duration,
}

impl RenewalPolicy {
    /// Renew at 80 % of the lifetime or 14 days before expiry, jitter up to 6 hours, retry after
    /// 5 minutes doubling up to 6 hours, warn in the last 7 days.
    pub const DEFAULT: Self = Self {
        lifetime_percent: 80,
        before_expiry: Duration::from_secs(14 * 86_400),
        max_jitter: Duration::from_secs(6 * 3600),
        retry_initial: Duration::from_secs(300),
        retry_factor: 2,
        retry_cap: Duration::from_secs(6 * 3600),
        warn_before: Duration::from_secs(7 * 86_400),
    };

    /// The moment to renew a certificate valid from `not_before` to `not_after`, for the jitter
    /// seed `seed` (see the module docs). Never before `not_before`, never after `not_after`.
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
        let jitter = pick(seed, b"renew", nb, secs(self.max_jitter));
        UnixTime::from_secs(at.saturating_sub(jitter).max(nb))
    }

    /// How long to wait after the `failures`-th consecutive failure (1 = the first), with up to
    /// 10 % jitter from `seed` so retries of a fleet spread out.
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
fn pick(seed: &[u8; 16], label: &[u8], n: i64, max: i64) -> i64 {
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
            assert!(at <= plain && at >= plain - 6 * 3600, "seed {s}: {at} outside [{}, {plain}]", plain - 6 * 3600);
            seen[usize::from(at == plain)] = true;
            assert_eq!(at, p.renew_at(nb, na, &[s; 16]).as_secs(), "not repeatable");
        }
        assert!(seen[0], "jitter never moved the moment");
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
