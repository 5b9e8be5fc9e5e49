//! [`RecentIds`]: the per-connection memory of ids already published.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// A bounded set of recently seen event ids, oldest evicted first.
///
/// Bilibili delivers some events more than once on the same connection (a Super Chat and its
/// `_JPN` copy, the three guard messages of one purchase, `USER_TOAST_MSG_V2` twice). JetStream
/// drops those copies by `Nats-Msg-Id`, but core-NATS subscribers would see them all; the
/// ingester checks each id here first so every subscriber sees one event. Bounded because the
/// copies arrive within seconds, and a connection lives for days.
#[derive(Debug, Clone)]
pub struct RecentIds {
    capacity: usize,
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
}

impl RecentIds {
    /// A set remembering the last `capacity` distinct ids (0 remembers nothing, so every id
    /// counts as new).
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity,
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            set: HashSet::with_capacity(capacity.min(1 << 16)),
        }
    }

    /// True the first time `id` is offered while it is remembered; records it.
    pub fn first_seen(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.capacity == 0 {
            return true;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        let id: Arc<str> = Arc::from(id);
        self.order.push_back(Arc::clone(&id));
        self.set.insert(id);
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
    fn zero_capacity_remembers_nothing() {
        let mut r = RecentIds::new(0);
        assert!(r.first_seen("x"));
        assert!(r.first_seen("x"));
        assert!(r.is_empty());
    }
}
