//! Audience counters: `WATCHED_CHANGE`, `ONLINE_RANK_COUNT`, `LIKE_INFO_V3_UPDATE`,
//! `ROOM_REAL_TIME_MESSAGE_UPDATE`. Each fills only the counters its command carries.

use bilipulse_proto::{Audience, Payload, RoomEvent};
use serde::Deserialize;

use super::json::Int;
use super::{Ctx, Malformed};

/// The `data` of any of the four commands; each reads its own keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AudienceData {
    num: Option<Int>,
    count: Option<Int>,
    online_count: Option<Int>,
    click_count: Option<Int>,
    fans: Option<Int>,
    fans_club: Option<Int>,
}

/// Which command the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Watched,
    OnlineRankCount,
    LikeTotal,
    RoomRealTime,
}

pub(crate) fn event(
    ctx: &Ctx<'_>,
    which: Counter,
    d: AudienceData,
) -> Result<RoomEvent, Malformed> {
    // Negative placeholders (`red_notice: -1` style) are not counts.
    let n = |v: Option<Int>| v.filter(|i| i.0 >= 0).map(Int::u64);
    let a = match which {
        Counter::Watched => Audience {
            watched: n(d.num),
            ..Audience::default()
        },
        Counter::OnlineRankCount => Audience {
            online_rank: n(d.count),
            online_count: n(d.online_count),
            ..Audience::default()
        },
        Counter::LikeTotal => Audience {
            likes: n(d.click_count),
            ..Audience::default()
        },
        Counter::RoomRealTime => Audience {
            fans: n(d.fans),
            fans_club: n(d.fans_club),
            ..Audience::default()
        },
    };
    if a == Audience::default() {
        return Err(Malformed::new(format!(
            "{which:?} data carries none of its counters"
        )));
    }
    Ok(ctx.event(ctx.ts(&[]), None, Payload::Audience(a)))
}
