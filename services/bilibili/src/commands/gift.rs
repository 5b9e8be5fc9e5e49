//! Gifts: `SEND_GIFT` (JSON), `SEND_GIFT_V2` (protobuf, one event per `gift_list` item) and
//! `COMBO_SEND` (a summary of gifts already reported, flagged `combo_summary`).

use bilipulse_proto::{BlindBox, CoinType, Gift, Payload, RoomEvent};
use serde::Deserialize;

use super::json::{IdText, Int, OptInt, sat_u8, sat_u32};
use super::medal::{JsonMedal, medal};
use super::pb;
use super::time::Stamp;
use super::{Ctx, Malformed};

/// `SEND_GIFT.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SendGift {
    uid: Option<Int>,
    uname: Option<String>,
    #[serde(rename = "giftId")]
    gift_id: Option<Int>,
    #[serde(rename = "giftName")]
    gift_name: Option<String>,
    num: Option<Int>,
    price: Option<Int>,
    coin_type: Option<String>,
    total_coin: Option<Int>,
    blind_gift: Option<JsonBlind>,
    batch_combo_id: Option<String>,
    super_batch_gift_num: Option<Int>,
    guard_level: Option<Int>,
    medal_info: Option<JsonMedal>,
    tid: Option<IdText>,
    timestamp: Option<Int>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonBlind {
    original_gift_id: Option<Int>,
    original_gift_name: Option<String>,
    original_gift_price: Option<Int>,
}

/// `COMBO_SEND.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ComboSend {
    uid: Option<Int>,
    uname: Option<String>,
    gift_id: Option<Int>,
    gift_name: Option<String>,
    total_num: Option<Int>,
    combo_total_coin: Option<Int>,
    coin_type: Option<String>,
    batch_combo_id: Option<String>,
    batch_combo_num: Option<Int>,
    medal_info: Option<JsonMedal>,
}

fn coin_type(s: Option<&str>) -> Result<CoinType, Malformed> {
    match s {
        None => Ok(CoinType::Gold),
        Some(s) if s.eq_ignore_ascii_case("gold") => Ok(CoinType::Gold),
        Some(s) if s.eq_ignore_ascii_case("silver") => Ok(CoinType::Silver),
        // Counting an unknown currency as gold would invent revenue; keep the body instead.
        Some(s) => Err(Malformed::new(format!("unknown coin_type {s:?}"))),
    }
}

/// The native id of one gift: Bilibili's transaction id, else the batch id with what varies
/// between the sends of one batch.
fn gift_native(tid: &str, batch: &str, gift_id: u64, ordinal: u64, ts_s: i64) -> Option<String> {
    if !tid.is_empty() {
        Some(format!("gift:{tid}"))
    } else if !batch.is_empty() {
        Some(format!("gift:{batch}:{gift_id}:{ordinal}:{ts_s}"))
    } else {
        None
    }
}

pub(crate) fn send_gift(ctx: &Ctx<'_>, d: SendGift) -> Result<RoomEvent, Malformed> {
    let coin_type = coin_type(d.coin_type.as_deref())?;
    let ts_s = d.timestamp.map(Int::i64);
    let batch = d.batch_combo_id.unwrap_or_default();
    let gift_id = d.gift_id.u64_or0();
    let native = gift_native(
        d.tid.as_ref().map_or("", |t| t.0.as_str()),
        &batch,
        gift_id,
        d.super_batch_gift_num.u64_or0(),
        ts_s.unwrap_or(0),
    );
    let uid = d.uid.u64_or0();
    let payload = Payload::Gift(Gift {
        uid,
        masked: uid == 0,
        uname: d.uname.unwrap_or_default(),
        gift_id,
        gift_name: d.gift_name.unwrap_or_default(),
        num: d.num.u64_or0(),
        price: d.price.u64_or0(),
        coin_type,
        total_coin: d.total_coin.u64_or0(),
        blind_box: d.blind_gift.map(|b| BlindBox {
            gift_id: b.original_gift_id.u64_or0(),
            gift_name: b.original_gift_name.unwrap_or_default(),
            price: b.original_gift_price.u64_or0(),
        }),
        combo_id: batch,
        guard_level: d.guard_level.u8_or0(),
        medal: d.medal_info.and_then(JsonMedal::into_medal),
        combo_summary: false,
    });
    let ts = ctx.ts(&[ts_s.map(Stamp::Secs)]);
    Ok(ctx.event(ts, native.as_deref(), payload))
}

pub(crate) fn send_gift_v2(ctx: &Ctx<'_>, m: pb::SendGiftV2) -> Result<Vec<RoomEvent>, Malformed> {
    if m.gift_list.is_empty() {
        return Err(Malformed::new(
            "SEND_GIFT_V2 without gift_list items".into(),
        ));
    }
    let sender = m.sender_uinfo.as_ref();
    let uid = if m.uid != 0 {
        m.uid
    } else {
        sender.map_or(0, |s| s.uid)
    };
    let uname = if !m.uname.is_empty() {
        m.uname.clone()
    } else {
        sender
            .and_then(|s| s.base.as_ref())
            .map(|b| b.name.clone())
            .unwrap_or_default()
    };
    let worn = m.medal_info.as_ref().and_then(|md| {
        medal(
            sat_u32(md.medal_level),
            md.medal_name.clone(),
            md.anchor_roomid,
            md.target_id,
            sat_u8(md.guard_level),
            md.is_lighted != 0,
        )
    });
    let blind = m.blind_gift.as_ref().map(|b| BlindBox {
        gift_id: b.original_gift_id,
        gift_name: b.original_gift_name.clone(),
        price: b.original_gift_price,
    });
    let several = m.gift_list.len() > 1;
    let mut out = Vec::with_capacity(m.gift_list.len());
    for (i, item) in m.gift_list.iter().enumerate() {
        let coin_type = coin_type((!item.coin_type.is_empty()).then_some(item.coin_type.as_str()))?;
        let mut native = gift_native(
            &item.tid,
            &item.batch_combo_id,
            item.gift_id,
            item.super_batch_gift_num,
            item.timestamp,
        );
        // Items of one message must never share an id, or all but one would be deduplicated
        // away: suffix the index when the tid is not unique within the message.
        let shared_tid = several
            && m.gift_list
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && o.tid == item.tid);
        let native = match (native.take(), several) {
            (Some(n), true) if shared_tid || item.tid.is_empty() => Some(format!("{n}#{i}")),
            (Some(n), _) => Some(n),
            (None, true) => Some(format!("gift:{}#{i}", ctx.hash_id())),
            (None, false) => None,
        };
        let payload = Payload::Gift(Gift {
            uid,
            masked: uid == 0,
            uname: uname.clone(),
            gift_id: item.gift_id,
            gift_name: item.gift_name.clone(),
            num: item.num,
            price: item.price,
            coin_type,
            total_coin: item.total_coin,
            blind_box: blind.clone(),
            combo_id: item.batch_combo_id.clone(),
            guard_level: sat_u8(m.guard_level),
            medal: worn.clone(),
            combo_summary: false,
        });
        let ts = ctx.ts(&[Some(Stamp::Secs(item.timestamp))]);
        out.push(ctx.event(ts, native.as_deref(), payload));
    }
    Ok(out)
}

pub(crate) fn combo_send(ctx: &Ctx<'_>, d: ComboSend) -> Result<RoomEvent, Malformed> {
    let coin_type = coin_type(d.coin_type.as_deref())?;
    let batch = d.batch_combo_id.unwrap_or_default();
    let native =
        (!batch.is_empty()).then(|| format!("combo:{batch}:{}", d.batch_combo_num.u64_or0()));
    let num = d.total_num.u64_or0();
    let total = d.combo_total_coin.u64_or0();
    let uid = d.uid.u64_or0();
    let payload = Payload::Gift(Gift {
        uid,
        masked: uid == 0,
        uname: d.uname.unwrap_or_default(),
        gift_id: d.gift_id.u64_or0(),
        gift_name: d.gift_name.unwrap_or_default(),
        num,
        // COMBO_SEND states no unit price; derive it from the combo's total.
        price: total.checked_div(num).unwrap_or(0),
        coin_type,
        total_coin: total,
        blind_box: None,
        combo_id: batch,
        guard_level: 0,
        medal: d.medal_info.and_then(JsonMedal::into_medal),
        combo_summary: true,
    });
    let ts = ctx.ts(&[]);
    Ok(ctx.event(ts, native.as_deref(), payload))
}
