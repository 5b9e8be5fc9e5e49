//! `bilipulse decode` on real captures: good files, bad files, and a mix of both.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bilipulse_testkit::fixtures;
use serde_json::Value;

fn decode(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bilipulse"))
        .arg("decode")
        .args(extra)
        .args(args)
        .output()
        .expect("run bilipulse decode")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn a_zlib_packet_from_a_capture_decodes_into_its_commands() {
    let Some(dir) = fixtures::dir() else { return };
    let packet = dir.join("packets/bililive-rs-buffer.bin");
    let out = decode(&[&packet], &[]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    // The capture holds two INTERACT_WORD commands (per SOURCES.md); their uids are in the
    // inflated JSON, which we read independently of our decoder.
    let inflated = inflate_zlib_body(&std::fs::read(&packet).unwrap());
    let expected_uids: Vec<u64> = inflated
        .iter()
        .map(|j| j["data"]["uid"].as_u64().unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    for (ev, uid) in events.iter().zip(expected_uids) {
        assert_eq!(ev["kind"], "interact");
        assert_eq!(ev["cmd"], "INTERACT_WORD");
        assert_eq!(ev["uid"].as_u64(), Some(uid));
        // The room comes from the bodies themselves.
        assert_eq!(ev["room"].as_u64(), inflated[0]["data"]["roomid"].as_u64());
    }
}

#[test]
fn bodies_print_contract_field_names_and_fixture_values() {
    let Some(dir) = fixtures::dir() else { return };
    let body = dir.join("messages/DANMU_MSG/bac-01.json");
    let gift = dir.join("messages/SEND_GIFT/bac-01.json");
    let out = decode(
        &[&body, &gift],
        &["--room", "5269", "--recv-ms", "1790000000000"],
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    assert_eq!(events.len(), 2);
    let danmaku_json = fixtures::json(&body);
    let d = &events[0];
    for field in [
        "v", "room", "kind", "cmd", "ts", "recv", "id", "src", "uid", "uname", "text", "medal",
        "masked",
    ] {
        assert!(d.get(field).is_some(), "danmaku line lacks {field}: {d}");
    }
    assert_eq!(d["kind"], "danmaku");
    assert_eq!(d["room"], 5269);
    assert_eq!(d["recv"], 1790000000000_i64);
    assert_eq!(d["text"], danmaku_json["info"][1]);
    assert_eq!(d["uid"], danmaku_json["info"][2][0]);
    assert_eq!(d["ts"], danmaku_json["info"][0][4]);
    let gift_json = fixtures::json(&gift);
    let g = &events[1];
    assert_eq!(g["kind"], "gift");
    assert_eq!(g["gift_name"], gift_json["data"]["giftName"]);
    assert_eq!(g["num"], gift_json["data"]["num"]);
    assert_eq!(g["total_coin"], gift_json["data"]["total_coin"]);
}

#[test]
fn every_fixture_decodes_with_a_room_given() {
    let Some(dir) = fixtures::dir() else { return };
    let mut files: Vec<PathBuf> = fixtures::files(&dir, "messages", "json");
    files.extend(fixtures::files(&dir, "messages-sanitized", "json"));
    files.extend(fixtures::files(&dir, "messages-redacted", "json"));
    files.extend(fixtures::files(&dir, "packets", "bin"));
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = decode(&refs, &["--room", "1017"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out);
    // Every command body yields at least one event.
    let bodies = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .count();
    assert!(
        events.len() >= bodies,
        "{} events for {bodies} bodies",
        events.len()
    );
}

#[test]
fn bad_files_are_named_on_stderr_and_the_good_ones_still_decode() {
    let Some(dir) = fixtures::dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let truncated = tmp.path().join("truncated.bin");
    let full = std::fs::read(dir.join("packets/bililive-rs-buffer.bin")).unwrap();
    std::fs::write(&truncated, &full[..40]).unwrap();
    let not_json = tmp.path().join("garbage.json");
    std::fs::write(&not_json, b"\x00\x01 this is not json").unwrap();
    let missing = tmp.path().join("missing.bin");
    let roomless = tmp.path().join("roomless.json");
    std::fs::write(
        &roomless,
        br#"{"cmd":"WATCHED_CHANGE","data":{"num":17903}}"#,
    )
    .unwrap();
    let good = dir.join("messages/DANMU_MSG/bac-01.json");

    let out = decode(&[&truncated, &good, &not_json, &missing, &roomless], &[]);
    assert!(
        !out.status.success(),
        "a bad file must make the exit status non-zero"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for (file, reason) in [
        (&truncated, "bad packet"),
        (&not_json, "not JSON"),
        (&missing, "cannot read"),
        (&roomless, "--room"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(&*file.display().to_string()))
            .unwrap_or_else(|| panic!("stderr does not name {}: {err}", file.display()));
        assert!(line.contains(reason), "{line:?} should say {reason:?}");
    }
    // With the room given, the good file's event comes out despite its bad neighbours.
    let out = decode(&[&truncated, &good, &not_json], &["--room", "5269"]);
    assert!(!out.status.success());
    let events = lines(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "danmaku");
}

/// The JSON bodies inside a zlib container, read with flate2 directly (not our decoder).
fn inflate_zlib_body(packet: &[u8]) -> Vec<Value> {
    use std::io::Read;
    let header_len = u16::from_be_bytes([packet[4], packet[5]]) as usize;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&packet[header_len..])
        .read_to_end(&mut inflated)
        .unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= inflated.len() {
        let len = u32::from_be_bytes(inflated[at..at + 4].try_into().unwrap()) as usize;
        out.push(serde_json::from_slice(&inflated[at + 16..at + len]).unwrap());
        at += len;
    }
    out
}
