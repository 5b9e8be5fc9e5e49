//! `bilipulse tail` against a real nats-server: every kind of bus message comes out as one JSON
//! line with the contract's field names; a message that does not decode is shown, not dropped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bilipulse_proto::{
    ConnState, Danmaku, Kind, Payload, RoomEvent, RoomStatus, SCHEMA_VERSION, subject,
};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::wait::eventually;
use serde_json::Value;

#[tokio::test]
async fn events_status_raw_frames_and_garbage_are_printed_as_json_lines() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_bilipulse"))
        .args(["tail", "bili.>", "--count", "5", "--nats-url", &nats.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn bilipulse tail");
    let client = async_nats::connect(nats.url()).await.unwrap();

    let event = RoomEvent {
        v: SCHEMA_VERSION,
        room: 5269,
        cmd: "DANMU_MSG".into(),
        ts: 1_790_000_000_123,
        recv: 1_790_000_000_200,
        id: "5269:dm:abc".into(),
        src: "ingester-0".into(),
        payload: Payload::Danmaku(Danmaku {
            uid: 9_007_199_254_740_993,
            text: "弹幕 hello".into(),
            ..Default::default()
        }),
    };
    let status = RoomStatus {
        v: SCHEMA_VERSION,
        room: 5269,
        src: "ingester-0".into(),
        state: ConnState::Connected,
        ..Default::default()
    };
    let messages: Vec<(String, Vec<u8>)> = vec![
        (
            subject::event(5269, Kind::Danmaku),
            bilipulse_proto::encode(&event).unwrap(),
        ),
        (
            subject::status(5269),
            bilipulse_proto::encode(&status).unwrap(),
        ),
        (
            subject::raw(5269),
            br#"{"cmd":"WATCHED_CHANGE","data":{"num":17903}}"#.to_vec(),
        ),
        (
            subject::event(5269, Kind::Gift),
            b"\xc1 not msgpack".to_vec(),
        ),
        (
            subject::raw_frame(5269),
            bilipulse_proto::encode_raw_frame(
                5269,
                "ingester-0",
                1_790_000_000_200,
                &[
                    br#"{"cmd":"LIKE_INFO_V3_UPDATE","data":{"click_count":88}}"#.as_slice(),
                    b"\xff",
                ],
            )
            .unwrap(),
        ),
    ];
    // tail subscribes asynchronously: publish until its first line shows up, then the rest.
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = eventually(
        "tail to print a line",
        Duration::from_secs(20),
        async || {
            client
                .publish(messages[0].0.clone(), messages[0].1.clone().into())
                .await
                .unwrap();
            client.flush().await.unwrap();
            tokio::time::timeout(Duration::from_millis(200), rx.recv())
                .await
                .ok()
                .flatten()
        },
    )
    .await;
    for (subj, payload) in &messages[1..] {
        client
            .publish(subj.clone(), payload.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let mut lines = vec![first];
    while lines.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("line")
            .expect("open");
        // Repeats of the first event (published until tail was listening) are expected.
        if !line.contains("\"kind\":\"danmaku\"") {
            lines.push(line);
        }
    }
    let _ = child.wait();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let ev = &parsed[0];
    assert_eq!(ev["subject"], "bili.event.5269.danmaku");
    assert_eq!(ev["kind"], "danmaku");
    assert_eq!(
        ev["uid"].as_u64(),
        Some(9_007_199_254_740_993),
        "ids above 2^53 stay exact"
    );
    assert_eq!(ev["text"], "弹幕 hello");
    assert!(
        lines[0].starts_with("{\"subject\":"),
        "subject comes first: {}",
        lines[0]
    );

    let st = &parsed[1];
    assert_eq!(st["subject"], "bili.status.5269");
    assert_eq!(st["state"], "connected");
    assert_eq!(st["src"], "ingester-0");

    let raw = &parsed[2];
    assert_eq!(raw["raw"]["data"]["num"], 17903);

    let bad = &parsed[3];
    assert_eq!(bad["subject"], "bili.event.5269.gift");
    assert!(
        bad["error"].as_str().unwrap().contains("malformed"),
        "{bad}"
    );
    assert_eq!(bad["hex"].as_str().unwrap(), "c1206e6f74206d73677061636b");

    let frame = &parsed[4];
    assert_eq!(frame["subject"], "bili.rawframe.5269");
    assert_eq!(frame["recv"], 1_790_000_000_200_i64);
    assert_eq!(frame["bodies"][0]["data"]["click_count"], 88);
    assert_eq!(
        frame["bodies"][1]["not_json"], "\u{fffd}",
        "a body that is not JSON is shown, not dropped"
    );
}
