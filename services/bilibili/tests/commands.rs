//! Scenarios for the command normaliser, driven by the real captures in the shared fixtures.
//!
//! Expected values are read from each fixture's JSON by path (or, for protobuf commands, from
//! the payload bytes with a small independent protobuf walker below), never copied from our own
//! output.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bilipulse_bilibili::commands::{
    CommandError, Normalized, RecentIds, normalize, normalize_detailed, pb, peek_cmd, room_hint,
};
use bilipulse_proto::{CoinType, InteractAction, Kind, LiveState, Payload, RoomEvent};
use serde_json::{Value, json};

const ROOM: u64 = 5_561_470;
/// A receive time after every capture (2026-09-22), so their own timestamps are plausible.
const RECV: i64 = 1_790_000_100_000;
const SRC: &str = "ingest-0";

// === helpers ===

fn fixture_dir() -> Option<PathBuf> {
    bilipulse_testkit::fixtures::dir()
}

/// Every command fixture: (sub-folder, path).
fn all_fixtures(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    ["messages", "messages-sanitized", "messages-redacted"]
        .into_iter()
        .flat_map(|sub| {
            bilipulse_testkit::fixtures::files(dir, sub, "json")
                .into_iter()
                .map(move |p| (sub, p))
        })
        .collect()
}

/// The fixtures of one command (by folder name) across all three sub-folders.
fn fixtures_of(dir: &Path, cmd: &str) -> Vec<(&'static str, PathBuf, Vec<u8>, Value)> {
    all_fixtures(dir)
        .into_iter()
        .filter(|(_, p)| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|n| n == cmd)
        })
        .map(|(sub, p)| {
            let body = std::fs::read(&p).unwrap();
            let v = bilipulse_testkit::fixtures::json(&p);
            (sub, p, body, v)
        })
        .collect()
}

fn run(body: &[u8]) -> Normalized {
    normalize_detailed(ROOM, body, RECV, SRC)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn single(body: &[u8]) -> RoomEvent {
    let mut n = run(body);
    assert_eq!(n.events.len(), 1, "{}", String::from_utf8_lossy(body));
    assert_eq!(n.malformed, None, "{}", String::from_utf8_lossy(body));
    n.events.remove(0)
}

/// A JSON integer that may be sent as a string.
fn int(v: &Value) -> i128 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .unwrap_or_else(|| panic!("not an integer: {v}")),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not an integer: {v}")),
        _ => panic!("not an integer: {v}"),
    }
}

fn u64_of(v: &Value) -> u64 {
    int(v).clamp(0, u64::MAX as i128) as u64
}
fn u32_of(v: &Value) -> u32 {
    int(v).clamp(0, u32::MAX as i128) as u32
}
fn u8_of(v: &Value) -> u8 {
    int(v).clamp(0, u8::MAX as i128) as u8
}
fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Whether a fixture time (ms) is a real one rather than a redaction placeholder.
fn real_ms(ms: i128) -> bool {
    // 2009-01-01 .. the receive time used here.
    (1_230_768_000_000..=RECV as i128).contains(&ms)
}

fn cmd_base(cmd: &str) -> &str {
    cmd.split(':').next().unwrap_or(cmd)
}

/// The kind each modelled command must give; everything else is `other`.
fn expected_kind(cmd: &str) -> Kind {
    match cmd_base(cmd) {
        "DANMU_MSG" | "DANMU_MSG_MIRROR" => Kind::Danmaku,
        "SEND_GIFT" | "SEND_GIFT_V2" | "COMBO_SEND" => Kind::Gift,
        "SUPER_CHAT_MESSAGE" | "SUPER_CHAT_MESSAGE_JPN" => Kind::Superchat,
        "GUARD_BUY" | "USER_TOAST_MSG" | "USER_TOAST_MSG_V2" => Kind::Guard,
        "INTERACT_WORD" | "INTERACT_WORD_V2" => Kind::Interact,
        "LIKE_INFO_V3_CLICK" => Kind::Like,
        "WATCHED_CHANGE"
        | "ONLINE_RANK_COUNT"
        | "LIKE_INFO_V3_UPDATE"
        | "ROOM_REAL_TIME_MESSAGE_UPDATE" => Kind::Audience,
        "LIVE" | "PREPARING" | "ROOM_CHANGE" | "CUT_OFF" | "CUT_OFF_V2" => Kind::Live,
        _ => Kind::Other,
    }
}

/// A protobuf field value, as read by the test's own walker.
#[derive(Debug, Clone)]
enum Pb {
    Varint(u64),
    Bytes(Vec<u8>),
    Fixed32(u32),
    Fixed64,
}

/// Walks the top level of a protobuf message: (field number, value) in wire order.
fn pb_fields(mut b: &[u8]) -> Vec<(u64, Pb)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let value = match key & 7 {
            0 => Pb::Varint(varint(&mut b)),
            1 => {
                b = &b[8..];
                Pb::Fixed64
            }
            2 => {
                let len = varint(&mut b) as usize;
                let v = b[..len].to_vec();
                b = &b[len..];
                Pb::Bytes(v)
            }
            5 => {
                let v = u32::from_le_bytes(b[..4].try_into().unwrap());
                b = &b[4..];
                Pb::Fixed32(v)
            }
            t => panic!("wire type {t}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn pb_get(fields: &[(u64, Pb)], n: u64) -> Option<&Pb> {
    fields.iter().find(|(f, _)| *f == n).map(|(_, v)| v)
}
fn pb_u64(fields: &[(u64, Pb)], n: u64) -> u64 {
    match pb_get(fields, n) {
        Some(Pb::Varint(v)) => *v,
        None => 0,
        Some(other) => panic!("field {n} is {other:?}"),
    }
}
fn pb_str(fields: &[(u64, Pb)], n: u64) -> String {
    match pb_get(fields, n) {
        Some(Pb::Bytes(b)) => String::from_utf8(b.clone()).unwrap(),
        None => String::new(),
        Some(other) => panic!("field {n} is {other:?}"),
    }
}
fn pb_msg(fields: &[(u64, Pb)], n: u64) -> Option<Vec<(u64, Pb)>> {
    match pb_get(fields, n) {
        Some(Pb::Bytes(b)) => Some(pb_fields(b)),
        _ => None,
    }
}

/// The protobuf fixture of a JSON fixture: `protobuf/<CMD>__<sub>__<name>.bin`, checked to be
/// exactly the base64 `data.pb` of the JSON.
fn pb_payload(dir: &Path, sub: &str, path: &Path, json: &Value) -> Option<Vec<u8>> {
    let cmd = path.parent()?.file_name()?.to_str()?;
    let name = path.file_stem()?.to_str()?;
    let bin = dir
        .join("protobuf")
        .join(format!("{cmd}__{sub}__{name}.bin"));
    let bytes = std::fs::read(&bin).ok()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(str_of(&json["data"]["pb"]))
        .unwrap();
    assert_eq!(
        decoded,
        bytes,
        "{} is the payload of {}",
        bin.display(),
        path.display()
    );
    Some(bytes)
}

// === every fixture ===

#[test]
fn every_fixture_normalizes_to_the_kind_of_its_command() {
    let Some(dir) = fixture_dir() else { return };
    let fixtures = all_fixtures(&dir);
    assert!(
        fixtures.len() > 400,
        "found only {} fixtures",
        fixtures.len()
    );
    let mut redacted_modelled_as_other = Vec::new();
    for (sub, path) in fixtures {
        let body = std::fs::read(&path).unwrap();
        let json = bilipulse_testkit::fixtures::json(&path);
        let cmd = str_of(&json["cmd"]);
        let n = run(&body);
        assert!(!n.events.is_empty(), "{}", path.display());
        for e in &n.events {
            assert_eq!(e.cmd, cmd, "full cmd kept: {}", path.display());
            assert_eq!((e.room, e.recv, e.src.as_str()), (ROOM, RECV, SRC));
            assert!(e.id.starts_with(&format!("{ROOM}:")), "{}", e.id);
            assert!(e.ts > 0, "{}", path.display());
        }
        let want = expected_kind(cmd);
        let kinds: Vec<Kind> = n.events.iter().map(RoomEvent::kind).collect();
        if want == Kind::Other {
            assert_eq!(kinds, [Kind::Other], "{}", path.display());
            let Payload::Other(o) = &n.events[0].payload else {
                unreachable!()
            };
            assert_eq!(
                o.raw.as_bytes(),
                body.as_slice(),
                "raw kept whole: {}",
                path.display()
            );
        } else if sub == "messages-redacted" && n.malformed.is_some() {
            // Redacted samples replace values by placeholders such as `"pb":"xxx"`: kept whole.
            assert_eq!(kinds, [Kind::Other], "{}", path.display());
            redacted_modelled_as_other.push(path.clone());
        } else {
            assert_eq!(n.malformed, None, "{}", path.display());
            assert!(
                kinds.iter().all(|k| *k == want),
                "{}: {kinds:?}",
                path.display()
            );
        }
    }
    // Only the redacted protobuf commands whose `pb` is a placeholder may fall back.
    for p in &redacted_modelled_as_other {
        let json = bilipulse_testkit::fixtures::json(p);
        let pb = json["data"]["pb"].as_str().unwrap_or("");
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(pb)
                .is_err(),
            "{} fell back to other although its payload is readable",
            p.display()
        );
    }
}

#[test]
fn peek_cmd_agrees_with_the_json_for_every_fixture() {
    let Some(dir) = fixture_dir() else { return };
    for (_, path) in all_fixtures(&dir) {
        let body = std::fs::read(&path).unwrap();
        let json = bilipulse_testkit::fixtures::json(&path);
        assert_eq!(peek_cmd(&body), json["cmd"].as_str(), "{}", path.display());
    }
    // `cmd` not first (as in some redacted PREPARING samples) takes the slow path.
    assert_eq!(
        peek_cmd(br#"{"roomid":"1","cmd":"PREPARING"}"#),
        Some("PREPARING")
    );
    assert_eq!(peek_cmd(br#"{"data":{"cmd":"X"}}"#), None);
    assert_eq!(peek_cmd(b"not json"), None);
}

// === danmaku ===

#[test]
fn danmaku_fields_come_from_the_info_array() {
    let Some(dir) = fixture_dir() else { return };
    let mut checked = 0;
    for cmd in ["DANMU_MSG", "DANMU_MSG_MIRROR"] {
        for (sub, path, body, j) in fixtures_of(&dir, cmd) {
            let e = single(&body);
            let Payload::Danmaku(d) = &e.payload else {
                panic!("{}", path.display())
            };
            let info = &j["info"];
            let at = path.display();
            assert_eq!(d.text, str_of(&info[1]), "{at}");
            assert_eq!(d.uid, u64_of(&info[2][0]), "{at}");
            assert_eq!(d.uname, str_of(&info[2][1]), "{at}");
            assert_eq!(d.uid_crc32, str_of(&info[0][7]), "{at}");
            assert_eq!(d.masked, d.uid == 0, "{at}");
            assert_eq!(d.mirror, cmd == "DANMU_MSG_MIRROR", "{at}");
            assert_eq!(d.guard_level, u8_of(&info[7]), "{at}");
            assert_eq!(d.is_lottery, info[0][9].as_i64() == Some(2), "{at}");
            match info[4].get(0) {
                Some(l) => assert_eq!(d.user_level, u32_of(l), "{at}"),
                None => assert_eq!(d.user_level, 0, "{at}"),
            }
            match info.get(16).and_then(|w| w.get(0)) {
                Some(w) => assert_eq!(d.wealth_level, u32_of(w), "{at}"),
                None => assert_eq!(d.wealth_level, 0, "{at}"),
            }
            match info[3].as_array().filter(|m| !m.is_empty()) {
                Some(m) => {
                    let medal = d.medal.as_ref().unwrap_or_else(|| panic!("{at}: medal"));
                    assert_eq!(medal.level, u32_of(&m[0]), "{at}");
                    assert_eq!(medal.name, str_of(&m[1]), "{at}");
                    assert_eq!(medal.room, u64_of(&m[3]), "{at}");
                    assert_eq!(medal.guard_level, u8_of(&m[10]), "{at}");
                    assert_eq!(medal.lit, int(&m[11]) != 0, "{at}");
                    assert_eq!(medal.anchor_uid, u64_of(&m[12]), "{at}");
                }
                None => assert_eq!(d.medal, None, "{at}: [] or null medal"),
            }
            let emoticon = (info[0][12].as_i64() == Some(1))
                .then(|| info[0][13]["emoticon_unique"].as_str().map(str::to_owned))
                .flatten();
            assert_eq!(d.emoticon, emoticon, "{at}");
            // Native id: extra.id_str (a JSON string inside the JSON) when it is there.
            let extra: Option<Value> = info[0][15]["extra"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok());
            match extra.as_ref().and_then(|x| x["id_str"].as_str()) {
                Some(id) => assert_eq!(e.id, format!("{ROOM}:dm:{id}"), "{at}"),
                None => assert_eq!(
                    e.id,
                    format!(
                        "{ROOM}:dm:{}:{}:{}",
                        int(&info[0][4]),
                        int(&info[0][5]),
                        str_of(&info[0][7])
                    ),
                    "{at}"
                ),
            }
            // Event time: the send time in ms, unless it is a redaction placeholder.
            let sent = int(&info[0][4]);
            if real_ms(sent) {
                assert_eq!(i128::from(e.ts), sent, "{at}");
            } else {
                assert_eq!(sub, "messages-redacted", "{at}");
                assert_eq!(e.ts, RECV, "{at}: placeholder time falls back to receipt");
            }
            checked += 1;
        }
    }
    assert!(checked >= 18, "checked {checked}");
}

#[test]
fn cmd_suffixes_and_mirror_are_dispatched_but_kept() {
    let Some(dir) = fixture_dir() else { return };
    let body = std::fs::read(dir.join("messages/DANMU_MSG/starlwr-04.json")).unwrap();
    let text = String::from_utf8(body.clone()).unwrap();
    let plain = single(&body);
    for cmd in [
        "DANMU_MSG:4:0:2:2:2:0",
        "DANMU_MSG:3:7:1:1:1:1",
        "DANMU_MSG_MIRROR",
    ] {
        let variant = text.replacen(r#""cmd":"DANMU_MSG""#, &format!(r#""cmd":"{cmd}""#), 1);
        let e = single(variant.as_bytes());
        assert_eq!(e.cmd, cmd);
        let (Payload::Danmaku(a), Payload::Danmaku(b)) = (&plain.payload, &e.payload) else {
            panic!("{cmd} is not a danmaku")
        };
        assert_eq!(b.mirror, cmd == "DANMU_MSG_MIRROR");
        assert_eq!(a.text, b.text);
        assert_eq!(e.id, plain.id, "same id_str, same id");
    }
    // The redacted mode-7 sample: suffixed cmd, JSON-array text, info[3] null.
    let mode7 = std::fs::read(dir.join("messages-redacted/DANMU_MSG/sjh8130-02.json")).unwrap();
    let j: Value = serde_json::from_slice(&mode7).unwrap();
    assert!(j["info"][3].is_null());
    let e = single(&mode7);
    assert_eq!(e.cmd, "DANMU_MSG:3:7:1:1:1:1");
    let Payload::Danmaku(d) = &e.payload else {
        panic!()
    };
    assert_eq!(d.text, str_of(&j["info"][1]));
    assert_eq!(d.medal, None);
    assert!(d.masked, "uid 0 with a masked name");
}

#[test]
fn danmaku_time_is_clamped_when_absurd() {
    let Some(dir) = fixture_dir() else { return };
    let text = std::fs::read_to_string(dir.join("messages/DANMU_MSG/starlwr-04.json")).unwrap();
    let j: Value = serde_json::from_str(&text).unwrap();
    let sent = int(&j["info"][0][4]).to_string();
    let check_s = int(&j["info"][9]["ts"]);
    // 0, negative and a day ahead of receipt are not event times; the check timestamp
    // `info[9].ts` (seconds) is the next candidate.
    for bad in ["0", "-5", &(RECV + 86_400_000).to_string()] {
        let body = text.replacen(&sent, bad, 1);
        let e = single(body.as_bytes());
        assert_eq!(i128::from(e.ts), check_s * 1000, "send time {bad}");
    }
    let recv_now = i64::try_from(int(&j["info"][0][4])).unwrap() + 250;
    let e = normalize(ROOM, text.as_bytes(), recv_now, SRC)
        .unwrap()
        .remove(0);
    assert_eq!(i128::from(e.ts), int(&j["info"][0][4]));
}

// === gifts ===

#[test]
fn send_gift_json_fields_and_ids() {
    let Some(dir) = fixture_dir() else { return };
    for (_, path, body, j) in fixtures_of(&dir, "SEND_GIFT") {
        let d = &j["data"];
        let e = single(&body);
        let Payload::Gift(g) = &e.payload else {
            panic!("{}", path.display())
        };
        let at = path.display();
        assert_eq!(g.uid, u64_of(&d["uid"]), "{at}");
        assert_eq!(g.uname, str_of(&d["uname"]), "{at}");
        assert_eq!(g.gift_id, u64_of(&d["giftId"]), "{at}");
        assert_eq!(g.gift_name, str_of(&d["giftName"]), "{at}");
        assert_eq!(g.num, u64_of(&d["num"]), "{at}");
        assert_eq!(g.price, u64_of(&d["price"]), "{at}");
        assert_eq!(g.total_coin, u64_of(&d["total_coin"]), "{at}");
        let coin = match str_of(&d["coin_type"]) {
            "gold" => CoinType::Gold,
            "silver" => CoinType::Silver,
            other => panic!("{other}"),
        };
        assert_eq!(g.coin_type, coin, "{at}");
        assert_eq!(g.combo_id, str_of(&d["batch_combo_id"]), "{at}");
        assert_eq!(g.guard_level, u8_of(&d["guard_level"]), "{at}");
        assert!(!g.combo_summary);
        match d["blind_gift"].as_object() {
            Some(b) => {
                let bb = g
                    .blind_box
                    .as_ref()
                    .unwrap_or_else(|| panic!("{at}: blind box"));
                assert_eq!(bb.gift_id, u64_of(&b["original_gift_id"]), "{at}");
                assert_eq!(bb.gift_name, str_of(&b["original_gift_name"]), "{at}");
                assert_eq!(bb.price, u64_of(&b["original_gift_price"]), "{at}");
            }
            None => assert_eq!(g.blind_box, None, "{at}"),
        }
        let m = &d["medal_info"];
        if u64_of(&m["medal_level"]) > 0 {
            let medal = g.medal.as_ref().unwrap();
            assert_eq!(medal.level, u32_of(&m["medal_level"]), "{at}");
            assert_eq!(medal.anchor_uid, u64_of(&m["target_id"]), "{at}");
        } else {
            assert_eq!(g.medal, None, "{at}: zeroed medal_info is no medal");
        }
        assert_eq!(e.id, format!("{ROOM}:gift:{}", str_of(&d["tid"])), "{at}");
        assert_eq!(i128::from(e.ts), int(&d["timestamp"]) * 1000, "{at}");
    }
}

#[test]
fn combo_send_is_a_summary_never_revenue() {
    let Some(dir) = fixture_dir() else { return };
    for (_, path, body, j) in fixtures_of(&dir, "COMBO_SEND") {
        let d = &j["data"];
        let e = single(&body);
        let Payload::Gift(g) = &e.payload else {
            panic!("{}", path.display())
        };
        assert!(g.combo_summary);
        assert_eq!(g.gift_id, u64_of(&d["gift_id"]));
        assert_eq!(g.num, u64_of(&d["total_num"]));
        assert_eq!(g.total_coin, u64_of(&d["combo_total_coin"]));
        assert_eq!(g.combo_id, str_of(&d["batch_combo_id"]));
        assert_eq!(
            e.id,
            format!(
                "{ROOM}:combo:{}:{}",
                str_of(&d["batch_combo_id"]),
                int(&d["batch_combo_num"])
            )
        );
    }
}

#[test]
fn send_gift_v2_items_come_from_the_protobuf_payload() {
    let Some(dir) = fixture_dir() else { return };
    let mut checked = 0;
    for (sub, path, body, j) in fixtures_of(&dir, "SEND_GIFT_V2") {
        let Some(bytes) = pb_payload(&dir, sub, &path, &j) else {
            continue;
        };
        let top = pb_fields(&bytes);
        let items: Vec<Vec<(u64, Pb)>> = top
            .iter()
            .filter(|(f, _)| *f == 10)
            .map(|(_, v)| match v {
                Pb::Bytes(b) => pb_fields(b),
                _ => panic!("gift_list is a message"),
            })
            .collect();
        let n = run(&body);
        assert_eq!(n.malformed, None);
        assert_eq!(
            n.events.len(),
            items.len(),
            "{}: one event per item",
            path.display()
        );
        for (e, item) in n.events.iter().zip(&items) {
            let Payload::Gift(g) = &e.payload else {
                panic!()
            };
            assert_eq!(g.uid, pb_u64(&top, 1));
            assert_eq!(g.uname, pb_str(&top, 2));
            assert_eq!(g.guard_level as u64, pb_u64(&top, 5));
            assert_eq!(g.gift_id, pb_u64(item, 1));
            assert_eq!(g.gift_name, pb_str(item, 2));
            assert_eq!(g.num, pb_u64(item, 3));
            assert_eq!(g.price, pb_u64(item, 5));
            assert_eq!(g.total_coin, pb_u64(item, 7));
            let coin = if pb_str(item, 8) == "silver" {
                CoinType::Silver
            } else {
                CoinType::Gold
            };
            assert_eq!(g.coin_type, coin);
            assert_eq!(g.combo_id, pb_str(item, 12));
            assert_eq!(e.ts, pb_u64(item, 10) as i64 * 1000);
            let tid = pb_str(item, 9);
            let native = if tid.is_empty() {
                format!(
                    "gift:{}:{}:{}:{}",
                    pb_str(item, 12),
                    pb_u64(item, 1),
                    pb_u64(item, 11),
                    pb_u64(item, 10)
                )
            } else {
                format!("gift:{tid}")
            };
            assert_eq!(e.id, format!("{ROOM}:{native}"));
            // Field 16 is a fixed32 float (magnification), not a varint.
            if let Some(m) = pb_get(item, 16) {
                let Pb::Fixed32(bits) = m else {
                    panic!("magnification is {m:?}")
                };
                assert_eq!(
                    f32::from_bits(*bits),
                    1.0,
                    "magnification ×1 in these captures"
                );
            }
            // The worn medal is field 8 (absent or empty = none).
            match pb_msg(&top, 8).filter(|m| !m.is_empty()) {
                Some(m) => {
                    let medal = g.medal.as_ref().unwrap();
                    assert_eq!(medal.level as u64, pb_u64(&m, 5));
                    assert_eq!(medal.name, pb_str(&m, 6));
                }
                None => assert_eq!(g.medal, None),
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "the three real SEND_GIFT_V2 payloads");
}

#[test]
fn send_gift_v2_blind_box_batch_gives_one_event_per_item() {
    // The blind-box example of the protocol spec §5.3: a 羁绊宝盒 (33000 gold) ×10 yields
    // 甜蜜契约 ×5 @35000 and 星光点点 ×5 @20000, each item costing 5 boxes = 165000.
    let item = |gift_id, name: &str, price, tid: &str| pb::GiftItem {
        gift_id,
        gift_name: name.into(),
        num: 5,
        price,
        total_coin: 165_000,
        coin_type: "gold".into(),
        tid: tid.into(),
        timestamp: 1_789_000_000,
        batch_combo_id: "batch:gift:combo_id:1:2:32132:1789000000.1".into(),
        ..Default::default()
    };
    let msg = |tids: [&str; 2]| pb::SendGiftV2 {
        uid: 42,
        uname: "box buyer".into(),
        blind_gift: Some(pb::BlindGift {
            original_gift_id: 32132,
            original_gift_name: "羁绊宝盒".into(),
            original_gift_price: 33_000,
            gift_action: "爆出".into(),
            ..Default::default()
        }),
        gift_list: vec![
            item(32133, "甜蜜契约", 35_000, tids[0]),
            item(32134, "星光点点", 20_000, tids[1]),
        ],
        ..Default::default()
    };
    for tids in [["111", "222"], ["333", "333"], ["", ""]] {
        let body =
            json!({"cmd": "SEND_GIFT_V2", "data": {"dmscore": 1, "pb": pb::to_base64(&msg(tids))}})
                .to_string();
        let n = run(body.as_bytes());
        assert_eq!(n.events.len(), 2, "{tids:?}");
        let gifts: Vec<_> = n
            .events
            .iter()
            .map(|e| match &e.payload {
                Payload::Gift(g) => g.clone(),
                p => panic!("{p:?}"),
            })
            .collect();
        assert_eq!(
            gifts.iter().map(|g| g.total_coin).sum::<u64>(),
            330_000,
            "paid for 10 boxes"
        );
        for g in &gifts {
            let bb = g.blind_box.as_ref().unwrap();
            assert_eq!((bb.gift_id, bb.price), (32132, 33_000));
            assert_eq!(g.uid, 42);
        }
        assert_ne!(
            n.events[0].id, n.events[1].id,
            "{tids:?}: items never share an id"
        );
        if tids == ["111", "222"] {
            assert_eq!(n.events[0].id, format!("{ROOM}:gift:111"));
        }
    }
    // A batch with no items is kept as other rather than vanishing.
    let empty = pb::SendGiftV2 {
        uid: 1,
        ..Default::default()
    };
    let body = json!({"cmd": "SEND_GIFT_V2", "data": {"pb": pb::to_base64(&empty)}}).to_string();
    let n = run(body.as_bytes());
    assert_eq!(n.events[0].kind(), Kind::Other);
    assert!(n.malformed.is_some());
}

// === Super Chat ===

#[test]
fn super_chat_fields() {
    let Some(dir) = fixture_dir() else { return };
    for cmd in ["SUPER_CHAT_MESSAGE", "SUPER_CHAT_MESSAGE_JPN"] {
        for (sub, path, body, j) in fixtures_of(&dir, cmd) {
            let d = &j["data"];
            let e = single(&body);
            let Payload::Superchat(s) = &e.payload else {
                panic!("{}", path.display())
            };
            let at = path.display();
            assert_eq!(s.sc_id, u64_of(&d["id"]), "{at}");
            assert_eq!(s.uid, u64_of(&d["uid"]), "{at}");
            assert_eq!(s.price_cny, u64_of(&d["price"]), "{at}");
            assert_eq!(s.message, str_of(&d["message"]), "{at}");
            assert_eq!(s.duration_s, u64_of(&d["time"]), "{at}");
            assert_eq!(
                s.uname,
                d["user_info"]["uname"].as_str().unwrap_or(""),
                "{at}"
            );
            assert_eq!(e.id, format!("{ROOM}:sc:{}", int(&d["id"])), "{at}");
            if sub != "messages-redacted" {
                assert_eq!(i128::from(e.ts), int(&d["start_time"]) * 1000, "{at}");
                assert_eq!(s.guard_level, u8_of(&d["user_info"]["guard_level"]), "{at}");
            }
        }
    }
}

#[test]
fn super_chat_and_its_jpn_copy_share_an_id() {
    let Some(dir) = fixture_dir() else { return };
    let jpn = std::fs::read(dir.join("messages/SUPER_CHAT_MESSAGE_JPN/bac-01.json")).unwrap();
    let mut plain: Value = serde_json::from_slice(&jpn).unwrap();
    // The non-JPN push of the same Super Chat: numeric ids, no message_jpn.
    plain["cmd"] = json!("SUPER_CHAT_MESSAGE");
    plain["data"]["id"] = json!(u64_of(&plain["data"]["id"]));
    plain["data"]["uid"] = json!(u64_of(&plain["data"]["uid"]));
    plain["roomid"] = json!(u64_of(&plain["roomid"]));
    plain["data"].as_object_mut().unwrap().remove("message_jpn");
    let a = single(&jpn);
    let b = single(plain.to_string().as_bytes());
    assert_eq!(a.id, b.id);
    assert_eq!(a.payload, b.payload);
    let mut recent = RecentIds::new(16);
    assert!(recent.first_seen(&b.id));
    assert!(!recent.first_seen(&a.id), "the JPN copy is dropped");
}

// === guards ===

#[test]
fn guard_messages_of_one_purchase_share_an_id() {
    let Some(dir) = fixture_dir() else { return };
    let toast_body =
        std::fs::read(dir.join("messages-sanitized/USER_TOAST_MSG/starfall-01.json")).unwrap();
    let v2_body =
        std::fs::read(dir.join("messages-sanitized/USER_TOAST_MSG_V2/starfall-01.json")).unwrap();
    let toast: Value = serde_json::from_slice(&toast_body).unwrap();
    let v2: Value = serde_json::from_slice(&v2_body).unwrap();
    // The captures agree on who bought and when the guard starts: the basis of the id.
    assert_eq!(toast["data"]["uid"], v2["data"]["sender_uinfo"]["uid"]);
    assert_eq!(
        toast["data"]["start_time"],
        v2["data"]["guard_info"]["start_time"]
    );
    assert_eq!(
        toast["data"]["payflow_id"],
        v2["data"]["pay_info"]["payflow_id"]
    );
    // GUARD_BUY of the same purchase, in the shape of messages/GUARD_BUY (list price).
    let d = &toast["data"];
    let buy = json!({"cmd": "GUARD_BUY", "data": {
        "uid": d["uid"], "username": d["username"], "guard_level": d["guard_level"],
        "num": d["num"], "price": 198000, "gift_id": d["gift_id"], "gift_name": "舰长",
        "start_time": d["start_time"], "end_time": d["start_time"]}})
    .to_string();

    let events: Vec<RoomEvent> = [v2_body.as_slice(), toast_body.as_slice(), buy.as_bytes()]
        .map(single)
        .into();
    let want = format!("{ROOM}:guard:{}:{}", int(&d["uid"]), int(&d["start_time"]));
    for e in &events {
        assert_eq!(e.id, want, "{}", e.cmd);
        assert_eq!(i128::from(e.ts), int(&d["start_time"]) * 1000, "{}", e.cmd);
        let Payload::Guard(g) = &e.payload else {
            panic!("{}", e.cmd)
        };
        assert_eq!(g.uid, u64_of(&d["uid"]));
        assert_eq!(g.uname, str_of(&d["username"]));
        assert_eq!(g.level, u8_of(&d["guard_level"]));
    }
    let price = |e: &RoomEvent| match &e.payload {
        Payload::Guard(g) => (g.price_gold, g.payflow_id.clone(), g.unit.clone()),
        _ => unreachable!(),
    };
    let pay = &v2["data"]["pay_info"];
    assert_eq!(
        price(&events[0]),
        (
            u64_of(&pay["price"]),
            str_of(&pay["payflow_id"]).into(),
            str_of(&pay["unit"]).into()
        )
    );
    assert_eq!(
        price(&events[1]),
        (
            u64_of(&d["price"]),
            str_of(&d["payflow_id"]).into(),
            str_of(&d["unit"]).into()
        )
    );
    assert_eq!(
        price(&events[2]),
        (198_000, String::new(), String::new()),
        "list price"
    );
    // Per connection, only the first of the three is published.
    let mut recent = RecentIds::new(4096);
    let published: Vec<&str> = events
        .iter()
        .filter(|e| recent.first_seen(&e.id))
        .map(|e| e.cmd.as_str())
        .collect();
    assert_eq!(published, ["USER_TOAST_MSG_V2"]);
}

#[test]
fn guard_fields_from_every_fixture() {
    let Some(dir) = fixture_dir() else { return };
    for cmd in ["GUARD_BUY", "USER_TOAST_MSG"] {
        for (_, path, body, j) in fixtures_of(&dir, cmd) {
            let d = &j["data"];
            let e = single(&body);
            let Payload::Guard(g) = &e.payload else {
                panic!("{}", path.display())
            };
            assert_eq!(g.uid, u64_of(&d["uid"]));
            assert_eq!(g.uname, str_of(&d["username"]));
            assert_eq!(g.level, u8_of(&d["guard_level"]));
            assert_eq!(g.num, u32_of(&d["num"]));
            assert_eq!(g.price_gold, u64_of(&d["price"]));
            assert_eq!(g.payflow_id, d["payflow_id"].as_str().unwrap_or(""));
            assert_eq!(
                e.id,
                format!("{ROOM}:guard:{}:{}", int(&d["uid"]), int(&d["start_time"]))
            );
        }
    }
}

// === interact, like ===

#[test]
fn interact_word_json_fields() {
    let Some(dir) = fixture_dir() else { return };
    for (_, path, body, j) in fixtures_of(&dir, "INTERACT_WORD") {
        let d = &j["data"];
        let e = single(&body);
        let Payload::Interact(i) = &e.payload else {
            panic!("{}", path.display())
        };
        let at = path.display();
        assert_eq!(i.uid, u64_of(&d["uid"]), "{at}");
        assert_eq!(i.uname, str_of(&d["uname"]), "{at}");
        assert_eq!(i.msg_type, u32_of(&d["msg_type"]), "{at}");
        let action = match int(&d["msg_type"]) {
            1 => InteractAction::Enter,
            2 => InteractAction::Follow,
            3 => InteractAction::Share,
            t => panic!("{at}: msg_type {t}"),
        };
        assert_eq!(i.action, action, "{at}");
        assert_eq!(
            i128::from(e.ts),
            int(&d["trigger_time"]) / 1_000_000,
            "{at}"
        );
        let m = &d["fans_medal"];
        if m.is_object() && u64_of(&m["medal_level"]) > 0 {
            let medal = i.medal.as_ref().unwrap();
            assert_eq!(medal.level, u32_of(&m["medal_level"]), "{at}");
            assert_eq!(medal.name, str_of(&m["medal_name"]), "{at}");
            assert_eq!(medal.anchor_uid, u64_of(&m["target_id"]), "{at}");
        } else {
            assert_eq!(i.medal, None, "{at}");
        }
    }
}

#[test]
fn interact_word_v2_fields_come_from_the_protobuf_payload() {
    let Some(dir) = fixture_dir() else { return };
    let mut checked = 0;
    for (sub, path, body, j) in fixtures_of(&dir, "INTERACT_WORD_V2") {
        let Some(bytes) = pb_payload(&dir, sub, &path, &j) else {
            continue;
        };
        let f = pb_fields(&bytes);
        let e = single(&body);
        let Payload::Interact(i) = &e.payload else {
            panic!("{}", path.display())
        };
        // uid is field 1 (absent when masked); uinfo (22) repeats it at 22.1.
        assert_eq!(i.uid, pb_u64(&f, 1));
        if let Some(u) = pb_msg(&f, 22) {
            assert_eq!(pb_u64(&u, 1), pb_u64(&f, 1));
        }
        assert_eq!(i.masked, pb_u64(&f, 1) == 0);
        assert_eq!(i.uname, pb_str(&f, 2));
        assert_eq!(u64::from(i.msg_type), pb_u64(&f, 5));
        assert_eq!(i.action, InteractAction::from_msg_type(pb_u64(&f, 5)));
        let ts = match pb_u64(&f, 15) {
            0 => pb_u64(&f, 7) as i64 * 1000,
            ns => (ns / 1_000_000) as i64,
        };
        assert_eq!(e.ts, ts, "{}", path.display());
        match pb_msg(&f, 9) {
            Some(m) => {
                let medal = i.medal.as_ref().unwrap();
                assert_eq!(u64::from(medal.level), pb_u64(&m, 2));
                assert_eq!(medal.name, pb_str(&m, 3));
                assert_eq!(medal.anchor_uid, pb_u64(&m, 1));
                assert_eq!(u64::from(medal.guard_level), pb_u64(&m, 9));
            }
            None => assert_eq!(i.medal, None),
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "bac-01 and the two starfall payloads");
}

#[test]
fn qydysky_interact_word_v2_test_vector_decodes_with_our_proto() {
    let Some(dir) = fixture_dir() else { return };
    let bytes =
        std::fs::read(dir.join("protobuf/INTERACT_WORD_V2__qydysky-pdDecoder_test.bin")).unwrap();
    let f = pb_fields(&bytes);
    let m: pb::InteractWordV2 =
        pb::from_base64(&base64::engine::general_purpose::STANDARD.encode(&bytes)).unwrap();
    assert_eq!(m.uid, pb_u64(&f, 1));
    assert_eq!(m.uname, pb_str(&f, 2));
    assert_eq!(m.msg_type, pb_u64(&f, 5));
    assert_eq!(m.trigger_time as u64, pb_u64(&f, 15));
    let uinfo = pb_msg(&f, 22).unwrap();
    let base = pb_msg(&uinfo, 2).unwrap();
    let ours = m.uinfo.unwrap();
    assert_eq!(ours.uid, pb_u64(&uinfo, 1));
    assert_eq!(
        ours.base.unwrap().name,
        pb_str(&base, 1),
        "base is 22.2, not 22.1"
    );
    // identities (4) are a packed repeated varint.
    let Some(Pb::Bytes(packed)) = pb_get(&f, 4) else {
        panic!("identities")
    };
    assert_eq!(
        m.identities,
        packed.iter().map(|&b| u64::from(b)).collect::<Vec<_>>()
    );
}

#[test]
fn like_click_fields() {
    let Some(dir) = fixture_dir() else { return };
    for (_, path, body, j) in fixtures_of(&dir, "LIKE_INFO_V3_CLICK") {
        let d = &j["data"];
        let e = single(&body);
        let Payload::Like(l) = &e.payload else {
            panic!("{}", path.display())
        };
        assert_eq!(l.uid, u64_of(&d["uid"]));
        let uname = str_of(&d["uname"]);
        if !uname.is_empty() {
            assert_eq!(l.uname, uname);
        }
        assert_eq!(l.masked, l.uid == 0);
    }
}

// === audience, live, other ===

#[test]
fn audience_counters_are_only_those_the_command_carries() {
    let Some(dir) = fixture_dir() else { return };
    let opt = |v: &Value| (!v.is_null()).then(|| u64_of(v));
    let mut checked = 0;
    for cmd in [
        "WATCHED_CHANGE",
        "ONLINE_RANK_COUNT",
        "LIKE_INFO_V3_UPDATE",
        "ROOM_REAL_TIME_MESSAGE_UPDATE",
    ] {
        for (_, path, body, j) in fixtures_of(&dir, cmd) {
            let d = &j["data"];
            let e = single(&body);
            let Payload::Audience(a) = &e.payload else {
                panic!("{}", path.display())
            };
            let want = bilipulse_proto::Audience {
                watched: (cmd == "WATCHED_CHANGE").then(|| opt(&d["num"])).flatten(),
                online_rank: (cmd == "ONLINE_RANK_COUNT")
                    .then(|| opt(&d["count"]))
                    .flatten(),
                online_count: (cmd == "ONLINE_RANK_COUNT")
                    .then(|| opt(&d["online_count"]))
                    .flatten(),
                likes: (cmd == "LIKE_INFO_V3_UPDATE")
                    .then(|| opt(&d["click_count"]))
                    .flatten(),
                fans: (cmd == "ROOM_REAL_TIME_MESSAGE_UPDATE")
                    .then(|| opt(&d["fans"]))
                    .flatten(),
                fans_club: (cmd == "ROOM_REAL_TIME_MESSAGE_UPDATE")
                    .then(|| opt(&d["fans_club"]))
                    .flatten(),
            };
            assert_eq!(*a, want, "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

#[test]
fn room_state_commands() {
    let Some(dir) = fixture_dir() else { return };
    let live = |e: &RoomEvent| match &e.payload {
        Payload::Live(l) => l.clone(),
        p => panic!("{p:?}"),
    };
    for (_, path, body, j) in fixtures_of(&dir, "LIVE") {
        let l = live(&single(&body));
        assert_eq!(l.state, LiveState::Live);
        assert_eq!(
            l.live_time,
            j.get("live_time").map(|t| int(t) as i64),
            "{}",
            path.display()
        );
    }
    for (sub, path, body, j) in fixtures_of(&dir, "PREPARING") {
        let e = single(&body);
        let rotation = j.get("round").is_some_and(|r| int(r) == 1);
        let want = if rotation {
            LiveState::Rotation
        } else {
            LiveState::Preparing
        };
        assert_eq!(live(&e).state, want, "{}", path.display());
        // The body names its room as a string; redacted ones say "xxx".
        if sub == "messages-redacted" {
            assert_eq!(room_hint(&body), None);
        } else {
            assert_eq!(
                room_hint(&body),
                Some(u64_of(&j["roomid"])),
                "{}",
                path.display()
            );
            assert!(
                j["roomid"].is_string(),
                "2025 samples send roomid as a string"
            );
        }
        if let Some(sent) = j.get("send_time") {
            assert_eq!(i128::from(e.ts), int(sent), "{}", path.display());
        }
    }
    for (_, _, body, j) in fixtures_of(&dir, "ROOM_CHANGE") {
        let l = live(&single(&body));
        assert_eq!(l.state, LiveState::RoomChange);
        assert_eq!(l.title.as_deref(), j["data"]["title"].as_str());
        assert_eq!(l.area.as_deref(), j["data"]["area_name"].as_str());
    }
    for (_, _, body, j) in fixtures_of(&dir, "CUT_OFF") {
        let l = live(&single(&body));
        assert_eq!(l.state, LiveState::CutOff);
        assert_eq!(l.message.as_deref(), j["msg"].as_str());
    }
    for (_, _, body, j) in fixtures_of(&dir, "CUT_OFF_V2") {
        let e = single(&body);
        let l = live(&e);
        assert_eq!(l.state, LiveState::CutOff);
        let msg = l.message.unwrap();
        for line in j["data"]["cut_off_data"]["cut_off_message_list"]
            .as_array()
            .unwrap()
        {
            assert!(msg.contains(str_of(&line["content"])), "{msg}");
        }
        assert_eq!(i128::from(e.ts), int(&j["data"]["timestamp"]) * 1000);
    }
}

#[test]
fn room_hints_read_roomid_wherever_it_is() {
    let Some(dir) = fixture_dir() else { return };
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    let sc = read("messages/SUPER_CHAT_MESSAGE/bac-01.json");
    let j: Value = serde_json::from_slice(&sc).unwrap();
    assert_eq!(room_hint(&sc), Some(u64_of(&j["roomid"])));
    let rt = read("messages/ROOM_REAL_TIME_MESSAGE_UPDATE/bac-01.json");
    let j: Value = serde_json::from_slice(&rt).unwrap();
    assert_eq!(room_hint(&rt), Some(u64_of(&j["data"]["roomid"])));
    let cut = read("messages-redacted/CUT_OFF/sjh8130-01.json");
    let j: Value = serde_json::from_slice(&cut).unwrap();
    assert_eq!(room_hint(&cut), Some(u64_of(&j["room_id"])));
    assert_eq!(
        room_hint(&read("messages/WATCHED_CHANGE/bac-01.json")),
        None
    );
}

#[test]
fn online_rank_v3_and_log_in_notice_stay_other() {
    let Some(dir) = fixture_dir() else { return };
    for cmd in ["ONLINE_RANK_V3", "LOG_IN_NOTICE"] {
        for (_, _, body, _) in fixtures_of(&dir, cmd) {
            assert_eq!(peek_cmd(&body), Some(cmd));
            let e = single(&body);
            assert_eq!(e.kind(), Kind::Other);
        }
    }
    // ONLINE_RANK_V3's payload is only the top list: our proto reads it, but it has no count.
    let bytes = std::fs::read(dir.join("protobuf/ONLINE_RANK_V3__messages__bac-01.bin")).unwrap();
    let f = pb_fields(&bytes);
    let m: pb::OnlineRankV3 =
        pb::from_base64(&base64::engine::general_purpose::STANDARD.encode(&bytes)).unwrap();
    assert_eq!(m.rank_type, pb_str(&f, 1));
    let raw_items: Vec<Vec<(u64, Pb)>> = f
        .iter()
        .filter(|(n, _)| *n == 3)
        .map(|(_, v)| match v {
            Pb::Bytes(b) => pb_fields(b),
            _ => panic!(),
        })
        .collect();
    assert_eq!(m.list.len(), raw_items.len());
    for (ours, raw) in m.list.iter().zip(&raw_items) {
        assert_eq!((ours.uid, ours.rank), (pb_u64(raw, 1), pb_u64(raw, 5)));
        assert_eq!(ours.uname, pb_str(raw, 4));
    }
}

#[test]
fn unknown_commands_are_kept_whole() {
    let body =
        br#"{"cmd":"SOMETHING_NEW_2027","data":{"x":[1,2,{"y":null}]},"send_time":1789999999123}"#;
    let e = single(body);
    assert_eq!(e.cmd, "SOMETHING_NEW_2027");
    assert_eq!(e.ts, 1_789_999_999_123, "envelope send_time");
    let Payload::Other(o) = &e.payload else {
        panic!()
    };
    assert_eq!(o.raw.as_bytes(), body);
    assert_eq!(e.id, bilipulse_proto::dedup_id(ROOM, None, body));
}

#[test]
fn modelled_commands_with_a_wrong_shape_are_kept_as_other() {
    for body in [
        &br#"{"cmd":"SEND_GIFT","data":{"giftId":"abc","num":1}}"#[..],
        br#"{"cmd":"DANMU_MSG","info":{"not":"an array"}}"#,
        br#"{"cmd":"DANMU_MSG","info":[[0,1],5,[1,"a"]]}"#,
        br#"{"cmd":"INTERACT_WORD_V2","data":{"pb":"!!!"}}"#,
        br#"{"cmd":"SEND_GIFT_V2","data":{"pb":"CAE="}}"#,
        br#"{"cmd":"SEND_GIFT","data":{"coin_type":"diamond","num":1}}"#,
        br#"{"cmd":"SUPER_CHAT_MESSAGE","data":{"price":30}}"#,
        br#"{"cmd":"WATCHED_CHANGE","data":{"text_small":"1w"}}"#,
        br#"{"cmd":"SEND_GIFT"}"#,
    ] {
        let n = run(body);
        assert!(n.malformed.is_some(), "{}", String::from_utf8_lossy(body));
        assert_eq!(n.events.len(), 1);
        let Payload::Other(o) = &n.events[0].payload else {
            panic!()
        };
        assert_eq!(o.raw.as_bytes(), body);
    }
}

#[test]
fn payload_before_cmd_parses_the_same() {
    let Some(dir) = fixture_dir() else { return };
    for path in [
        "messages/SEND_GIFT/starlwr-10.json",
        "messages/DANMU_MSG/bac-01.json",
    ] {
        let body = std::fs::read(dir.join(path)).unwrap();
        let j: Value = serde_json::from_slice(&body).unwrap();
        let (key, payload) = if j.get("info").is_some() {
            ("info", &j["info"])
        } else {
            ("data", &j["data"])
        };
        let reordered = format!(r#"{{"{key}":{payload},"cmd":{}}}"#, j["cmd"]);
        let a = single(&body);
        let b = single(reordered.as_bytes());
        assert_eq!(a.payload, b.payload, "{path}");
        assert_eq!(a.id.split(':').nth(1), b.id.split(':').nth(1), "{path}");
    }
}

#[test]
fn bodies_that_are_not_commands_are_errors() {
    let err = |b: &[u8]| normalize(ROOM, b, RECV, SRC).unwrap_err();
    assert!(matches!(err(b""), CommandError::NotJson(_)));
    assert!(matches!(err(b"{\"cmd\":"), CommandError::NotJson(_)));
    assert!(matches!(err(b"\x00\x00\x00\x01"), CommandError::NotJson(_)));
    assert!(matches!(
        err(br#"{"cmd":"A"} trailing"#),
        CommandError::NotJson(_)
    ));
    assert!(matches!(err(b"[1,2]"), CommandError::NotObject));
    assert!(matches!(err(b"\"DANMU_MSG\""), CommandError::NotObject));
    assert!(matches!(err(br#"{"data":{}}"#), CommandError::NoCmd));
    assert!(matches!(
        err(br#"{"cmd":5,"data":{}}"#),
        CommandError::NoCmd
    ));
}
