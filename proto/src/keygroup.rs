//! Key groups: the fixed partitioning of rooms among windower replicas.
//!
//! Every room belongs to one of [`KEY_GROUPS`] key groups, computed from its id alone. Windower
//! replicas own whole key groups (never part of one), so a room's windows and sessions are
//! always computed in one place, and a key group moves between replicas together with its
//! checkpointed state. The count is fixed: changing it would move every room at once and
//! orphan every checkpoint, so it is part of the contract.
//!
//! The hash is FNV-1a 32 of the room id in decimal, the same function NATS uses for its
//! `{{partition(n, …)}}` subject mapping, so a NATS-side mapping and this code agree.

use std::fmt;

/// Number of key groups. Enough to spread over a few dozen replicas with even load; small
/// enough that a checkpoint per group per second stays cheap.
pub const KEY_GROUPS: u16 = 32;

/// One key group, `0 .. KEY_GROUPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyGroup(u16);

impl KeyGroup {
    /// The key group of `room`.
    pub fn of(room: u64) -> KeyGroup {
        let digits = itoa_buf(room);
        KeyGroup((fnv1a_32(digits.as_bytes()) % u32::from(KEY_GROUPS)) as u16)
    }

    /// Key group number `n`; `None` when `n >= KEY_GROUPS`.
    pub fn new(n: u16) -> Option<KeyGroup> {
        (n < KEY_GROUPS).then_some(KeyGroup(n))
    }

    /// Its number.
    pub fn index(self) -> u16 {
        self.0
    }

    /// Every key group, ascending.
    pub fn all() -> impl Iterator<Item = KeyGroup> {
        (0..KEY_GROUPS).map(KeyGroup)
    }
}

impl fmt::Display for KeyGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// FNV-1a, 32 bits.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The decimal digits of `n` without allocating.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: u64) -> Digits {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Digits { buf, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_nats_partition_function() {
        // Verified against nats-server 2.15.1's `{{partition(8,1)}}` / `{{partition(16,1)}}`:
        // room 5269 → 3 of 8 and 11 of 16 (see ../shared/jetstream-windowing.md §1).
        assert_eq!(fnv1a_32(b"5269") % 8, 3);
        assert_eq!(fnv1a_32(b"5269") % 16, 11);
        assert_eq!(KeyGroup::of(5269).index(), (fnv1a_32(b"5269") % 32) as u16);
    }

    #[test]
    fn digits_are_decimal() {
        for n in [0u64, 7, 10, 5269, 21_452_505, u64::MAX] {
            assert_eq!(itoa_buf(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn groups_are_in_range_and_spread() {
        let mut counts = [0u32; KEY_GROUPS as usize];
        for room in 1..=32_000u64 {
            let g = KeyGroup::of(room);
            assert!(g.index() < KEY_GROUPS);
            counts[g.index() as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..=1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(KeyGroup::new(KEY_GROUPS), None);
        assert_eq!(KeyGroup::all().count(), KEY_GROUPS as usize);
    }
}
