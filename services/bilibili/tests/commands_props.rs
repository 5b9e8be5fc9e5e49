//! Property tests: the normaliser never panics, whatever arrives, and every object with a
//! string `cmd` gives at least one event.

use bilipulse_bilibili::commands::{normalize, peek_cmd, room_hint};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CMDS: &[&str] = &[
    "DANMU_MSG",
    "DANMU_MSG:4:0:2:2:2:0",
    "DANMU_MSG_MIRROR",
    "SEND_GIFT",
    "SEND_GIFT_V2",
    "COMBO_SEND",
    "SUPER_CHAT_MESSAGE",
    "SUPER_CHAT_MESSAGE_JPN",
    "GUARD_BUY",
    "USER_TOAST_MSG",
    "USER_TOAST_MSG_V2",
    "INTERACT_WORD",
    "INTERACT_WORD_V2",
    "LIKE_INFO_V3_CLICK",
    "LIKE_INFO_V3_UPDATE",
    "WATCHED_CHANGE",
    "ONLINE_RANK_COUNT",
    "ROOM_REAL_TIME_MESSAGE_UPDATE",
    "LIVE",
    "PREPARING",
    "ROOM_CHANGE",
    "CUT_OFF",
    "CUT_OFF_V2",
    "ONLINE_RANK_V3",
    "UNKNOWN_CMD",
];

/// Arbitrary JSON, biased towards the shapes Bilibili uses (numbers as strings, nulls, arrays).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9*{}\"\\\\:]{0,12}".prop_map(Value::String),
        Just(Value::String("CAE=".into())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop_oneof![
            Just("uid".to_string()),
            Just("pb".to_string()),
            Just("extra".to_string()),
            Just("medal_info".to_string()),
            Just("price".to_string()),
            Just("gift_list".to_string()),
            "[a-z_]{1,10}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..20).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = normalize(1, &body, 1_790_000_000_000, "p");
        let _ = peek_cmd(&body);
        let _ = room_hint(&body);
    }

    #[test]
    fn every_command_object_gives_events(
        cmd in prop::sample::select(CMDS),
        info in json_value(),
        data in json_value(),
        send_time in json_value(),
        recv in any::<i64>(),
    ) {
        let body = serde_json::json!({
            "cmd": cmd, "info": info, "data": data, "send_time": send_time, "roomid": "12"
        })
        .to_string();
        let events = normalize(1, body.as_bytes(), recv, "p").expect("a command object");
        prop_assert!(!events.is_empty());
        prop_assert!(events.iter().all(|e| e.cmd == cmd && e.recv == recv));
        prop_assert_eq!(peek_cmd(body.as_bytes()), Some(cmd));
    }
}

#[test]
fn damaged_fixtures_never_panic() {
    let Some(dir) = bilipulse_testkit::fixtures::dir() else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for sub in ["messages", "messages-sanitized", "messages-redacted"] {
        for path in bilipulse_testkit::fixtures::files(&dir, sub, "json") {
            let body = std::fs::read(&path).unwrap();
            let len = body.len();
            // Truncations at every 7th byte and random byte edits.
            for cut in (0..len).step_by(7) {
                let _ = normalize(1, &body[..cut], 0, "p");
            }
            let edits = prop::collection::vec((0..len, any::<u8>()), 1..6);
            runner
                .run(&edits, |edits| {
                    let mut b = body.clone();
                    for (i, v) in edits {
                        b[i] = v;
                    }
                    if let Ok(events) = normalize(1, &b, 0, "p") {
                        prop_assert!(!events.is_empty());
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
}
