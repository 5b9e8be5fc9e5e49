//! `bilipulse reparse ROOM` against a real nats-server: the events of a room are rebuilt from
//! the raw frames (and per-command bodies) stored for it; a repeat within the duplicate window,
//! a body that is not a command and a message that is not a frame are counted, not fatal.

use std::process::Command;

use async_nats::jetstream;
use bilipulse_proto::{RawFrame, encode_raw_frame, subject};
use bilipulse_runtime::{bus, config::StreamOverrides};
use bilipulse_testkit::NatsServer;
use serde_json::Value;

const ROOM: u64 = 21_452_505;
const T0: i64 = 1_790_000_000_000;

const DANMU: &str = r#"{"cmd":"DANMU_MSG","info":[[0,1,25,16777215,1790000000000,0,0,"5f1c2a9b",0,0,0,"",0,"{}","{}",{"extra":"{\"id_str\":\"dm-one\"}"}],"晚上好",[42,"观众",0,0,0,10000,1,""]]}"#;
const WATCHED: &str = r#"{"cmd":"WATCHED_CHANGE","data":{"num":17903}}"#;
const LIKE: &str = r#"{"cmd":"LIKE_INFO_V3_UPDATE","data":{"click_count":88}}"#;

async fn publish(js: &jetstream::Context, subject: String, payload: Vec<u8>, id: Option<String>) {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(id) = id {
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
    }
    js.publish_with_headers(subject, headers, payload.into())
        .await
        .expect("publish")
        .await
        .expect("stored");
}

fn reparse(nats: &NatsServer, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bilipulse"))
        .args(["reparse", &ROOM.to_string(), "--nats-url", &nats.url()])
        .args(extra)
        .output()
        .expect("run bilipulse reparse");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn events_come_back_from_frames_and_bodies_and_repeats_count_once() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = bus::jetstream(client);
    bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .expect("streams");

    // Frame 1: a danmaku and an audience update; frame 2, 5 s later, cut differently (as a
    // second ingester during a hand-over would): the same danmaku again, a like, and a body
    // that is not a command. Then garbage on the subject and one per-command body.
    let frame1 = [DANMU.as_bytes(), WATCHED.as_bytes()];
    let frame2 = [DANMU.as_bytes(), LIKE.as_bytes(), b"not json".as_slice()];
    for (frame, recv) in [(&frame1[..], T0), (&frame2[..], T0 + 5_000)] {
        publish(
            &js,
            subject::raw_frame(ROOM),
            encode_raw_frame(ROOM, "ingester-0", recv, frame).unwrap(),
            Some(RawFrame::dedup_id(ROOM, frame)),
        )
        .await;
    }
    publish(
        &js,
        subject::raw_frame(ROOM),
        b"\xc1 garbage".to_vec(),
        None,
    )
    .await;
    let gift = r#"{"cmd":"SEND_GIFT","data":{"uid":7,"uname":"路人","giftId":1,"giftName":"辣条","num":3,"price":100,"coin_type":"gold","total_coin":300,"timestamp":1790000001,"tid":"1790000001120200001"}}"#;
    publish(&js, subject::raw(ROOM), gift.as_bytes().to_vec(), None).await;

    let report: Value = serde_json::from_str(reparse(&nats, &["--count"]).trim()).unwrap();
    assert_eq!(report["frames"], 2);
    assert_eq!(report["bodies"], 6, "5 in frames, 1 per command");
    assert_eq!(report["undecodable"], 1);
    assert_eq!(report["not_commands"], 1);
    assert_eq!(report["repeats"], 1, "the danmaku of frame 2 is a repeat");
    assert_eq!(report["by_kind"]["danmaku"], 1);
    assert_eq!(report["by_kind"]["audience"], 2, "watched and likes");
    assert_eq!(report["by_kind"]["gift"], 1, "from the per-command body");
    let events = report["events"].as_u64().unwrap();
    assert_eq!(events, 4, "{report}");

    let lines: Vec<Value> = reparse(&nats, &[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, events, "one JSON line per event");
    let danmaku = lines.iter().find(|e| e["kind"] == "danmaku").unwrap();
    assert_eq!(danmaku["text"], "晚上好");
    assert_eq!(danmaku["recv"], T0, "the frame's receive time");
    assert_eq!(danmaku["src"], "reparse");
    assert!(lines.iter().all(|e| e["room"] == ROOM));
}
