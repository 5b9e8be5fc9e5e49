//! Guard (大航海) purchases. One purchase arrives three times — `USER_TOAST_MSG_V2`,
//! `USER_TOAST_MSG`, `GUARD_BUY` — and all three give the native id
//! `guard:<uid>:<start_time>` (the toasts' `payflow_id` is missing from `GUARD_BUY`, but the
//! buyer and the start of the guard period agree across the three), so the purchase is one
//! event whichever copy comes first.

use bilipulse_proto::{Guard, Payload, RoomEvent};
use serde::Deserialize;

use super::json::{IdText, Int, OptInt};
use super::time::Stamp;
use super::uinfo::UInfo;
use super::{Ctx, Malformed};

/// `GUARD_BUY.data` and `USER_TOAST_MSG.data` (the toast has more fields; both are flat).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GuardFlat {
    uid: Option<Int>,
    username: Option<String>,
    guard_level: Option<Int>,
    num: Option<Int>,
    unit: Option<String>,
    price: Option<Int>,
    payflow_id: Option<IdText>,
    start_time: Option<Int>,
}

/// `USER_TOAST_MSG_V2.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ToastV2 {
    sender_uinfo: Option<UInfo>,
    guard_info: Option<GuardInfo>,
    pay_info: Option<PayInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GuardInfo {
    guard_level: Option<Int>,
    start_time: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PayInfo {
    payflow_id: Option<IdText>,
    price: Option<Int>,
    num: Option<Int>,
    unit: Option<String>,
}

pub(crate) fn flat(ctx: &Ctx<'_>, d: GuardFlat) -> Result<RoomEvent, Malformed> {
    let guard = Guard {
        uid: d.uid.u64_or0(),
        uname: d.username.unwrap_or_default(),
        level: d.guard_level.u8_or0(),
        num: d.num.u32_or0(),
        unit: d.unit.unwrap_or_default(),
        price_gold: d.price.u64_or0(),
        payflow_id: d.payflow_id.map(|p| p.0).unwrap_or_default(),
    };
    Ok(finish(ctx, guard, d.start_time))
}

pub(crate) fn toast_v2(ctx: &Ctx<'_>, d: ToastV2) -> Result<RoomEvent, Malformed> {
    let (uid, uname) = match d.sender_uinfo {
        Some(s) => (s.uid.u64_or0(), s.name().unwrap_or_default()),
        None => (0, String::new()),
    };
    let info = d.guard_info.unwrap_or_default();
    let pay = d.pay_info.unwrap_or_default();
    let guard = Guard {
        uid,
        uname,
        level: info.guard_level.u8_or0(),
        num: pay.num.u32_or0(),
        unit: pay.unit.unwrap_or_default(),
        price_gold: pay.price.u64_or0(),
        payflow_id: pay.payflow_id.map(|p| p.0).unwrap_or_default(),
    };
    Ok(finish(ctx, guard, info.start_time))
}

fn finish(ctx: &Ctx<'_>, guard: Guard, start_time: Option<Int>) -> RoomEvent {
    // Without a buyer uid (masked) the three copies cannot be matched; they fall back to the
    // body hash and stay three events.
    let native = match start_time {
        Some(st) if guard.uid != 0 => Some(format!("guard:{}:{}", guard.uid, st.0)),
        _ => None,
    };
    let ts = ctx.ts(&[start_time.map(|s| Stamp::Secs(s.i64()))]);
    ctx.event(ts, native.as_deref(), Payload::Guard(guard))
}
