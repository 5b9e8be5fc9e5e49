//! Scenario: every message a producer can build survives encode → decode unchanged, whatever
//! its values (ids beyond 2^53, any Unicode, options set or not, every enum variant).

mod common;

use bilipulse_proto::{
    LiveSession, Member, RoomConfig, RoomEvent, RoomStatus, WindowSummary, decode, encode,
};
use common::arb;
use proptest::prelude::*;
use serde::Serialize;

/// The top-level keys of `msg`'s encoding, in order.
fn keys<T: Serialize>(msg: &T) -> Vec<String> {
    let value = rmpv::decode::read_value(&mut &encode(msg).unwrap()[..]).unwrap();
    value
        .as_map()
        .expect("top level is a map")
        .iter()
        .map(|(k, _)| k.as_str().expect("keys are strings").to_owned())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_fast_event_decoder_agrees_with_the_generic_one(event in arb::room_event()) {
        let bytes = encode(&event).unwrap();
        let fast = bilipulse_proto::decode_event(&bytes).unwrap();
        let generic: RoomEvent = decode(&bytes).unwrap();
        prop_assert_eq!(&fast, &generic);
        prop_assert_eq!(fast, event);
    }

    #[test]
    fn the_fast_event_decoder_never_panics_and_is_never_looser(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let fast = bilipulse_proto::decode_event(&bytes);
        let generic = decode::<RoomEvent>(&bytes);
        match (&fast, &generic) {
            (Ok(f), Ok(g)) => prop_assert_eq!(f, g),
            // Never looser than the generic decoder.
            (Ok(f), Err(e)) => prop_assert!(false, "fast accepted {f:?}, generic refused: {e}"),
            _ => {}
        }
    }

    #[test]
    fn any_room_event_round_trips(event in arb::room_event()) {
        let bytes = encode(&event).unwrap();
        let back: RoomEvent = decode(&bytes).unwrap();
        prop_assert_eq!(back.kind(), event.kind());
        prop_assert_eq!(back, event);
    }

    #[test]
    fn any_window_summary_round_trips(summary in arb::window_summary()) {
        let back: WindowSummary = decode(&encode(&summary).unwrap()).unwrap();
        prop_assert_eq!(back, summary);
    }

    #[test]
    fn any_live_session_round_trips(session in arb::live_session()) {
        let back: LiveSession = decode(&encode(&session).unwrap()).unwrap();
        prop_assert_eq!(back, session);
    }

    /// Optional fields are written as nil, never left out: every summary and every session has
    /// the same keys, whatever is known.
    #[test]
    fn every_summary_and_session_has_the_same_keys(
        summary in arb::window_summary(),
        session in arb::live_session(),
    ) {
        prop_assert_eq!(keys(&summary), keys(&WindowSummary::default()));
        prop_assert_eq!(keys(&session), keys(&LiveSession::default()));
    }

    #[test]
    fn any_room_status_round_trips(status in arb::room_status()) {
        let back: RoomStatus = decode(&encode(&status).unwrap()).unwrap();
        prop_assert_eq!(back, status);
    }

    #[test]
    fn any_room_config_round_trips(config in arb::room_config()) {
        let back: RoomConfig = decode(&encode(&config).unwrap()).unwrap();
        prop_assert_eq!(back, config);
    }

    #[test]
    fn any_member_round_trips(member in arb::member()) {
        let back: Member = decode(&encode(&member).unwrap()).unwrap();
        prop_assert_eq!(back, member);
    }

    /// The wire shape other languages rely on: one flat map whose `kind` names the payload and
    /// whose envelope keys are always present.
    #[test]
    fn an_event_is_one_flat_map_tagged_by_kind(event in arb::room_event()) {
        let value = rmpv::decode::read_value(&mut &encode(&event).unwrap()[..]).unwrap();
        let map = value.as_map().expect("top level is a map");
        let get = |k: &str| map.iter().find(|(key, _)| key.as_str() == Some(k)).map(|(_, v)| v);
        prop_assert_eq!(get("kind").and_then(|v| v.as_str()), Some(event.kind().as_str()));
        prop_assert_eq!(get("room").and_then(|v| v.as_u64()), Some(event.room));
        for key in ["v", "room", "kind", "cmd", "ts", "recv", "id", "src"] {
            prop_assert!(get(key).is_some(), "envelope key {key} missing");
        }
        prop_assert!(map.iter().all(|(k, _)| k.is_str()), "every key is a string");
    }
}
