//! [`RecentIds`]: the per-connection memory of ids already published.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

/// Largest memory [`RecentIds`] keeps: a lookup scans it, so it is meant to be small.
pub const MAX_RECENT_IDS: usize = 4096;

/// A bounded set of recently seen event ids, oldest evicted first.
///
/// Bilibili delivers some events more than once on the same connection (a Super Chat and its
/// `_JPN` copy, the three guard messages of one purchase, `USER_TOAST_MSG_V2` twice). JetStream
/// drops those copies by `Nats-Msg-Id`, but core-NATS subscribers would see them all; the
/// ingester checks each id here first so every subscriber sees one event. Bounded because the
/// copies arrive within seconds, and a connection lives for days.
///
/// Every connection of an ingester holds one, idle rooms too, so it keeps 8 bytes per id: a
/// 64-bit keyed hash (SipHash with this process's random key, so a server cannot craft ids that
/// collide), not the id itself, in a ring scanned on lookup (128 entries are 1 KiB, allocated
/// as ids arrive). Two distinct ids are taken for one with a chance of about `len` in 2⁶⁴ per
/// lookup; JetStream's duplicate window, by the full id, is the authority either way.
#[derive(Debug, Clone)]
pub struct RecentIds {
    capacity: usize,
    hasher: RandomState,
    order: VecDeque<u64>,
}

impl RecentIds {
    /// A set remembering the last `capacity` distinct ids (0 remembers nothing, so every id
    /// counts as new), at most [`MAX_RECENT_IDS`].
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity: capacity.min(MAX_RECENT_IDS),
            hasher: RandomState::new(),
            order: VecDeque::new(),
        }
    }

    /// True the first time `id` is offered while it is remembered; records it.
    pub fn first_seen(&mut self, id: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let h = self.hasher.hash_one(id);
        if self.order.contains(&h) {
            return false;
        }
        if self.order.len() == self.capacity {
            self.order.pop_front();
        }
        self.order.push_back(h);
        true
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_reported_once() {
        let mut r = RecentIds::new(8);
        assert!(r.first_seen("1:sc:5"));
        assert!(!r.first_seen("1:sc:5"));
        assert!(r.first_seen("1:sc:6"));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn oldest_id_is_evicted_at_capacity() {
        let mut r = RecentIds::new(3);
        for id in ["a", "b", "c"] {
            assert!(r.first_seen(id));
        }
        // "d" pushes out "a", the oldest; "b" and "c" are still known.
        assert!(r.first_seen("d"));
        assert_eq!(r.len(), 3);
        assert!(!r.first_seen("b"));
        assert!(!r.first_seen("c"));
        assert!(r.first_seen("a"), "evicted id counts as new again");
        // Re-adding "a" evicted "b" (a repeat does not refresh an id's age).
        assert!(r.first_seen("b"));
    }

    #[test]
    fn capacity_is_capped() {
        let mut r = RecentIds::new(usize::MAX);
        for i in 0..MAX_RECENT_IDS + 10 {
            assert!(r.first_seen(&i.to_string()));
        }
        assert_eq!(r.len(), MAX_RECENT_IDS);
        assert!(r.first_seen("0"), "the oldest id was evicted at the cap");
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut r = RecentIds::new(0);
        assert!(r.first_seen("x"));
        assert!(r.first_seen("x"));
        assert!(r.is_empty());
    }
}
