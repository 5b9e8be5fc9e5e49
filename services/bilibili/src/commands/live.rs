//! Room state: `LIVE`, `PREPARING` (`round: 1` = rotation), `ROOM_CHANGE`, `CUT_OFF`,
//! `CUT_OFF_V2`. `LIVE`, `PREPARING` and `CUT_OFF` keep their fields at the top level of the
//! body (read by the envelope parser); the others use `data`.

use bilipulse_proto::{Live, LiveState, Payload, RoomEvent};
use serde::Deserialize;

use super::Ctx;
use super::body::Top;
use super::json::Int;
use super::time::Stamp;

/// `ROOM_CHANGE.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RoomChange {
    title: Option<String>,
    area_name: Option<String>,
}

/// `CUT_OFF_V2.data`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CutOffV2 {
    timestamp: Option<Int>,
    cut_off_data: Option<CutOffData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CutOffData {
    cut_off_title: Option<String>,
    cut_off_message_list: Vec<CutOffLine>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CutOffLine {
    label: Option<String>,
    content: Option<String>,
}

pub(crate) fn live(ctx: &Ctx<'_>, top: &Top) -> RoomEvent {
    let live = Live {
        state: LiveState::Live,
        live_time: top.live_time,
        ..Live::default()
    };
    let ts = ctx.ts(&[top.live_time.map(Stamp::Secs)]);
    ctx.event(ts, None, Payload::Live(live))
}

pub(crate) fn preparing(ctx: &Ctx<'_>, top: &Top) -> RoomEvent {
    let state = if top.round == Some(1) {
        LiveState::Rotation
    } else {
        LiveState::Preparing
    };
    let live = Live {
        state,
        ..Live::default()
    };
    ctx.event(ctx.ts(&[]), None, Payload::Live(live))
}

pub(crate) fn room_change(ctx: &Ctx<'_>, d: RoomChange) -> RoomEvent {
    let live = Live {
        state: LiveState::RoomChange,
        title: d.title,
        area: d.area_name,
        ..Live::default()
    };
    ctx.event(ctx.ts(&[]), None, Payload::Live(live))
}

pub(crate) fn cut_off(ctx: &Ctx<'_>, top: &Top) -> RoomEvent {
    let live = Live {
        state: LiveState::CutOff,
        message: top.msg.clone(),
        ..Live::default()
    };
    ctx.event(ctx.ts(&[]), None, Payload::Live(live))
}

pub(crate) fn cut_off_v2(ctx: &Ctx<'_>, d: CutOffV2) -> RoomEvent {
    // The reason is spread over labelled lines; keep them readable as one message.
    let message = d.cut_off_data.map(|c| {
        let mut lines: Vec<String> = c.cut_off_title.into_iter().collect();
        lines.extend(c.cut_off_message_list.into_iter().map(|l| {
            match (l.label.unwrap_or_default(), l.content.unwrap_or_default()) {
                (label, content) if label.is_empty() => content,
                (label, content) => format!("{label}: {content}"),
            }
        }));
        lines.join("\n")
    });
    let live = Live {
        state: LiveState::CutOff,
        message,
        ..Live::default()
    };
    let ts = ctx.ts(&[d.timestamp.map(|t| Stamp::Secs(t.i64()))]);
    ctx.event(ts, None, Payload::Live(live))
}
