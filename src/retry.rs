//! Bounded retry schedules: SCEP PENDING polling (RFC 8894 section 3.3.2.2), EST 202 +
//! Retry-After (RFC 7030 section 4.2.3), and renewal retries. Every wait has a cap, and every
//! schedule ends: after a number of attempts or a total time, whichever comes first.
//!
//! Time comes in as an argument ([`Instant`]); the schedule only says when the next attempt
//! is due, and the protocol emits that as a `Wait(deadline)` step.

use crate::time::{Duration, Instant};

/// How retries are spaced and bounded.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryPolicy {
    /// The first delay.
    pub initial: Duration,
    /// Each delay is the previous one times this (1 = constant).
    pub factor: u32,
    /// No delay is longer than this, whatever the factor or the server asks for.
    pub max_delay: Duration,
    /// No more attempts than this (retries after the first request).
    pub max_attempts: u32,
    /// No attempt starts later than this after the schedule began.
    pub max_total: Duration,
}

impl RetryPolicy {
    /// 30 s, doubling, at most 1 h apart, at most 48 retries within 7 days: an enrollment
    /// waiting for a CA operator's approval over a week-end.
    pub const DEFAULT: Self = Self {
        initial: Duration::from_secs(30),
        factor: 2,
        max_delay: Duration::from_secs(3600),
        max_attempts: 48,
        max_total: Duration::from_secs(7 * 24 * 3600),
    };
}

impl Default for RetryPolicy {
    /// [`RetryPolicy::DEFAULT`].
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RetryPolicy {
    /// A policy with these delays and bounds.
    pub const fn new(initial: Duration, factor: u32, max_delay: Duration, max_attempts: u32, max_total: Duration) -> Self {
        Self { initial, factor, max_delay, max_attempts, max_total }
    }
}

/// A running schedule: how many attempts were made since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetrySchedule {
    policy: RetryPolicy,
    started: Instant,
    attempts: u32,
}

impl RetrySchedule {
    /// A schedule starting at `now` (when the first request was answered "not yet").
    pub const fn new(policy: RetryPolicy, now: Instant) -> Self {
        Self { policy, started: now, attempts: 0 }
    }

    /// Resumes a schedule saved as `(started, attempts)` (for snapshots across reboots).
    pub const fn resume(policy: RetryPolicy, started: Instant, attempts: u32) -> Self {
        Self { policy, started, attempts }
    }

    /// When the schedule started.
    pub const fn started(&self) -> Instant {
        self.started
    }

    /// Retries scheduled so far.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay the policy gives for retry number `n` (0-based), capped.
    fn policy_delay(&self, n: u32) -> Duration {
        let mut d = self.policy.initial;
        for _ in 0..n.min(64) {
            d = d.saturating_mul(self.policy.factor);
            if d >= self.policy.max_delay {
                break;
            }
        }
        d.min(self.policy.max_delay)
    }

    /// Schedules the next attempt: returns its deadline, or `None` when the attempts or the
    /// total time are used up. `server_hint` (a Retry-After or a PENDING interval) replaces
    /// the policy's delay but is still capped by `max_delay`.
    pub fn next(&mut self, now: Instant, server_hint: Option<Duration>) -> Option<Instant> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let delay = server_hint.unwrap_or_else(|| self.policy_delay(self.attempts)).min(self.policy.max_delay);
        let at = now.saturating_add(delay);
        if at.saturating_duration_since(self.started) > self.policy.max_total {
            return None;
        }
        self.attempts += 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Duration::from_secs(10), 2, Duration::from_secs(60), 6, Duration::from_secs(1000))
    }

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap_on_a_virtual_clock() {
        let mut now = Instant::from_secs(100);
        let mut s = RetrySchedule::new(policy(), now);
        let mut delays = std::vec::Vec::new();
        while let Some(at) = s.next(now, None) {
            delays.push((at - now).as_secs());
            now = at;
        }
        assert_eq!(delays, [10, 20, 40, 60, 60, 60]);
        assert_eq!(s.attempts(), 6);
        assert_eq!(s.next(now, None), None, "stays exhausted");
    }

    #[test]
    fn total_time_ends_the_schedule_first_when_it_is_shorter() {
        let p = RetryPolicy::new(Duration::from_secs(100), 1, Duration::from_secs(100), 1000, Duration::from_secs(350));
        let mut now = Instant::ZERO;
        let mut s = RetrySchedule::new(p, now);
        let mut n = 0;
        while let Some(at) = s.next(now, None) {
            now = at;
            n += 1;
        }
        assert_eq!(n, 3, "100, 200, 300 s fit in 350 s; 400 s does not");
    }

    #[test]
    fn server_hints_are_followed_but_capped() {
        let mut s = RetrySchedule::new(policy(), Instant::ZERO);
        assert_eq!(s.next(Instant::ZERO, Some(Duration::from_secs(5))), Some(Instant::from_secs(5)));
        assert_eq!(
            s.next(Instant::from_secs(5), Some(Duration::from_secs(86_400))),
            Some(Instant::from_secs(65)),
            "a day becomes max_delay"
        );
        assert_eq!(s.next(Instant::from_secs(65), Some(Duration::ZERO)), Some(Instant::from_secs(65)));
    }

    #[test]
    fn extreme_values_saturate_and_resume_continues() {
        let p = RetryPolicy::new(Duration::MAX, u32::MAX, Duration::MAX, 2, Duration::MAX);
        let mut s = RetrySchedule::new(p, Instant::from_millis(u64::MAX - 10));
        assert_eq!(s.next(Instant::from_millis(u64::MAX - 10), None), Some(Instant::from_millis(u64::MAX)));
        let mut r = RetrySchedule::resume(policy(), Instant::ZERO, 5);
        assert!(r.next(Instant::from_secs(10), None).is_some());
        assert_eq!(r.next(Instant::from_secs(100), None), None, "6 attempts in all");
    }
}
