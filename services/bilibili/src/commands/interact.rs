//! Viewer actions: `INTERACT_WORD` (JSON) and `INTERACT_WORD_V2` (protobuf) — enter, follow,
//! share … — and `LIKE_INFO_V3_CLICK`, one viewer's like.

use bilipulse_proto::{Interact, InteractAction, Like, Payload, RoomEvent};
use serde::Deserialize;

use super::Ctx;
use super::json::{Int, OptInt, sat_u8, sat_u32};
use super::medal::{JsonMedal, medal};
use super::pb;
use super::time::Stamp;
use super::uinfo::UInfo;

/// `INTERACT_WORD.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InteractWord {
    uid: Option<Int>,
    uname: Option<String>,
    msg_type: Option<Int>,
    timestamp: Option<Int>,
    trigger_time: Option<Int>,
    fans_medal: Option<JsonMedal>,
    uinfo: Option<UInfo>,
}

/// `LIKE_INFO_V3_CLICK.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LikeClick {
    uid: Option<Int>,
    uname: Option<String>,
    uinfo: Option<UInfo>,
}

/// The name, falling back to `uinfo.base.name` when the flat one is empty.
fn name(flat: Option<String>, uinfo: Option<UInfo>) -> String {
    flat.filter(|n| !n.is_empty())
        .or_else(|| uinfo.and_then(UInfo::name))
        .unwrap_or_default()
}

pub(crate) fn interact_word(ctx: &Ctx<'_>, d: InteractWord) -> RoomEvent {
    let uid = d.uid.u64_or0();
    let msg_type = d.msg_type.u64_or0();
    let payload = Payload::Interact(Interact {
        uid,
        masked: uid == 0,
        uname: name(d.uname, d.uinfo),
        action: InteractAction::from_msg_type(msg_type),
        msg_type: sat_u32(msg_type),
        medal: d.fans_medal.and_then(JsonMedal::into_medal),
    });
    let ts = ctx.ts(&[
        d.trigger_time.map(|t| Stamp::Nanos(t.i64())),
        d.timestamp.map(|t| Stamp::Secs(t.i64())),
    ]);
    ctx.event(ts, None, payload)
}

pub(crate) fn interact_word_v2(ctx: &Ctx<'_>, m: pb::InteractWordV2) -> RoomEvent {
    let uinfo = m.uinfo.as_ref();
    let uid = if m.uid != 0 {
        m.uid
    } else {
        uinfo.map_or(0, |u| u.uid)
    };
    let uname = if !m.uname.is_empty() {
        m.uname.clone()
    } else {
        uinfo
            .and_then(|u| u.base.as_ref())
            .map(|b| b.name.clone())
            .unwrap_or_default()
    };
    let medal = m.fans_medal.as_ref().and_then(|f| {
        medal(
            sat_u32(f.medal_level),
            f.medal_name.clone(),
            f.anchor_roomid,
            f.target_id,
            sat_u8(f.guard_level),
            f.is_lighted != 0,
        )
    });
    let payload = Payload::Interact(Interact {
        uid,
        masked: uid == 0,
        uname,
        action: InteractAction::from_msg_type(m.msg_type),
        msg_type: sat_u32(m.msg_type),
        medal,
    });
    let ts = ctx.ts(&[
        (m.trigger_time != 0).then_some(Stamp::Nanos(m.trigger_time)),
        (m.timestamp != 0).then_some(Stamp::Secs(m.timestamp)),
    ]);
    ctx.event(ts, None, payload)
}

pub(crate) fn like_click(ctx: &Ctx<'_>, d: LikeClick) -> RoomEvent {
    let uid = d.uid.u64_or0();
    let payload = Payload::Like(Like {
        uid,
        masked: uid == 0,
        uname: name(d.uname, d.uinfo),
    });
    ctx.event(ctx.ts(&[]), None, payload)
}
