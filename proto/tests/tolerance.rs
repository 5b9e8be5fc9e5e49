//! Scenario: a newer producer adds fields, kinds and enum values; an older consumer built from
//! this crate keeps decoding what it knows and ignores or defaults the rest.

mod common;

use bilipulse_proto::{
    ConnState, Coverage, Danmaku, InteractAction, Kind, LiveSession, LiveState, Member, Other,
    Payload, RoomConfig, RoomEvent, RoomStatus, SCHEMA_VERSION, TopChatter, TopSpender,
    WindowSummary, decode, encode,
};
use common::arb;
use proptest::prelude::*;
use rmpv::Value;
use serde::Serialize;

/// Encodes `msg`, then appends `extra` fields to its top-level map.
fn with_extra_fields<T: Serialize>(msg: &T, extra: &[(String, Value)]) -> Vec<u8> {
    let mut value = rmpv::decode::read_value(&mut &encode(msg).unwrap()[..]).unwrap();
    let Value::Map(entries) = &mut value else {
        panic!("messages are maps")
    };
    entries.extend(
        extra
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), v.clone())),
    );
    to_bytes(&value)
}

fn to_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

/// A map from string keys to values, as a newer producer might write it.
fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

fn envelope(kind: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505_u64)),
        ("kind", Value::from(kind)),
        ("cmd", Value::from("VOTE_START")),
        ("ts", Value::from(1_764_000_000_123_i64)),
        ("recv", Value::from(1_764_000_000_187_i64)),
        ("id", Value::from("21452505:x00000000deadbeef")),
        ("src", Value::from("ingester-0")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn unknown_fields_on_an_event_are_ignored(event in arb::room_event(), extra in arb::extra_fields()) {
        let back: RoomEvent = decode(&with_extra_fields(&event, &extra)).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn unknown_fields_on_a_summary_are_ignored(s in arb::window_summary(), extra in arb::extra_fields()) {
        let back: WindowSummary = decode(&with_extra_fields(&s, &extra)).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn unknown_fields_on_a_session_are_ignored(s in arb::live_session(), extra in arb::extra_fields()) {
        let back: LiveSession = decode(&with_extra_fields(&s, &extra)).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn unknown_fields_on_a_status_are_ignored(s in arb::room_status(), extra in arb::extra_fields()) {
        let back: RoomStatus = decode(&with_extra_fields(&s, &extra)).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn unknown_fields_on_a_room_config_are_ignored(c in arb::room_config(), extra in arb::extra_fields()) {
        let back: RoomConfig = decode(&with_extra_fields(&c, &extra)).unwrap();
        prop_assert_eq!(back, c);
    }

    #[test]
    fn unknown_fields_on_a_member_are_ignored(m in arb::member(), extra in arb::extra_fields()) {
        let back: Member = decode(&with_extra_fields(&m, &extra)).unwrap();
        prop_assert_eq!(back, m);
    }

    /// A kind added by a newer schema lands in `Other`, its name kept, the envelope intact.
    #[test]
    fn an_unknown_kind_decodes_as_other(kind in "[a-z_]{1,12}", extra in arb::extra_fields()) {
        prop_assume!(Kind::parse(&kind).is_none());
        let mut fields = envelope(&kind);
        fields.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let event: RoomEvent = decode(&to_bytes(&map(&fields))).unwrap();
        prop_assert_eq!(event.kind(), Kind::Other);
        prop_assert_eq!(event.room, 21_452_505);
        prop_assert_eq!(
            event.payload,
            Payload::Other(Other { raw: String::new(), unknown_kind: Some(kind) })
        );
    }
}

#[test]
fn a_vote_event_from_a_newer_schema_decodes_as_other_with_its_kind_kept() {
    let mut fields = envelope("vote");
    fields.push(("question", Value::from("下一首唱什么？")));
    fields.push((
        "options",
        Value::Array(vec![Value::from("A"), Value::from("B")]),
    ));
    fields.push(("raw", Value::from(r#"{"cmd":"VOTE_START"}"#)));
    let event: RoomEvent = decode(&to_bytes(&map(&fields))).unwrap();
    assert_eq!(event.cmd, "VOTE_START");
    assert_eq!(event.id, "21452505:x00000000deadbeef");
    assert_eq!(
        event.payload,
        Payload::Other(Other {
            raw: r#"{"cmd":"VOTE_START"}"#.to_owned(),
            unknown_kind: Some("vote".to_owned()),
        })
    );
    // Re-encoding keeps the original kind visible to the next consumer.
    let again: RoomEvent = decode(&encode(&event).unwrap()).unwrap();
    assert_eq!(again, event);
}

#[test]
fn missing_kind_fields_take_their_defaults() {
    let mut fields = envelope("danmaku");
    fields.retain(|(k, _)| *k != "cmd");
    fields.push(("text", Value::from("只有文字")));
    let event: RoomEvent = decode(&to_bytes(&map(&fields))).unwrap();
    assert_eq!(event.cmd, "", "cmd is optional");
    assert_eq!(
        event.payload,
        Payload::Danmaku(Danmaku {
            text: "只有文字".to_owned(),
            ..Danmaku::default()
        })
    );
}

#[test]
fn a_medal_with_an_unknown_nested_field_still_decodes() {
    let mut fields = envelope("danmaku");
    fields.push((
        "medal",
        map(&[
            ("level", Value::from(21)),
            ("name", Value::from("葵花籽")),
            ("glow", map(&[("color", Value::from(0x00ff_cc00))])),
        ]),
    ));
    let event: RoomEvent = decode(&to_bytes(&map(&fields))).unwrap();
    let Payload::Danmaku(d) = event.payload else {
        panic!("danmaku expected")
    };
    let medal = d.medal.expect("medal kept");
    assert_eq!(
        (medal.level, medal.name.as_str(), medal.lit),
        (21, "葵花籽", false)
    );
}

#[test]
fn enum_values_added_later_decode_as_unknown() {
    let mut interact = envelope("interact");
    interact.push(("action", Value::from("gift_wall_visit")));
    interact.push(("msg_type", Value::from(42)));
    let event: RoomEvent = decode(&to_bytes(&map(&interact))).unwrap();
    let Payload::Interact(i) = event.payload else {
        panic!("interact expected")
    };
    assert_eq!((i.action, i.msg_type), (InteractAction::Unknown, 42));

    let mut live = envelope("live");
    live.push(("state", Value::from("teleported")));
    let event: RoomEvent = decode(&to_bytes(&map(&live))).unwrap();
    let Payload::Live(l) = event.payload else {
        panic!("live expected")
    };
    assert_eq!(l.state, LiveState::Unknown);

    let status = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
        ("src", Value::from("ingester-0")),
        ("ts", Value::from(1_764_000_000_000_i64)),
        ("state", Value::from("hibernating")),
    ]);
    let status: RoomStatus = decode(&to_bytes(&status)).unwrap();
    assert_eq!(status.state, ConnState::Unknown);
}

#[test]
fn messages_with_only_their_required_fields_decode_with_defaults() {
    let summary = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
        ("window", Value::from("1m")),
        ("start", Value::from(1_764_000_000_000_i64)),
        ("end", Value::from(1_764_000_060_000_i64)),
    ]);
    let summary: WindowSummary = decode(&to_bytes(&summary)).unwrap();
    assert_eq!(
        summary,
        WindowSummary {
            v: SCHEMA_VERSION,
            room: 21_452_505,
            window: "1m".to_owned(),
            start: 1_764_000_000_000,
            end: 1_764_000_060_000,
            ..WindowSummary::default()
        }
    );

    let session = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
        ("id", Value::from("21452505:1763990000000")),
        ("start", Value::from(1_763_990_000_000_i64)),
    ]);
    let session: LiveSession = decode(&to_bytes(&session)).unwrap();
    assert_eq!(
        session,
        LiveSession {
            v: SCHEMA_VERSION,
            room: 21_452_505,
            id: "21452505:1763990000000".to_owned(),
            start: 1_763_990_000_000,
            ..LiveSession::default()
        }
    );
    assert_eq!(
        (session.end, session.running, session.title),
        (None, false, None)
    );

    let config = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
    ]);
    let config: RoomConfig = decode(&to_bytes(&config)).unwrap();
    assert_eq!(
        (config.room, config.alias, config.label.as_str()),
        (21_452_505, None, "")
    );

    let member = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("id", Value::from("ingester-7")),
    ]);
    let member: Member = decode(&to_bytes(&member)).unwrap();
    assert_eq!(
        (member.id.as_str(), member.capacity, member.draining),
        ("ingester-7", 0, false)
    );
}

#[test]
fn an_older_schema_version_is_accepted() {
    let mut fields = envelope("like");
    fields[0] = ("v", Value::from(0));
    let event: RoomEvent = decode(&to_bytes(&map(&fields))).unwrap();
    assert_eq!((event.v, event.kind()), (0, Kind::Like));
}

/// A summary written before `rev`, `events`, the `*_mcny` fields, the estimate flags and the
/// new coverage fields existed still decodes: those take their defaults, and `complete` false
/// says, conservatively, that the window is not known to be complete.
#[test]
fn a_summary_from_before_the_exact_money_fields_decodes_with_defaults() {
    let coverage = map(&[
        ("connected_ms", Value::from(10_000)),
        ("masked_ms", Value::from(0)),
        ("reconnects", Value::from(0)),
        ("late_events", Value::from(2)),
        ("lost_events", Value::from(0)),
    ]);
    let old = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
        ("window", Value::from("10s")),
        ("start", Value::from(1_764_000_000_000_i64)),
        ("end", Value::from(1_764_000_010_000_i64)),
        ("danmaku", Value::from(42)),
        ("chatters", Value::from(31)),
        ("chatters_reliable", Value::from(true)),
        ("gifts", Value::from(7)),
        ("gift_cny", Value::from(15.5)),
        ("total_cny", Value::from(15.5)),
        ("coverage", coverage),
    ]);
    let s: WindowSummary = decode(&to_bytes(&old)).unwrap();
    assert_eq!((s.danmaku, s.chatters, s.gift_cny), (42, 31, 15.5));
    assert_eq!((s.rev, s.events), (0, 0));
    assert_eq!((s.chatters_estimated, s.chatters_error), (false, 0.0));
    assert_eq!(
        (s.gift_mcny, s.superchat_mcny, s.guard_mcny, s.total_mcny),
        (0, 0, 0, 0)
    );
    assert_eq!(
        s.coverage,
        Coverage {
            connected_ms: 10_000,
            late_events: 2,
            ..Coverage::default()
        }
    );
    assert!(!s.coverage.complete);
}

/// The entries of a session's top lists are maps too: a newer writer may add fields to them,
/// and may leave out ones an older one wrote.
#[test]
fn top_list_entries_with_unknown_or_missing_fields_still_decode() {
    let session = map(&[
        ("v", Value::from(SCHEMA_VERSION)),
        ("room", Value::from(21_452_505)),
        ("id", Value::from("21452505:1763990000000")),
        ("start", Value::from(1_763_990_000_000_i64)),
        (
            "top_chatters",
            Value::Array(vec![map(&[
                ("uid", Value::from(9_007_199_254_740_993_u64)),
                ("uname", Value::from("路过的星星")),
                ("count", Value::from(640)),
                ("zz_badge", map(&[("level", Value::from(3))])),
            ])]),
        ),
        (
            "top_spenders",
            Value::Array(vec![map(&[
                ("uid", Value::from(672_328_094)),
                ("mcny", Value::from(96_500)),
                ("zz_rank_delta", Value::from(-2)),
            ])]),
        ),
    ]);
    let s: LiveSession = decode(&to_bytes(&session)).unwrap();
    assert_eq!(
        s.top_chatters,
        [TopChatter {
            uid: 9_007_199_254_740_993,
            uid_crc32: String::new(),
            uname: "路过的星星".to_owned(),
            count: 640,
        }]
    );
    assert_eq!(
        s.top_spenders,
        [TopSpender {
            uid: 672_328_094,
            uname: String::new(),
            mcny: 96_500,
            cny: 0.0,
        }]
    );
}
