//! Which replica owns which key: capacity-aware rendezvous (HRW) hashing over the live members.
//!
//! Services that share work among their replicas without a coordinator place it here: the
//! ingester places rooms (`u64`) over ingesters, the windower places key groups
//! (`bilipulse_proto::KeyGroup`) over windowers. Every replica computes [`Placement::compute`]
//! from the same inputs (the desired keys and the live, non-draining members of its members
//! bucket) and so arrives at the same assignment. HRW moves only about `1/n` of the keys when a
//! member joins or leaves, and a key never moves between two members that both stay.
//!
//! Capacity: members state how many keys they accept. Keys are placed in ascending order, each
//! on the highest-ranked member that still has room; keys no member can take are listed in
//! [`Placement::unplaced`] so they are reported, never silently ignored. While no member is full
//! this is plain HRW.
//!
//! The ranking hashes the key with its own [`Hash`] implementation (a `u64` room hashes as one
//! `write_u64`), so changing a key type's `Hash` moves every key of every deployment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use hrw_hash::{HrwNode, HrwNodes};

/// A member as seen by the placement: its id and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Replica id (its membership key).
    pub id: String,
    /// Maximum keys it accepts (`usize::MAX` for no limit).
    pub capacity: usize,
}

// Only the id takes part in hashing: a member that changes its capacity must keep its keys'
// ranking.
impl Hash for Candidate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl HrwNode for Candidate {}

/// The assignment of keys to members, the same on every replica that computes it from the same
/// inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement<K> {
    owners: BTreeMap<K, String>,
    unplaced: BTreeSet<K>,
}

// Not derived: a derive would demand `K: Default`, which key types need not offer.
impl<K> Default for Placement<K> {
    fn default() -> Self {
        Placement {
            owners: BTreeMap::new(),
            unplaced: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Hash + Copy> Placement<K> {
    /// Assigns `keys` to `members`. Deterministic: the same inputs give the same placement on
    /// every replica and every build (the hash is hrw-hash's rapidhash, stable across releases),
    /// whatever the order of the inputs; duplicate keys or member ids count once.
    pub fn compute<'a>(
        keys: impl IntoIterator<Item = K>,
        members: impl IntoIterator<Item = &'a Candidate>,
    ) -> Placement<K> {
        let mut members: Vec<Candidate> = members.into_iter().cloned().collect();
        // Input order must not matter.
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members.dedup_by(|a, b| a.id == b.id);
        let keys: BTreeSet<K> = keys.into_iter().collect();
        let mut placement = Placement::default();
        if members.is_empty() {
            placement.unplaced = keys;
            return placement;
        }
        let mut load: HashMap<String, usize> = HashMap::new();
        let hrw = HrwNodes::new(members);
        for key in keys {
            let owner = hrw
                .sorted(&key)
                .find(|m| load.get(&m.id).copied().unwrap_or(0) < m.capacity);
            match owner {
                Some(m) => {
                    *load.entry(m.id.clone()).or_default() += 1;
                    placement.owners.insert(key, m.id.clone());
                }
                None => {
                    placement.unplaced.insert(key);
                }
            }
        }
        placement
    }

    /// The owner of `key`, if it is desired and placed.
    pub fn owner(&self, key: K) -> Option<&str> {
        self.owners.get(&key).map(String::as_str)
    }

    /// The keys owned by `member`, ascending.
    pub fn keys_of<'a>(&'a self, member: &'a str) -> impl Iterator<Item = K> + 'a {
        self.owners
            .iter()
            .filter(move |(_, m)| m.as_str() == member)
            .map(|(k, _)| *k)
    }

    /// Desired keys no member could take (every member full, or no member alive).
    pub fn unplaced(&self) -> &BTreeSet<K> {
        &self.unplaced
    }

    /// Every placed key with its owner, ascending by key.
    pub fn iter(&self) -> impl Iterator<Item = (K, &str)> {
        self.owners.iter().map(|(k, m)| (*k, m.as_str()))
    }

    /// Number of placed keys.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// True when no key is placed.
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

    /// FNV-1a 64 over `key:owner\n` lines, to pin a whole placement in one number.
    fn fingerprint(p: &Placement<u64>) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (k, o) in p.iter() {
            for b in format!("{k}:{o}\n").bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    /// Running deployments keep their rooms where they are: these were computed by the
    /// ingester's `ShardMap` before it became `Placement<u64>`. If this fails, the ranking
    /// changed and upgrading would move rooms between ingesters that both stay.
    #[test]
    fn room_placement_is_unchanged_from_the_ingester_shard_map() {
        let three = members(&["ingester-0", "ingester-1", "ingester-2"], usize::MAX);
        let rooms = [1, 3, 5269, 865138, 10_000_000, 21452505, 22637261, u64::MAX];
        let p = Placement::compute(rooms, &three);
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![
                (1, "ingester-1"),
                (3, "ingester-0"),
                (5269, "ingester-2"),
                (865138, "ingester-1"),
                (10000000, "ingester-0"),
                (21452505, "ingester-2"),
                (22637261, "ingester-1"),
                (u64::MAX, "ingester-0"),
            ]
        );

        let p = Placement::compute(1..=3000u64, &three);
        let counts: Vec<usize> = three.iter().map(|c| p.keys_of(&c.id).count()).collect();
        assert_eq!(counts, vec![953, 1036, 1011]);
        assert_eq!(fingerprint(&p), 0x2945_abe1_7734_dad8);

        // With capacities, the second and later choices count too.
        let p = Placement::compute(1..=8u64, &members(&["a", "b"], 3));
        assert_eq!(
            p.iter().collect::<Vec<_>>(),
            vec![(1, "b"), (2, "a"), (3, "a"), (4, "a"), (5, "b"), (6, "b")]
        );
        assert_eq!(p.unplaced().iter().copied().collect::<Vec<_>>(), vec![7, 8]);
    }

    #[test]
    fn every_key_has_exactly_one_owner_and_load_is_balanced() {
        let m = members(&["ingester-0", "ingester-1", "ingester-2"], usize::MAX);
        let p = Placement::compute(1..=3000u64, &m);
        assert_eq!(p.len(), 3000);
        assert!(p.unplaced().is_empty());
        for c in &m {
            let n = p.keys_of(&c.id).count();
            // Ideal 1000 each; HRW with a good hash stays well within ±15 %.
            assert!((850..=1150).contains(&n), "{} owns {n}", c.id);
        }
    }

    #[test]
    fn small_key_spaces_are_placed_too() {
        // The windower's shape: a few dozen u16-like keys over a handful of replicas.
        let m = members(&["windower-0", "windower-1", "windower-2"], usize::MAX);
        let p = Placement::compute(0..32u16, &m);
        assert_eq!(p.len(), 32);
        assert!(p.unplaced().is_empty());
        let owned: usize = m.iter().map(|c| p.keys_of(&c.id).count()).sum();
        assert_eq!(owned, 32);
        for c in &m {
            assert!(p.keys_of(&c.id).count() > 0, "{} owns nothing", c.id);
        }
        assert_eq!(
            Placement::compute((0..32u16).rev(), m.iter().rev()),
            p,
            "input order must not matter"
        );
    }

    #[test]
    fn key_groups_are_placed() {
        let m = members(&["windower-0", "windower-1"], 20);
        let all: Vec<bilipulse_proto::KeyGroup> = bilipulse_proto::KeyGroup::all().collect();
        let p = Placement::compute(all.iter().copied(), &m);
        assert_eq!(p.len() + p.unplaced().len(), all.len());
        for g in &all {
            assert!(p.owner(*g).is_some() || p.unplaced().contains(g));
        }
        assert!(p.keys_of("windower-0").count() <= 20);
        assert!(p.keys_of("windower-1").count() <= 20);
    }

    #[test]
    fn input_order_does_not_change_the_placement() {
        let a = members(&["a", "b", "c"], usize::MAX);
        let mut b = a.clone();
        b.reverse();
        assert_eq!(
            Placement::compute(1..500u64, &a),
            Placement::compute((1..500u64).rev(), &b)
        );
    }

    #[test]
    fn capacity_is_respected_and_overflow_is_reported() {
        let m = members(&["a", "b"], 10);
        let p = Placement::compute(1..=25u64, &m);
        assert_eq!(p.keys_of("a").count(), 10);
        assert_eq!(p.keys_of("b").count(), 10);
        assert_eq!(p.unplaced().len(), 5);
    }

    #[test]
    fn no_members_means_everything_is_unplaced() {
        let p = Placement::compute([5269u64, 865138], &[]);
        assert!(p.is_empty());
        assert_eq!(
            p.unplaced().iter().copied().collect::<Vec<_>>(),
            vec![5269, 865138]
        );
    }

    proptest! {
        /// Adding a member moves keys only onto the new member, never between old ones.
        #[test]
        fn joining_moves_keys_only_to_the_newcomer(n in 1usize..8, keys in proptest::collection::btree_set(1u64..10_000_000, 1..300)) {
            let old: Vec<Candidate> = (0..n).map(|i| Candidate { id: format!("ing-{i}"), capacity: usize::MAX }).collect();
            let mut new = old.clone();
            new.push(Candidate { id: "ing-new".into(), capacity: usize::MAX });
            let before = Placement::compute(keys.iter().copied(), &old);
            let after = Placement::compute(keys.iter().copied(), &new);
            for k in &keys {
                let (b, a) = (before.owner(*k).unwrap(), after.owner(*k).unwrap());
                prop_assert!(a == b || a == "ing-new", "key {k} moved {b} -> {a}");
            }
        }

        /// Removing a member moves only that member's keys.
        #[test]
        fn leaving_moves_only_the_leavers_keys(n in 2usize..8, gone in 0usize..8, keys in proptest::collection::btree_set(1u64..10_000_000, 1..300)) {
            let gone = gone % n;
            let old: Vec<Candidate> = (0..n).map(|i| Candidate { id: format!("ing-{i}"), capacity: usize::MAX }).collect();
            let new: Vec<Candidate> = old.iter().filter(|c| c.id != format!("ing-{gone}")).cloned().collect();
            let before = Placement::compute(keys.iter().copied(), &old);
            let after = Placement::compute(keys.iter().copied(), &new);
            for k in &keys {
                let b = before.owner(*k).unwrap();
                if b != format!("ing-{gone}") {
                    prop_assert_eq!(after.owner(*k).unwrap(), b);
                }
            }
        }
    }
}
