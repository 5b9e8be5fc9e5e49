//! `SUPER_CHAT_MESSAGE` and its duplicate `SUPER_CHAT_MESSAGE_JPN` (string ids): paid
//! pinned messages. Both give the native id `sc:<id>` so the copy is deduplicated.

use bilipulse_proto::{Payload, RoomEvent, SuperChat};
use serde::Deserialize;

use super::json::{Int, OptInt};
use super::medal::JsonMedal;
use super::time::Stamp;
use super::uinfo::UInfo;
use super::{Ctx, Malformed};

/// `SUPER_CHAT_MESSAGE(_JPN).data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SuperChatData {
    id: Option<Int>,
    uid: Option<Int>,
    price: Option<Int>,
    message: Option<String>,
    time: Option<Int>,
    start_time: Option<Int>,
    ts: Option<Int>,
    user_info: Option<ScUser>,
    uinfo: Option<UInfo>,
    medal_info: Option<JsonMedal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ScUser {
    uname: Option<String>,
    guard_level: Option<Int>,
}

pub(crate) fn event(ctx: &Ctx<'_>, d: SuperChatData) -> Result<RoomEvent, Malformed> {
    let Some(id) = d.id.filter(|i| i.0 > 0) else {
        return Err(Malformed::new("Super Chat without an id".into()));
    };
    let user = d.user_info.unwrap_or_default();
    let uname = user
        .uname
        .filter(|n| !n.is_empty())
        .or_else(|| d.uinfo.and_then(UInfo::name))
        .unwrap_or_default();
    let payload = Payload::Superchat(SuperChat {
        sc_id: id.u64(),
        uid: d.uid.u64_or0(),
        uname,
        price_cny: d.price.u64_or0(),
        message: d.message.unwrap_or_default(),
        duration_s: d.time.u64_or0(),
        guard_level: user.guard_level.u8_or0(),
        medal: d.medal_info.and_then(JsonMedal::into_medal),
    });
    let ts = ctx.ts(&[
        d.start_time.map(|s| Stamp::Secs(s.i64())),
        d.ts.map(|s| Stamp::Secs(s.i64())),
    ]);
    Ok(ctx.event(ts, Some(&format!("sc:{}", id.0)), payload))
}
