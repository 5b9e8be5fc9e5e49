//! Fan medals (粉丝牌) in the JSON form most commands share (`medal_info`, `fans_medal`).

use bilipulse_proto::Medal;
use serde::Deserialize;

use super::json::{Int, OptInt};

/// `medal_info` / `fans_medal`: `{target_id, medal_level, medal_name, anchor_roomid,
/// guard_level, is_lighted, …}`; colours and the rest are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct JsonMedal {
    target_id: Option<Int>,
    medal_level: Option<Int>,
    medal_name: Option<String>,
    anchor_roomid: Option<Int>,
    guard_level: Option<Int>,
    is_lighted: Option<Int>,
}

impl JsonMedal {
    /// The medal, or `None` for Bilibili's "no medal" placeholder (level 0, no name).
    pub(crate) fn into_medal(self) -> Option<Medal> {
        medal(
            self.medal_level.u32_or0(),
            self.medal_name.unwrap_or_default(),
            self.anchor_roomid.u64_or0(),
            self.target_id.u64_or0(),
            self.guard_level.u8_or0(),
            self.is_lighted.u64_or0() != 0,
        )
    }
}

/// Builds a [`Medal`], treating level 0 without a name as "wears none": Bilibili sends a
/// zeroed medal object rather than omitting it.
pub(crate) fn medal(
    level: u32,
    name: String,
    room: u64,
    anchor_uid: u64,
    guard_level: u8,
    lit: bool,
) -> Option<Medal> {
    if level == 0 && name.is_empty() {
        return None;
    }
    Some(Medal {
        level,
        name,
        room,
        anchor_uid,
        guard_level,
        lit,
    })
}
