//! The room's own sequences and the random identifiers its commands carry (hex ids, gift
//! transaction ids, interaction trigger times).

use rand::Rng;
use rand::rngs::StdRng;

use super::{Ctx, RoomGen};

/// Counters that only ever grow, so that ids made from them never repeat within a room.
#[derive(Debug)]
pub(super) struct RoomIds {
    /// The last command's position in the room's sequence.
    room_seq: u64,
    /// The next Super Chat id (Bilibili's ids grow with gaps).
    sc_next: u64,
    /// Distinguishes otherwise identical unmodelled and broadcast bodies.
    nonce: u64,
    /// The last interaction's trigger time, ns; the next one is strictly later.
    last_trigger_ns: i64,
}

impl RoomIds {
    pub(super) fn new(rng: &mut StdRng) -> RoomIds {
        RoomIds {
            room_seq: 0,
            sc_next: 1_000_000 + rng.random_range(0..9_000_000u64),
            nonce: 0,
            last_trigger_ns: 0,
        }
    }

    pub(super) fn next_room_seq(&mut self) -> u64 {
        self.room_seq += 1;
        self.room_seq
    }

    pub(super) fn next_nonce(&mut self) -> u64 {
        self.nonce += 1;
        self.nonce
    }

    /// The next Super Chat id; the one after it is 1 to 3 higher.
    pub(super) fn next_superchat(&mut self, rng: &mut StdRng) -> u64 {
        let id = self.sc_next;
        self.sc_next += 1 + rng.random_range(0..3);
        id
    }
}

impl RoomGen {
    /// `digits` random hex digits.
    pub(super) fn hex(&mut self, digits: usize, upper: bool) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            let v: u64 = self.rng.random();
            let chunk = if upper {
                format!("{v:016X}")
            } else {
                format!("{v:016x}")
            };
            s.push_str(&chunk[..(digits - s.len()).min(16)]);
        }
        s
    }

    /// A gift's 19-digit transaction id.
    pub(super) fn tid(&mut self) -> String {
        format!(
            "{}",
            self.rng
                .random_range(4_000_000_000_000_000_000u64..5_000_000_000_000_000_000)
        )
    }

    /// An interaction's trigger time in ns: unique per room, so that two interactions never
    /// have identical bodies.
    pub(super) fn trigger_ns(&mut self, ctx: &Ctx<'_>, vt: u64) -> i64 {
        let t =
            (ctx.base_ms + (vt / 1000) as i64) * 1_000_000 + self.rng.random_range(0..1_000_000);
        self.ids.last_trigger_ns = t.max(self.ids.last_trigger_ns + 1);
        self.ids.last_trigger_ns
    }
}
