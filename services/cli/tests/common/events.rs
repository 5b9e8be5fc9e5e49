//! Hand-made room events for the recount tests, written once: shared by the integration tests
//! (`tests/recount.rs`) and the unit tests of `src/recount` (included there by path).

#![allow(dead_code)] // each user takes a different part

use bilipulse_proto::{
    CoinType, Danmaku, Gift, Interact, InteractAction, Live, LiveState, Payload, RoomEvent,
    SCHEMA_VERSION,
};

/// An event of `room` at `ts` (also its receive time), with an id unique per room and time.
pub fn ev(room: u64, ts: i64, payload: Payload) -> RoomEvent {
    RoomEvent {
        v: SCHEMA_VERSION,
        room,
        cmd: "TEST".into(),
        ts,
        recv: ts,
        id: format!("{room}:t{ts}"),
        src: "test".into(),
        payload,
    }
}

/// A danmaku.
pub fn dm(uid: u64, crc: &str, masked: bool, is_lottery: bool) -> Payload {
    Payload::Danmaku(Danmaku {
        uid,
        uid_crc32: crc.into(),
        masked,
        is_lottery,
        ..Default::default()
    })
}

/// A gift worth `total_coin`.
pub fn gift(total_coin: u64, coin_type: CoinType, combo_summary: bool) -> Payload {
    Payload::Gift(Gift {
        total_coin,
        coin_type,
        combo_summary,
        ..Default::default()
    })
}

/// An enter, follow or share.
pub fn interact(action: InteractAction) -> Payload {
    Payload::Interact(Interact {
        action,
        ..Default::default()
    })
}

/// A room state change.
pub fn live(state: LiveState) -> Payload {
    Payload::Live(Live {
        state,
        ..Default::default()
    })
}
