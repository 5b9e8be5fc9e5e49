//! Which ingester owns which room: rendezvous (HRW) hashing over the live members.
//!
//! Every replica computes [`ShardMap::compute`] from the same inputs (the desired rooms in
//! `bili_rooms` and the live, non-draining members in `bili_members`) and so arrives at the same
//! assignment without a coordinator. HRW moves only about `1/n` of the rooms when a member joins
//! or leaves, and a room never moves between two members that both stay.
//!
//! Capacity: members state how many rooms they accept. Rooms are placed in ascending id order,
//! each on the highest-ranked member that still has room; rooms no member can take are listed in
//! [`ShardMap::unplaced`] so they are reported, never silently ignored. While no member is full
//! this is plain HRW.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use hrw_hash::{HrwNode, HrwNodes};

/// A member as seen by the assignment: its id and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Ingester id.
    pub id: String,
    /// Maximum rooms it accepts.
    pub capacity: usize,
}

// Only the id takes part in hashing: a member that changes its capacity must keep its rooms'
// ranking.
impl Hash for Candidate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl HrwNode for Candidate {}

/// The assignment of rooms to members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMap {
    owners: BTreeMap<u64, String>,
    unplaced: BTreeSet<u64>,
}

impl ShardMap {
    /// Assigns `rooms` to `members`. Deterministic: the same inputs give the same map on every
    /// replica and every build (the hash is hrw-hash's rapidhash, stable across releases).
    pub fn compute<'a>(
        rooms: impl IntoIterator<Item = u64>,
        members: impl IntoIterator<Item = &'a Candidate>,
    ) -> ShardMap {
        let mut members: Vec<Candidate> = members.into_iter().cloned().collect();
        // Input order must not matter.
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let rooms: BTreeSet<u64> = rooms.into_iter().collect();
        let mut map = ShardMap::default();
        if members.is_empty() {
            map.unplaced = rooms;
            return map;
        }
        let mut load: HashMap<String, usize> = HashMap::new();
        let hrw = HrwNodes::new(members);
        for room in rooms {
            let owner = hrw
                .sorted(&room)
                .find(|m| load.get(&m.id).copied().unwrap_or(0) < m.capacity);
            match owner {
                Some(m) => {
                    *load.entry(m.id.clone()).or_default() += 1;
                    map.owners.insert(room, m.id.clone());
                }
                None => {
                    map.unplaced.insert(room);
                }
            }
        }
        map
    }

    /// The owner of `room`, if it is desired and placed.
    pub fn owner(&self, room: u64) -> Option<&str> {
        self.owners.get(&room).map(String::as_str)
    }

    /// The rooms owned by `member`, ascending.
    pub fn rooms_of<'a>(&'a self, member: &'a str) -> impl Iterator<Item = u64> + 'a {
        self.owners
            .iter()
            .filter(move |(_, m)| m.as_str() == member)
            .map(|(r, _)| *r)
    }

    /// Desired rooms no member could take (every member full, or no member alive).
    pub fn unplaced(&self) -> &BTreeSet<u64> {
        &self.unplaced
    }

    /// Every placed room with its owner, ascending by room.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        self.owners.iter().map(|(r, m)| (*r, m.as_str()))
    }

    /// Number of placed rooms.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// True when no room is placed.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn members(ids: &[&str], capacity: usize) -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                id: (*id).into(),
                capacity,
            })
            .collect()
    }

    #[test]
    fn every_room_has_exactly_one_owner_and_load_is_balanced() {
        let m = members(&["ingester-0", "ingester-1", "ingester-2"], usize::MAX);
        let map = ShardMap::compute(1..=3000, &m);
        assert_eq!(map.len(), 3000);
        assert!(map.unplaced().is_empty());
        for c in &m {
            let n = map.rooms_of(&c.id).count();
            // Ideal 1000 each; HRW with a good hash stays well within ±15 %.
            assert!((850..=1150).contains(&n), "{} owns {n}", c.id);
        }
    }

    #[test]
    fn input_order_does_not_change_the_map() {
        let a = members(&["a", "b", "c"], usize::MAX);
        let mut b = a.clone();
        b.reverse();
        assert_eq!(
            ShardMap::compute(1..500, &a),
            ShardMap::compute((1..500).rev(), &b)
        );
    }

    #[test]
    fn capacity_is_respected_and_overflow_is_reported() {
        let m = members(&["a", "b"], 10);
        let map = ShardMap::compute(1..=25, &m);
        assert_eq!(map.rooms_of("a").count(), 10);
        assert_eq!(map.rooms_of("b").count(), 10);
        assert_eq!(map.unplaced().len(), 5);
    }

    #[test]
    fn no_members_means_everything_is_unplaced() {
        let map = ShardMap::compute([5269, 865138], &[]);
        assert!(map.is_empty());
        assert_eq!(
            map.unplaced().iter().copied().collect::<Vec<_>>(),
            vec![5269, 865138]
        );
    }

    proptest! {
        /// Adding a member moves rooms only onto the new member, never between old ones.
        #[test]
        fn joining_moves_rooms_only_to_the_newcomer(n in 1usize..8, rooms in proptest::collection::btree_set(1u64..10_000_000, 1..300)) {
            let old: Vec<Candidate> = (0..n).map(|i| Candidate { id: format!("ing-{i}"), capacity: usize::MAX }).collect();
            let mut new = old.clone();
            new.push(Candidate { id: "ing-new".into(), capacity: usize::MAX });
            let before = ShardMap::compute(rooms.iter().copied(), &old);
            let after = ShardMap::compute(rooms.iter().copied(), &new);
            for r in &rooms {
                let (b, a) = (before.owner(*r).unwrap(), after.owner(*r).unwrap());
                prop_assert!(a == b || a == "ing-new", "room {r} moved {b} -> {a}");
            }
        }

        /// Removing a member moves only that member's rooms.
        #[test]
        fn leaving_moves_only_the_leavers_rooms(n in 2usize..8, gone in 0usize..8, rooms in proptest::collection::btree_set(1u64..10_000_000, 1..300)) {
            let gone = gone % n;
            let old: Vec<Candidate> = (0..n).map(|i| Candidate { id: format!("ing-{i}"), capacity: usize::MAX }).collect();
            let new: Vec<Candidate> = old.iter().filter(|c| c.id != format!("ing-{gone}")).cloned().collect();
            let before = ShardMap::compute(rooms.iter().copied(), &old);
            let after = ShardMap::compute(rooms.iter().copied(), &new);
            for r in &rooms {
                let b = before.owner(*r).unwrap();
                if b != format!("ing-{gone}") {
                    prop_assert_eq!(after.owner(*r).unwrap(), b);
                }
            }
        }
    }
}
