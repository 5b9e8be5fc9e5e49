//! Jittered exponential backoff for every retry loop: NATS connect, the ingester's publish
//! retries, the stack's restarts, and the Bilibili client's reconnects and risk-control waits
//! (the protocol library depends on this crate for it).
//!
//! The ceiling grows as `min * factor^n` up to `max`. By default each delay is drawn uniformly
//! between `min` and the current ceiling ("full jitter" above a floor); [`Jitter::AboveCeiling`]
//! draws between the ceiling and 1.5 × the ceiling instead, for waits that must not be cut short
//! (risk control). The jitter spreads a fleet of clients that lost the same peer at the same
//! moment, so they do not all come back in one burst; the floor keeps a failing loop from
//! spinning.
//!
//! ```
//! # use std::time::Duration;
//! # use bilipulse_runtime::backoff::Backoff;
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), 2.0).unwrap();
//! let mut delays = backoff.delays();
//! for _attempt in 0..3 {
//!     let d = delays.next_delay();
//!     assert!(d >= Duration::from_millis(100) && d <= Duration::from_secs(10));
//! }
//! delays.reset(); // after a success, start again from `min`
//! ```

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

/// Why a backoff cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid backoff: {0}")]
pub struct InvalidBackoff(&'static str);

/// Where a delay is drawn relative to the attempt's ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]`: even the first retry is spread over `[0, min]`, so a fleet
    /// that lost its server at one moment does not come back at one moment (reconnects).
    Full,
    /// Uniform in `[min, ceiling]`: spreads retries the most; for failures where an early
    /// retry is cheap (a dropped connection).
    #[default]
    AboveFloor,
    /// Uniform in `[ceiling, 1.5 × ceiling]`, never above `max`: the wait never falls below
    /// the schedule; for refusals where retrying early makes things worse (risk control).
    AboveCeiling,
}

/// The shape of a backoff: floor, cap, growth factor and jitter. Cheap to copy; draw delays
/// with [`Backoff::delays`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    factor: f64,
    jitter: Jitter,
}

impl Backoff {
    /// A backoff whose delays start at `min`, grow by `factor` per attempt and never exceed `max`.
    ///
    /// `min` must be non-zero and at most `max`; `factor` must be finite and at least 1.
    pub fn new(min: Duration, max: Duration, factor: f64) -> Result<Backoff, InvalidBackoff> {
        if min.is_zero() {
            return Err(InvalidBackoff("min must be greater than zero"));
        }
        if min > max {
            return Err(InvalidBackoff("min must not exceed max"));
        }
        if !factor.is_finite() || factor < 1.0 {
            return Err(InvalidBackoff("factor must be a finite number >= 1"));
        }
        Ok(Backoff {
            min,
            max,
            factor,
            jitter: Jitter::AboveFloor,
        })
    }

    /// A doubling backoff from bounds that come from configuration and cannot be refused: a
    /// zero `min` is raised to 1 ms (a retry loop must not spin) and a `max` below `min` to
    /// `min`.
    pub fn doubling(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            factor: 2.0,
            jitter: Jitter::AboveFloor,
        }
    }

    /// The same schedule with delays drawn as `jitter` says.
    pub fn with_jitter(self, jitter: Jitter) -> Backoff {
        Backoff { jitter, ..self }
    }

    /// Shortest delay.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// Longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Growth of the ceiling per attempt.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The largest delay that attempt `n` (0-based) may draw: `min * factor^n`, capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // Computed in f64 seconds: factor^n overflows to infinity long before it matters, and
        // infinity is capped like any other large value.
        let grown = self.min.as_secs_f64() * self.factor.powi(attempt.min(i32::MAX as u32) as i32);
        if !grown.is_finite() || grown >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(grown).clamp(self.min, self.max)
        }
    }

    /// How delays are drawn.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// A jittered delay for attempt `n` drawn from `rng`: in `[min, ceiling(n)]`, for
    /// [`Jitter::Full`] in `[0, ceiling(n)]`, for [`Jitter::AboveCeiling`] in
    /// `[ceiling(n), min(1.5 × ceiling(n), max)]`.
    pub fn delay_with<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        // Both clamp to u64 alike, so low <= high holds whatever the durations.
        let nanos = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
        let ceiling = nanos(self.ceiling(attempt));
        let (low, high) = match self.jitter {
            Jitter::Full => (0, ceiling),
            Jitter::AboveFloor => (nanos(self.min), ceiling),
            Jitter::AboveCeiling => (
                ceiling,
                ceiling.saturating_add(ceiling / 2).min(nanos(self.max)),
            ),
        };
        Duration::from_nanos(rng.random_range(low..=high.max(low)))
    }

    /// An endless sequence of delays, seeded from the thread's random source.
    pub fn delays(&self) -> Delays {
        Delays::with_rng(*self, SmallRng::from_rng(&mut rand::rng()))
    }

    /// An endless, reproducible sequence of delays (for tests and simulations).
    pub fn delays_seeded(&self, seed: u64) -> Delays {
        Delays::with_rng(*self, SmallRng::seed_from_u64(seed))
    }
}

/// The delays of one retry loop: each call gives the next attempt's delay. `Send`, so a loop
/// holding it across `.await` stays spawnable.
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    attempt: u32,
    rng: SmallRng,
}

impl Delays {
    fn with_rng(backoff: Backoff, rng: SmallRng) -> Delays {
        Delays {
            backoff,
            attempt: 0,
            rng,
        }
    }

    /// The delay before the next attempt; advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.backoff.delay_with(self.attempt, &mut self.rng);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Sleeps for the next delay (tokio timer, so paused-time tests can drive it).
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts again from `min`, e.g. after a connection stayed up.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Delays drawn since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

impl Iterator for Delays {
    type Item = Duration;

    /// Never ends; bound it with `take(n)`.
    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rejects_nonsense_shapes() {
        assert!(Backoff::new(Duration::ZERO, ms(10), 2.0).is_err());
        assert!(Backoff::new(ms(20), ms(10), 2.0).is_err());
        assert!(Backoff::new(ms(1), ms(10), 0.5).is_err());
        assert!(Backoff::new(ms(1), ms(10), f64::NAN).is_err());
        assert!(Backoff::new(ms(1), ms(10), f64::INFINITY).is_err());
        assert!(Backoff::new(ms(10), ms(10), 1.0).is_ok());
    }

    #[test]
    fn huge_durations_do_not_panic() {
        let b = Backoff::new(Duration::MAX, Duration::MAX, 2.0).unwrap();
        assert_eq!(b.ceiling(3), Duration::MAX);
        let d = b.delays_seeded(1).next_delay();
        assert!(d >= Duration::from_nanos(u64::MAX));
    }

    #[test]
    fn ceiling_grows_geometrically_then_caps() {
        let b = Backoff::new(ms(100), ms(1000), 2.0).unwrap();
        let ceilings: Vec<Duration> = (0..6).map(|n| b.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.ceiling(u32::MAX), ms(1000));
    }

    #[test]
    fn reset_returns_to_the_floor() {
        let b = Backoff::new(ms(5), ms(5000), 3.0).unwrap();
        let mut d = b.delays_seeded(7);
        for _ in 0..10 {
            d.next_delay();
        }
        assert_eq!(d.attempts(), 10);
        d.reset();
        // Attempt 0's range is [min, min].
        assert_eq!(d.next_delay(), ms(5));
    }

    #[test]
    fn above_ceiling_never_cuts_the_schedule_short_nor_passes_max() {
        let b = Backoff::doubling(ms(30_000), ms(600_000)).with_jitter(Jitter::AboveCeiling);
        let mut d = b.delays_seeded(3);
        let first = d.next_delay();
        assert!(first >= ms(30_000) && first <= ms(45_000), "{first:?}");
        for n in 1..40 {
            let delay = d.next_delay();
            assert!(delay >= b.ceiling(n) && delay <= ms(600_000), "{delay:?}");
        }
    }

    #[test]
    fn full_jitter_spreads_even_the_first_retry() {
        let b = Backoff::doubling(ms(1000), ms(60_000)).with_jitter(Jitter::Full);
        let firsts: std::collections::HashSet<Duration> = (0..50)
            .map(|seed| b.delays_seeded(seed).next_delay())
            .collect();
        assert!(firsts.len() > 1, "50 first delays gave one value");
        assert!(firsts.iter().all(|d| *d <= ms(1000)));
    }

    #[test]
    fn doubling_accepts_any_bounds() {
        let b = Backoff::doubling(Duration::ZERO, Duration::ZERO);
        assert_eq!((b.min(), b.max()), (ms(1), ms(1)));
        let b = Backoff::doubling(ms(100), ms(2000));
        assert_eq!(b.ceiling(3), ms(800));
        assert_eq!(b.ceiling(9), ms(2000));
    }

    #[test]
    fn delays_are_jittered_not_constant() {
        let b = Backoff::new(ms(1), ms(10_000), 2.0).unwrap();
        // Attempt 10 ranges over [1 ms, 1.024 s]; 50 identical draws would mean no jitter.
        let draws: std::collections::HashSet<Duration> = (0..50)
            .map(|_| b.delay_with(10, &mut rand::rng()))
            .collect();
        assert!(draws.len() > 1, "50 draws gave one value");
    }

    proptest! {
        #[test]
        fn every_delay_is_within_floor_and_ceiling(
            min_ms in 1u64..5_000,
            extra_ms in 0u64..120_000,
            factor in 1.0f64..10.0,
            seed: u64,
            steps in 1usize..200,
        ) {
            let (min, max) = (ms(min_ms), ms(min_ms + extra_ms));
            let b = Backoff::new(min, max, factor).unwrap();
            let mut delays = b.delays_seeded(seed);
            for n in 0..steps {
                let d = delays.next_delay();
                prop_assert!(d >= min, "delay {d:?} below min {min:?}");
                prop_assert!(d <= b.ceiling(n as u32), "delay {d:?} above ceiling");
                prop_assert!(d <= max, "delay {d:?} above max {max:?}");
            }
        }

        #[test]
        fn ceiling_never_decreases(min_ms in 1u64..1_000, extra_ms in 0u64..60_000, factor in 1.0f64..4.0) {
            let b = Backoff::new(ms(min_ms), ms(min_ms + extra_ms), factor).unwrap();
            for n in 0..100 {
                prop_assert!(b.ceiling(n) <= b.ceiling(n + 1));
            }
        }
    }
}
