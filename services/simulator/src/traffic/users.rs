//! A room's viewer population. Users are not stored: user number `rank` of a room is derived
//! from a hash of (room seed, rank), so a room with 50 000 potential chatters costs nothing
//! until they speak, and the same user always has the same uid, name and face.

use std::sync::Arc;

use super::catalog::{MEDAL_NAMES, NAME_HEADS, NAME_TAILS};

/// SplitMix64 finaliser: a cheap, well-mixed hash used to derive stable attributes.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// CRC-32 (IEEE) of the uid's decimal digits, as Bilibili puts in `info[0][7]`.
pub(crate) fn uid_crc32(uid: u64) -> u32 {
    let digits = uid.to_string();
    let mut crc = 0xFFFF_FFFFu32;
    for &b in digits.as_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A fan medal as Bilibili attaches it to a user.
#[derive(Debug, Clone)]
pub(crate) struct Medal {
    pub level: u32,
    pub name: String,
    pub anchor_uname: String,
    pub anchor_room: u64,
    pub anchor_uid: u64,
    pub color: u32,
    pub color_border: u32,
    pub color_start: u32,
    pub color_end: u32,
    pub guard_level: u8,
    pub lit: bool,
    pub score: u64,
    pub id: u64,
}

/// One viewer.
#[derive(Debug)]
pub(crate) struct User {
    pub uid: u64,
    pub name: String,
    pub face: String,
    pub user_level: u32,
    pub wealth_level: u32,
    pub guard_level: u8,
    pub medal: Option<Medal>,
    pub name_color: &'static str,
    /// Hex CRC32 of the uid (stable when masked).
    pub crc: String,
}

impl User {
    /// The name as Bilibili masks it for anonymous connections: first character + `***`.
    pub fn masked_name(&self) -> String {
        let mut chars = self.name.chars();
        match (chars.next(), chars.next()) {
            (Some(first), Some(_)) => format!("{first}***"),
            _ => "***".to_owned(),
        }
    }

    /// The name shown on a connection: masked or not.
    pub fn shown_name(&self, masked: bool) -> String {
        if masked {
            self.masked_name()
        } else {
            self.name.clone()
        }
    }

    /// The uid shown on a connection (0 when masked).
    pub fn shown_uid(&self, masked: bool) -> u64 {
        if masked { 0 } else { self.uid }
    }
}

/// What a room's users need to know about the room (their medals mostly belong to it).
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub room: u64,
    pub uid: u64,
    pub uname: String,
    pub medal_name: String,
}

/// Builds users of one room on demand.
#[derive(Debug)]
pub(crate) struct Population {
    seed: u64,
    anchor: Anchor,
}

const GUARD_COLORS: [&str; 4] = ["", "#FF7C28", "#E17AFF", "#00D1F1"];

impl Population {
    pub fn new(seed: u64, anchor: Anchor) -> Population {
        Population { seed, anchor }
    }

    /// User number `rank` (1 = the most talkative).
    pub fn user(&self, rank: u64) -> Arc<User> {
        let h = mix64(self.seed ^ mix64(rank.wrapping_mul(0x2545_F491_4F6C_DD1D)));
        let h2 = mix64(h);
        let h3 = mix64(h2);
        let uid = if h % 5 < 2 {
            10_000 + h2 % 700_000_000
        } else {
            3_461_000_000_000_000 + h2 % 86_000_000_000_000
        };
        let head = NAME_HEADS[(h3 % NAME_HEADS.len() as u64) as usize];
        let tail = NAME_TAILS[((h3 >> 16) % NAME_TAILS.len() as u64) as usize];
        let name = match (h3 >> 32) % 4 {
            0 => format!("{head}{tail}"),
            1 => format!("{head}{tail}{}", (h3 >> 40) % 1000),
            2 => format!("{tail}{head}"),
            _ => format!("{head}_{}", (h3 >> 40) % 100_000),
        };
        let face = if h.is_multiple_of(20) {
            "https://i0.hdslb.com/bfs/face/member/noface.jpg".to_owned()
        } else {
            format!(
                "https://i{}.hdslb.com/bfs/face/{:016x}{:016x}{:08x}.jpg",
                h % 3,
                h2,
                h3,
                (h >> 32) as u32
            )
        };
        // Talkative users (low rank) are more often guards and wear the room's medal.
        let guard_level = if (rank < 64 && h2 % 10 < 3) || h2.is_multiple_of(100) {
            match h3 % 100 {
                0 => 1,
                1..=8 => 2,
                _ => 3,
            }
        } else {
            0
        };
        let medal = match (h >> 8) % 10 {
            0..=5 => Some(self.room_medal(h3, guard_level)),
            6 | 7 => Some(Medal {
                level: 1 + (h3 >> 8) as u32 % 25,
                name: MEDAL_NAMES[((h3 >> 20) % MEDAL_NAMES.len() as u64) as usize].to_owned(),
                anchor_uname: format!("主播{}", (h3 >> 24) % 10_000),
                anchor_room: 1_000 + (h3 >> 12) % 30_000_000,
                anchor_uid: 10_000 + (h3 >> 4) % 600_000_000,
                color: 6_067_854,
                color_border: 6_067_854,
                color_start: 6_067_854,
                color_end: 6_067_854,
                guard_level: 0,
                lit: !(h3 >> 40).is_multiple_of(3),
                score: (h3 >> 20) % 100_000,
                id: 10_000 + (h3 >> 30) % 900_000,
            }),
            _ => None,
        };
        let crc = format!("{:08x}", uid_crc32(uid));
        Arc::new(User {
            uid,
            name,
            face,
            user_level: ((h >> 20) % 61) as u32,
            wealth_level: ((h >> 28) % 50) as u32,
            guard_level,
            medal,
            name_color: GUARD_COLORS[guard_level as usize],
            crc,
        })
    }

    fn room_medal(&self, h: u64, guard_level: u8) -> Medal {
        let level = if guard_level > 0 {
            21 + (h % 15) as u32
        } else {
            1 + (h % 30) as u32
        };
        Medal {
            level,
            name: self.anchor.medal_name.clone(),
            anchor_uname: self.anchor.uname.clone(),
            anchor_room: self.anchor.room,
            anchor_uid: self.anchor.uid,
            color: 398_668,
            color_border: if guard_level > 0 { 16_771_156 } else { 398_668 },
            color_start: 398_668,
            color_end: 6_850_801,
            guard_level,
            lit: !h.is_multiple_of(4),
            score: 10_000 + (h >> 10) % 50_000_000,
            id: 100_000 + (self.anchor.room % 900_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop() -> Population {
        Population::new(
            7,
            Anchor {
                room: 5269,
                uid: 1,
                uname: "主播".into(),
                medal_name: "喵喵".into(),
            },
        )
    }

    #[test]
    fn users_are_stable_and_distinct() {
        let p = pop();
        assert_eq!(p.user(3).uid, p.user(3).uid);
        assert_eq!(p.user(3).name, p.user(3).name);
        assert_ne!(p.user(3).uid, p.user(4).uid);
    }

    #[test]
    fn crc_matches_known_value() {
        // CRC-32/IEEE of "123456789" is the standard check value 0xCBF43926.
        assert_eq!(uid_crc32(123_456_789), 0xCBF4_3926);
    }

    #[test]
    fn masking_keeps_first_char() {
        let p = pop();
        let u = p.user(9);
        let m = u.masked_name();
        assert!(m.ends_with("***"));
        assert_eq!(m.chars().next(), u.name.chars().next());
    }
}
