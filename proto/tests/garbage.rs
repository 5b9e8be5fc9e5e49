//! Scenario: whatever arrives on a bilipulse subject (random bytes, truncated or corrupted
//! messages, foreign encodings, messages from a future schema), decoding never panics and
//! says what is wrong with a typed error.

mod common;

use bilipulse_proto::{
    DecodeError, LiveSession, Member, RoomConfig, RoomEvent, RoomStatus, WindowSummary,
    codec::MAX_DEPTH, decode, encode,
};
use common::samples::{self, Message};
use proptest::prelude::*;
use rmpv::Value;

/// Decodes `bytes` as every message type, returning each result's error (if any).
fn decode_as_every_type(bytes: &[u8]) -> [Option<DecodeError>; 6] {
    [
        decode::<RoomEvent>(bytes).err(),
        decode::<WindowSummary>(bytes).err(),
        decode::<LiveSession>(bytes).err(),
        decode::<RoomStatus>(bytes).err(),
        decode::<RoomConfig>(bytes).err(),
        decode::<Member>(bytes).err(),
    ]
}

/// A sample's name, the sample, and its encoding as map entries.
type SampleMap = (&'static str, Message, Vec<(Value, Value)>);

fn sample_maps() -> Vec<SampleMap> {
    samples::all()
        .into_iter()
        .map(|g| {
            let Value::Map(m) = rmpv::decode::read_value(&mut &g.message.encode()[..]).unwrap()
            else {
                panic!("samples encode as maps")
            };
            (g.name, g.message, m)
        })
        .collect()
}

fn to_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

/// `entries` with `key` set to `value` (or removed when `value` is `None`).
fn with_field(entries: &[(Value, Value)], key: &str, value: Option<Value>) -> Vec<u8> {
    let mut out: Vec<(Value, Value)> = entries
        .iter()
        .filter(|(k, _)| k.as_str() != Some(key))
        .cloned()
        .collect();
    if let Some(v) = value {
        out.push((Value::from(key), v));
    }
    to_bytes(&Value::Map(out))
}

#[track_caller]
fn assert_malformed(result: Result<Message, DecodeError>, what: &str) -> String {
    match result {
        Err(DecodeError::Malformed(e)) => e.to_string(),
        other => panic!("{what}: expected DecodeError::Malformed, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic_and_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for err in decode_as_every_type(&bytes) {
            prop_assert!(err.is_some());
        }
    }

    /// Random bytes behind a map header get further into the decoder than plain noise.
    #[test]
    fn random_map_bodies_never_panic_and_are_refused(
        header in prop_oneof![0x80_u8..=0x8f, Just(0xde), Just(0xdf)],
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes: Vec<u8> = std::iter::once(header).chain(body).collect();
        for err in decode_as_every_type(&bytes) {
            prop_assert!(err.is_some());
        }
    }

    /// Corrupting a real message anywhere may or may not leave it decodable, but never panics.
    #[test]
    fn corrupted_messages_never_panic(
        pick in 0..samples::all().len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3_u8), 1..8),
    ) {
        let mut bytes = samples::all()[pick].message.encode();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        let _ = decode_as_every_type(&bytes);
    }

    #[test]
    fn any_event_cut_short_is_refused(event in common::arb::room_event(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&event).unwrap();
        let cut = cut.index(bytes.len());
        prop_assert!(matches!(decode::<RoomEvent>(&bytes[..cut]), Err(DecodeError::Malformed(_))));
    }
}

#[test]
fn empty_input_is_malformed() {
    for err in decode_as_every_type(&[]) {
        assert!(matches!(err, Some(DecodeError::Malformed(_))), "{err:?}");
    }
}

#[test]
fn every_sample_cut_short_anywhere_is_malformed() {
    for g in samples::all() {
        let bytes = g.message.encode();
        for cut in 0..bytes.len() {
            assert_malformed(
                g.message.decode_like(&bytes[..cut]),
                &format!("{} cut at {cut}", g.name),
            );
        }
    }
}

/// Positional ("compact") MessagePack is not the contract: it would be read field by field in
/// declaration order, which silently breaks the moment a field is added.
#[test]
fn a_msgpack_array_is_malformed() {
    // An event's flattened payload makes even rmp-serde's compact form a map, so events are
    // covered by the literal array below.
    for g in samples::all()
        .into_iter()
        .filter(|g| !matches!(g.message, Message::Event(_)))
    {
        let compact = match &g.message {
            Message::Event(m) => rmp_serde::to_vec(m),
            Message::Summary(m) => rmp_serde::to_vec(m),
            Message::Session(m) => rmp_serde::to_vec(m),
            Message::Status(m) => rmp_serde::to_vec(m),
            Message::Config(m) => rmp_serde::to_vec(m),
            Message::Member(m) => rmp_serde::to_vec(m),
            Message::RawFrame(m) => rmp_serde::to_vec(m),
        }
        .unwrap();
        assert!(
            matches!(compact[0], 0x90..=0x9f | 0xdc | 0xdd),
            "{}: compact is an array",
            g.name
        );
        assert_malformed(g.message.decode_like(&compact), g.name);
    }
    let array = to_bytes(&Value::Array(vec![
        Value::from(1),
        Value::from(21_452_505),
        Value::from("danmaku"),
        Value::from("DANMU_MSG"),
    ]));
    for err in decode_as_every_type(&array) {
        assert!(matches!(err, Some(DecodeError::Malformed(_))), "{err:?}");
    }
}

#[test]
fn scalars_at_the_top_level_are_malformed() {
    for value in [
        Value::Nil,
        Value::from(1),
        Value::from("bili"),
        Value::Binary(vec![0x81]),
    ] {
        for err in decode_as_every_type(&to_bytes(&value)) {
            assert!(
                matches!(err, Some(DecodeError::Malformed(_))),
                "{value}: {err:?}"
            );
        }
    }
}

/// The fields `proto/README.md` lists as required, per message type.
fn required_fields(message: &Message) -> &'static [&'static str] {
    match message {
        Message::Event(_) => &["v", "room", "kind", "ts", "recv", "id", "src"],
        Message::Summary(_) => &["v", "room", "window", "start", "end"],
        Message::Session(_) => &["v", "room", "id", "start"],
        Message::Status(_) => &["v", "room", "src", "ts", "state"],
        Message::Config(_) => &["v", "room"],
        Message::Member(_) => &["v", "id"],
        Message::RawFrame(_) => &["v", "room", "src", "recv", "bodies"],
    }
}

#[test]
fn the_required_fields_of_every_type_are_each_required() {
    for (name, message, entries) in sample_maps() {
        for &key in required_fields(&message) {
            let what = format!("{name} without {key}");
            let msg =
                assert_malformed(message.decode_like(&with_field(&entries, key, None)), &what);
            assert!(msg.contains(key), "{what}: the error names `{key}`: {msg}");
        }
    }
}

/// Every field not listed as required may be left out (a writer from before it existed): the
/// message still decodes.
#[test]
fn every_other_field_may_be_left_out() {
    for (name, message, entries) in sample_maps() {
        for (key, _) in &entries {
            let key = key.as_str().unwrap();
            if required_fields(&message).contains(&key) {
                continue;
            }
            if let Err(e) = message.decode_like(&with_field(&entries, key, None)) {
                panic!("{name} without {key} does not decode: {e}");
            }
        }
    }
}

#[test]
fn fields_of_the_wrong_type_are_malformed() {
    let cases: [(&str, &str, Value); 12] = [
        ("danmaku", "room", Value::from("21452505")),
        ("danmaku", "ts", Value::from(1.5)),
        ("danmaku", "text", Value::from(42)),
        ("danmaku", "medal", Value::from("葵花籽")),
        ("gift", "coin_type", Value::from(true)),
        ("window_summary", "danmaku", Value::from(-1)),
        ("window_summary", "gift_mcny", Value::from(15.5)),
        ("live_session", "end", Value::from("2025-11-24T16:00:06Z")),
        (
            "live_session",
            "top_chatters",
            Value::from("夏日葵Official"),
        ),
        ("live_session", "rev", Value::from(u64::from(u32::MAX) + 1)),
        ("room_status", "state", Value::Nil),
        ("member", "capacity", Value::from(u64::MAX)),
    ];
    let maps = sample_maps();
    for (name, key, value) in cases {
        let (_, message, entries) = maps.iter().find(|(n, ..)| *n == name).unwrap();
        assert_malformed(
            message.decode_like(&with_field(entries, key, Some(value.clone()))),
            &format!("{name}.{key} = {value}"),
        );
    }
}

#[test]
fn a_schema_version_from_the_future_is_unsupported() {
    for (name, message, entries) in sample_maps() {
        let bytes = with_field(&entries, "v", Some(Value::from(999)));
        match message.decode_like(&bytes) {
            Err(DecodeError::UnsupportedVersion { found: 999 }) => {}
            other => panic!("{name}: expected UnsupportedVersion {{ found: 999 }}, got {other:?}"),
        }
    }
}

#[test]
fn a_version_of_the_wrong_type_is_malformed() {
    for (name, message, entries) in sample_maps() {
        let bytes = with_field(&entries, "v", Some(Value::from("1")));
        assert_malformed(message.decode_like(&bytes), name);
    }
}

#[test]
fn invalid_utf8_in_a_string_is_malformed() {
    let (_, message, entries) = sample_maps()
        .into_iter()
        .find(|(n, ..)| *n == "danmaku")
        .unwrap();
    let mut bytes = with_field(&entries, "uname", Some(Value::from("@@")));
    let at = bytes
        .windows(3)
        .position(|w| w == [0xa2, b'@', b'@'])
        .expect("placeholder encoded");
    // The first two bytes of a three-byte UTF-8 sequence: not valid UTF-8.
    bytes[at + 1..at + 3].copy_from_slice(&[0xe5, 0xbc]);
    assert_malformed(message.decode_like(&bytes), "uname");
}

/// Deep nesting must hit the decoder's depth limit, not the stack.
#[test]
fn absurdly_deep_nesting_is_malformed_not_a_stack_overflow() {
    let depth = 100_000;
    let mut top_level = vec![0x91_u8; depth];
    top_level.push(0xc0);
    for err in decode_as_every_type(&top_level) {
        assert!(matches!(err, Some(DecodeError::Malformed(_))), "{err:?}");
    }
    // The same inside an unknown field of an otherwise valid event.
    let (_, message, entries) = sample_maps()
        .into_iter()
        .find(|(n, ..)| *n == "danmaku")
        .unwrap();
    let mut bytes = with_field(&entries, "zz_deep", None);
    // Add one entry to the map header: the encoder chose map16 for this many fields.
    assert_eq!(bytes[0], 0xde);
    let n = u16::from_be_bytes([bytes[1], bytes[2]]) + 1;
    bytes[1..3].copy_from_slice(&n.to_be_bytes());
    bytes.extend_from_slice(&[0xa7]);
    bytes.extend_from_slice(b"zz_deep");
    bytes.extend_from_slice(&top_level);
    assert_malformed(message.decode_like(&bytes), "deep unknown field");
}

/// A header that promises four billion elements must not make the decoder allocate for them.
#[test]
fn absurd_declared_lengths_are_malformed() {
    let cases: [&[u8]; 4] = [
        &[0xdf, 0xff, 0xff, 0xff, 0xff],
        &[
            0x81, 0xa4, b'r', b'o', b'o', b'm', 0xdd, 0xff, 0xff, 0xff, 0xff,
        ],
        &[
            0x81, 0xa4, b't', b'e', b'x', b't', 0xdb, 0xff, 0xff, 0xff, 0xff, b'x',
        ],
        &[0x81, 0xa3, b'b', b'i', b'n', 0xc6, 0xff, 0xff, 0xff, 0xff],
    ];
    for bytes in cases {
        for err in decode_as_every_type(bytes) {
            assert!(
                matches!(err, Some(DecodeError::Malformed(_))),
                "{bytes:x?}: {err:?}"
            );
        }
    }
}

/// Unknown fields may nest, up to [`MAX_DEPTH`] levels counting the message's own map.
#[test]
fn nesting_is_accepted_up_to_the_documented_depth_and_refused_beyond() {
    let (_, message, entries) = sample_maps()
        .into_iter()
        .find(|(n, ..)| *n == "member")
        .unwrap();
    let nested = |levels: usize| {
        // `levels` counts the member map itself, so the field holds `levels - 1` arrays.
        let mut value = Value::Nil;
        for _ in 1..levels {
            value = Value::Array(vec![value]);
        }
        with_field(&entries, "zz_nested", Some(value))
    };
    assert_eq!(message.decode_like(&nested(MAX_DEPTH)).unwrap(), message);
    let msg = assert_malformed(message.decode_like(&nested(MAX_DEPTH + 1)), "too deep");
    assert!(msg.contains("depth"), "{msg}");
}

/// Found by the `contract_decode` fuzz target: a map with an integer key. serde's derived field
/// matching reads integer 3 as "the fourth field" (the envelope's `cmd`), the generic decoder
/// ignores it; both now ignore it, so the windower's fast decoder and every other consumer read
/// the same event.
#[test]
fn an_integer_key_is_no_field_for_either_event_decoder() {
    let entries = vec![
        (Value::from("v"), Value::from(1)),
        (Value::from("room"), Value::from(21_452_505)),
        (Value::from("kind"), Value::from("like")),
        (Value::from(3), Value::from("chatters")),
        (Value::from("ts"), Value::from(1_764_000_004_623_i64)),
        (Value::from("recv"), Value::from(1_764_000_004_687_i64)),
        (Value::from("id"), Value::from("21452505:xd6124104b268f48b")),
        (Value::from("src"), Value::from("ingester-0")),
        (Value::from("uid"), Value::from(0)),
    ];
    let bytes = to_bytes(&Value::Map(entries));
    let generic = decode::<RoomEvent>(&bytes).expect("the generic decoder accepts it");
    let fast = bilipulse_proto::decode_event(&bytes).expect("the fast decoder accepts it");
    assert_eq!(generic, fast);
    assert_eq!(fast.cmd, "", "the integer key set no field");
}
