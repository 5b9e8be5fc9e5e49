//! Reconnect delays: exponential with jitter, so a fleet of rooms that lost its server at the
//! same moment does not come back at the same moment.

use std::time::Duration;

use rand::Rng;

/// How the random delay is placed under the exponential ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// "Full jitter": uniform in `[0, ceiling]`. Spreads reconnects the most; used for
    /// connection failures, where a fast retry is cheap.
    Full,
    /// Uniform in `[ceiling, 1.5 × ceiling]`, never above the maximum: the delay never drops
    /// below the minimum. Used after risk control, where retrying early makes things worse.
    Floor,
}

/// An exponential back-off schedule: the ceiling starts at `min`, doubles with every
/// consecutive failure and stops at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    jitter: Jitter,
    failures: u32,
}

impl Backoff {
    /// A schedule with the given bounds (`max` below `min` is raised to `min`).
    pub fn new(min: Duration, max: Duration, jitter: Jitter) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            jitter,
            failures: 0,
        }
    }

    /// The delay before the next retry, drawn from the thread RNG; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let unit = rand::rng().random::<f64>();
        self.next_delay_with(unit)
    }

    /// [`Backoff::next_delay`] with the random draw given (`unit` in `[0, 1]`), for tests.
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(unit),
            Jitter::Floor => (ceiling + ceiling.mul_f64(unit / 2.0)).min(self.max),
        }
    }

    /// The current ceiling: `min × 2^failures`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        // 2^31 × anything non-zero is past any sane max; avoid overflow by capping the shift.
        let factor = 1u32 << self.failures.min(31);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first step, after a healthy connection (or a successful resolve).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn full_jitter_stays_under_a_doubling_ceiling_capped_at_max() {
        let mut b = Backoff::new(S, 60 * S, Jitter::Full);
        let ceilings: Vec<u64> = (0..10)
            .map(|_| {
                let c = b.ceiling();
                assert!(b.next_delay_with(1.0) <= c);
                c.as_secs()
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(b.next_delay_with(0.0), Duration::ZERO);
        b.reset();
        assert_eq!(b.ceiling(), S);
    }

    #[test]
    fn floor_jitter_never_goes_below_the_minimum_nor_above_the_maximum() {
        let mut b = Backoff::new(30 * S, 600 * S, Jitter::Floor);
        let d0 = b.next_delay_with(0.0);
        assert_eq!(d0, 30 * S);
        let d1 = b.next_delay_with(1.0);
        assert_eq!(d1, 90 * S);
        for _ in 0..40 {
            let d = b.next_delay_with(1.0);
            assert!(d <= 600 * S && d >= 30 * S);
        }
    }

    #[test]
    fn random_draws_are_within_bounds_and_not_constant() {
        let mut b = Backoff::new(S, 60 * S, Jitter::Full);
        let draws: Vec<Duration> = (0..50)
            .map(|_| {
                b.reset();
                b.next_delay()
            })
            .collect();
        assert!(draws.iter().all(|d| *d <= S));
        assert!(draws.iter().any(|d| *d != draws[0]));
    }
}
