//! [`TopK`]: a session's most active chatters or biggest spenders, exact while few viewers
//! take part and a Space-Saving summary (Metwally et al.) beyond, so memory stays bounded.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One tracked viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// Weight counted (messages, or milli-yuan).
    pub count: u64,
    /// Most this count may exceed the truth by (what the evicted viewer it replaced had).
    pub error: u64,
    /// Uid (0 when masked).
    pub uid: u64,
    /// Uid CRC32 as Bilibili sends it.
    pub crc: String,
    /// Name as last seen.
    pub uname: String,
}

/// Heavy hitters over viewer keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TopK {
    counters: HashMap<u64, Counter, foldhash::fast::RandomState>,
    /// True once a viewer had to be evicted: counts are then upper bounds.
    evicted: bool,
}

impl TopK {
    /// Adds `weight` for the viewer `key`, tracking at most `capacity` viewers.
    pub fn add(&mut self, key: u64, weight: u64, who: (u64, &str, &str), capacity: usize) {
        if let Some(c) = self.counters.get_mut(&key) {
            c.count += weight;
            if c.uname != who.2 {
                who.2.clone_into(&mut c.uname);
            }
            return;
        }
        let mut counter = Counter {
            count: weight,
            error: 0,
            uid: who.0,
            crc: who.1.to_owned(),
            uname: who.2.to_owned(),
        };
        if self.counters.len() >= capacity.max(1) {
            // Space-Saving: the newcomer replaces the smallest counter and inherits its count
            // as possible over-count. Ties go to the smallest key, so replays agree.
            let (&victim, min) = self
                .counters
                .iter()
                .min_by_key(|(k, c)| (c.count, **k))
                .expect("capacity >= 1 and full");
            counter.count += min.count;
            counter.error = min.count;
            self.counters.remove(&victim);
            self.evicted = true;
        }
        self.counters.insert(key, counter);
    }

    /// The `n` heaviest, heaviest first (ties by smaller key).
    pub fn top(&self, n: usize) -> Vec<&Counter> {
        let mut all: Vec<(&u64, &Counter)> = self.counters.iter().collect();
        all.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        all.into_iter().take(n).map(|(_, c)| c).collect()
    }

    /// True while every count is exact.
    pub fn is_exact(&self) -> bool {
        !self.evicted
    }

    /// The largest possible over-count among the `n` heaviest.
    pub fn error(&self, n: usize) -> u64 {
        self.top(n).iter().map(|c| c.error).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_while_under_capacity() {
        let mut t = TopK::default();
        for (k, w) in [(1u64, 5u64), (2, 3), (1, 1), (3, 10)] {
            t.add(k, w, (k, "", "x"), 10);
        }
        let top: Vec<u64> = t.top(2).iter().map(|c| c.count).collect();
        assert_eq!(top, [10, 6]);
        assert!(t.is_exact());
    }

    #[test]
    fn heavy_hitters_survive_eviction_with_bounded_error() {
        let mut t = TopK::default();
        for i in 0..10_000u64 {
            t.add(1_000_000 + i, 1, (i, "", "tail"), 50);
            if i % 10 == 0 {
                t.add(7, 1, (7, "", "heavy"), 50);
            }
        }
        let top = t.top(1);
        assert_eq!(top[0].uid, 7);
        assert!(!t.is_exact());
        assert!(top[0].count >= 1000 && top[0].count - top[0].error <= 1000);
    }
}
