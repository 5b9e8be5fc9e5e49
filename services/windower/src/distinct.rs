//! [`Distinct`]: a set of viewer keys that stays exact up to a limit and then becomes a
//! HyperLogLog++ sketch, so wide windows and sessions keep bounded memory.

use std::collections::HashSet;

/// The exact set's hasher: foldhash is several times faster than SipHash on `u64`s and seeded
/// per process, so keys chosen by a hostile peer cannot be made to collide.
type KeySet = HashSet<u64, foldhash::fast::RandomState>;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};

/// Relative standard error of the sketch: 1.04 / sqrt(2^12) for the estimator's default
/// precision P = 12.
pub const SKETCH_ERROR: f64 = 0.01625;

/// Distinct keys, exact or estimated.
#[derive(Serialize, Deserialize)]
pub enum Distinct {
    /// Every key, while there are at most the limit's many.
    Exact(KeySet),
    /// An HLL++ estimate once the limit was passed. The estimator's hash is deterministic, so a
    /// checkpointed sketch restored in another replica keeps counting the same way.
    Sketch(Box<CardinalityEstimator<u64>>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(KeySet::default())
    }
}

impl std::fmt::Debug for Distinct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distinct::Exact(s) => write!(f, "Exact({})", s.len()),
            Distinct::Sketch(s) => write!(f, "Sketch(~{})", s.estimate()),
        }
    }
}

impl Distinct {
    /// Adds `key`; with `limit` set, an exact set that would grow past it becomes a sketch.
    pub fn insert(&mut self, key: u64, limit: Option<usize>) {
        match self {
            Distinct::Exact(set) => {
                if set.insert(key) && limit.is_some_and(|l| set.len() > l) {
                    let mut sketch = CardinalityEstimator::<u64>::new();
                    for k in set.iter() {
                        sketch.insert(k);
                    }
                    *self = Distinct::Sketch(Box::new(sketch));
                }
            }
            Distinct::Sketch(sketch) => sketch.insert(&key),
        }
    }

    /// The count (exact or estimated).
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact(set) => set.len() as u64,
            Distinct::Sketch(sketch) => sketch.estimate() as u64,
        }
    }

    /// True once the count is an estimate.
    pub fn is_estimate(&self) -> bool {
        matches!(self, Distinct::Sketch(_))
    }

    /// Relative standard error of [`Distinct::count`].
    pub fn error(&self) -> f64 {
        if self.is_estimate() {
            SKETCH_ERROR
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_the_limit_then_estimated_within_its_error() {
        let mut d = Distinct::default();
        for k in 0..1000u64 {
            d.insert(k, Some(1000));
            d.insert(k, Some(1000));
        }
        assert_eq!(d.count(), 1000);
        assert!(!d.is_estimate());
        for k in 1000..100_000u64 {
            d.insert(k, Some(1000));
        }
        assert!(d.is_estimate());
        let rel = (d.count() as f64 - 100_000.0).abs() / 100_000.0;
        assert!(
            rel < 4.0 * SKETCH_ERROR,
            "estimate {} off by {rel}",
            d.count()
        );
    }

    #[test]
    fn no_limit_means_always_exact() {
        let mut d = Distinct::default();
        for k in 0..5000u64 {
            d.insert(k, None);
        }
        assert_eq!((d.count(), d.is_estimate()), (5000, false));
    }

    #[test]
    fn a_sketch_survives_a_checkpoint_round_trip() {
        let mut d = Distinct::default();
        for k in 0..10_000u64 {
            d.insert(k, Some(10));
        }
        let bytes = rmp_serde::to_vec(&d).unwrap();
        let back: Distinct = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.count(), d.count());
        assert!(back.is_estimate());
    }
}
