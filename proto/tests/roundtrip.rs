//! Scenario: every message a producer can build survives encode → decode unchanged, whatever
//! its values (ids beyond 2^53, any Unicode, options set or not, every enum variant).

mod common;

use bilipulse_proto::{Member, RoomConfig, RoomEvent, RoomStatus, WindowSummary, decode, encode};
use common::arb;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

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
