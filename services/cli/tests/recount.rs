//! `bilipulse recount` against a real nats-server: hand-made events of every kind (and messages
//! that must be skipped) published to `BILI_EVENTS`, recounted in-process and by the binary,
//! and compared with summaries published to `BILI_SUMMARY`. Every expected value is worked out
//! by hand below, never by running the code under test.

mod common;

use std::process::Command;
use std::time::Duration;

use async_nats::jetstream;
use bilipulse::recount::{self, FieldDiff, Range, Verdict, WindowDiff};
use bilipulse_proto::{
    Audience, CoinType, Coverage, Guard, InteractAction, Kind, Like, LiveState, Other, Payload,
    RoomEvent, SCHEMA_VERSION, SuperChat, Window, WindowSummary, subject,
};
use bilipulse_runtime::{bus, config::StreamOverrides};
use bilipulse_testkit::NatsServer;
use serde_json::{Value, json};

use common::events::{dm, ev, gift, interact, live};

const ROOM: u64 = 21_452_505;
const OTHER_ROOM: u64 = 865_138;
const M: i64 = 60_000;

/// Ten minutes ago, on a minute boundary: recent enough that every `ts` is plausible.
fn t0() -> i64 {
    let now = bilipulse_runtime::clock::now_ms();
    Window::M1.start_of(now) - 10 * M
}

fn aud(watched: Option<u64>, online_count: Option<u64>) -> Payload {
    Payload::Audience(Audience {
        watched,
        online_count,
        ..Default::default()
    })
}

/// Publishes and waits for JetStream's ack, so stream order is publication order.
async fn publish(js: &jetstream::Context, subject: String, payload: Vec<u8>) {
    js.publish(subject, payload.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

async fn publish_event(js: &jetstream::Context, e: &RoomEvent) {
    let payload = bilipulse_proto::encode(e).unwrap();
    publish(js, subject::event(e.room, e.kind()), payload).await;
}

/// The events, in publication order, and the messages that must be skipped.
async fn publish_events(js: &jetstream::Context, t0: i64) {
    let r = |ts, p| ev(ROOM, ts, p);
    let gift_v2 = RoomEvent {
        cmd: "SEND_GIFT_V2".into(),
        ..r(t0 + 50_000, Payload::Other(Other::default()))
    };
    let superchat = Payload::Superchat(SuperChat {
        price_cny: 30,
        ..Default::default()
    });
    let guard = Payload::Guard(Guard {
        price_gold: 198_000,
        ..Default::default()
    });
    let events = [
        // Minute 0.
        r(t0 + 1_000, dm(1, "aa", false, false)),
        r(t0 + 2_000, dm(2, "bb", false, false)),
        r(t0 + 3_000, dm(1, "aa", false, false)),
        r(t0 + 4_000, dm(3, "dd", false, true)),
        r(t0 + 5_000, gift(5_200, CoinType::Gold, false)),
        r(t0 + 5_500, gift(52_000, CoinType::Gold, true)),
        r(t0 + 6_000, gift(900, CoinType::Silver, false)),
        r(t0 + 7_000, superchat),
        r(t0 + 8_000, guard),
        r(t0 + 9_000, interact(InteractAction::Enter)),
        r(t0 + 9_100, interact(InteractAction::Follow)),
        r(t0 + 9_200, interact(InteractAction::Share)),
        r(t0 + 10_000, Payload::Like(Like::default())),
        r(t0 + 11_000, Payload::Like(Like::default())),
        r(t0 + 20_000, aud(Some(100), Some(50))),
        r(t0 + 30_000, aud(Some(120), None)),
        r(t0 + 40_000, live(LiveState::Live)),
        gift_v2,
        // Minute 1: one masked sender, so CRC32s are counted (aa, cc).
        r(t0 + M + 1_000, dm(0, "aa", true, false)),
        r(t0 + M + 2_000, dm(0, "cc", true, false)),
        r(t0 + M + 3_000, dm(5, "aa", false, false)),
        r(t0 + M + 30_000, aud(Some(200), None)),
        // Out of order: older than what is already stored.
        r(t0 + M + 1, aud(Some(999), None)),
        r(t0 + 59_000, Payload::Like(Like::default())),
        // Minute 2.
        r(t0 + 2 * M + 10, live(LiveState::Preparing)),
        r(t0 + 2 * M + 20, dm(9, "ee", false, false)),
        // Another room: filtered out, never read.
        ev(OTHER_ROOM, t0 + 1_000, dm(1, "aa", false, false)),
    ];
    for e in &events {
        publish_event(js, e).await;
    }
    let dm_subject = subject::event(ROOM, Kind::Danmaku);
    // Undecodable.
    publish(js, dm_subject.clone(), b"\xc1 not msgpack".to_vec()).await;
    // A gift on the danmaku subject, and another room's danmaku on ours: mismatches.
    let g = bilipulse_proto::encode(&r(t0 + 1, gift(1, CoinType::Gold, false))).unwrap();
    publish(js, dm_subject.clone(), g).await;
    let foreign = ev(OTHER_ROOM, t0 + 1, dm(1, "aa", false, false));
    publish(js, dm_subject, bilipulse_proto::encode(&foreign).unwrap()).await;
    // Absurd times: two hours in the future, and 1970.
    publish_event(
        js,
        &r(t0 + 10 * M + 2 * 3_600_000, dm(1, "aa", false, false)),
    )
    .await;
    publish_event(js, &r(1_000, dm(1, "aa", false, false))).await;
}

/// The expected windows, by hand.
fn expected(t0: i64) -> Vec<WindowSummary> {
    let minute = |m: i64| WindowSummary {
        v: SCHEMA_VERSION,
        room: ROOM,
        window: "1m".into(),
        start: t0 + m * M,
        end: t0 + (m + 1) * M,
        ..Default::default()
    };
    let m0 = WindowSummary {
        // 4 danmaku, 3 gifts, superchat, guard, 3 interact, 3 likes, 2 audience, live, other
        events: 19,
        danmaku: 3,
        lottery_danmaku: 1,
        chatters: 2,
        chatters_reliable: true,
        gifts: 1,
        gift_mcny: 5_200,
        gift_cny: 5.2,
        free_gifts: 1,
        superchats: 1,
        superchat_mcny: 30_000,
        superchat_cny: 30.0,
        guards: 1,
        guard_mcny: 198_000,
        guard_cny: 198.0,
        total_mcny: 233_200,
        total_cny: 233.2,
        enters: 1,
        follows: 1,
        shares: 1,
        likes: 3,
        watched: Some(120),
        online_count: Some(50),
        live: Some(true),
        coverage: Coverage {
            undecoded_gifts: 1,
            ..Default::default()
        },
        ..minute(0)
    };
    let m1 = WindowSummary {
        events: 5,
        danmaku: 3,
        chatters: 2,
        chatters_reliable: false,
        watched: Some(200),
        live: Some(true),
        ..minute(1)
    };
    let m2 = WindowSummary {
        events: 2,
        danmaku: 1,
        chatters: 1,
        chatters_reliable: true,
        live: Some(false),
        ..minute(2)
    };
    vec![m0, m1, m2]
}

async fn bus(nats: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = bus::jetstream(client);
    bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .expect("streams");
    js
}

fn bilipulse(nats: &NatsServer, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bilipulse"))
        .arg("recount")
        .args(args)
        .args(["--nats-url", &nats.url()])
        .output()
        .expect("run bilipulse recount");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[tokio::test]
async fn recount_counts_every_kind_and_skips_by_cause() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let js = bus(&nats).await;
    let t0 = t0();
    publish_events(&js, t0).await;

    let got = recount::recount(&js, ROOM, Window::M1, Range::ALL)
        .await
        .expect("recount");
    assert_eq!(got.windows, expected(t0));
    let skipped = recount::Skipped {
        undecodable: 1,
        subject_mismatch: 2,
        implausible_ts: 2,
        ..Default::default()
    };
    assert_eq!(got.skipped, skipped);
    assert_eq!(
        got.read,
        26 + 5,
        "this room's messages only, every one once"
    );

    // Bounds select window starts; minute 1 still knows minute 0's LIVE.
    let range = Range {
        from: Some(t0 + M),
        to: Some(t0 + 2 * M),
    };
    let got = recount::recount(&js, ROOM, Window::M1, range)
        .await
        .unwrap();
    assert_eq!(got.windows, vec![expected(t0)[1].clone()]);

    // Ten-second windows split minute 0: its first 10 s hold 4 danmaku and 3 gifts.
    let got = recount::recount(&js, ROOM, Window::S10, Range::ALL)
        .await
        .unwrap();
    let first = &got.windows[0];
    assert_eq!((first.start, first.end), (t0, t0 + 10_000));
    assert_eq!(
        (
            first.events,
            first.danmaku,
            first.gifts,
            first.window.as_str()
        ),
        (12, 3, 1, "10s")
    );

    // A room with no events ends at once: the end is "nothing pending", not a timer.
    let empty = tokio::time::timeout(
        Duration::from_secs(10),
        recount::recount(&js, 1234, Window::M1, Range::ALL),
    )
    .await
    .expect("an empty room returns at once")
    .unwrap();
    assert_eq!((empty.windows.len(), empty.read), (0, 0));
}

/// Stored summaries: minute 0 wrong at rev 0 and right at rev 1, minute 1 right (with status
/// coverage the recount cannot know), minute 2 wrong, minute 5 empty.
async fn publish_summaries(js: &jetstream::Context, t0: i64) {
    let want = expected(t0);
    let m0_rev0 = WindowSummary {
        likes: 2,
        ..want[0].clone()
    };
    let m0_rev1 = WindowSummary {
        rev: 1,
        ..want[0].clone()
    };
    let mut m1 = want[1].clone();
    m1.coverage = Coverage {
        connected_ms: 60_000,
        masked_ms: 60_000,
        reconnects: 1,
        late_events: 1,
        complete: true,
        ..m1.coverage
    };
    let m2_wrong = WindowSummary {
        danmaku: 2,
        ..want[2].clone()
    };
    let m5_empty = WindowSummary {
        v: SCHEMA_VERSION,
        room: ROOM,
        window: "1m".into(),
        start: t0 + 5 * M,
        end: t0 + 6 * M,
        live: Some(false),
        ..Default::default()
    };
    for s in [m0_rev0, m0_rev1, m1, m2_wrong, m5_empty] {
        let payload = bilipulse_proto::encode(&s).unwrap();
        publish(js, subject::summary(ROOM, Window::M1), payload).await;
    }
    // Another width of the same room is not this comparison's business.
    let other = WindowSummary {
        window: "10s".into(),
        ..expected(t0)[0].clone()
    };
    let payload = bilipulse_proto::encode(&other).unwrap();
    publish(js, subject::summary(ROOM, Window::S10), payload).await;
}

#[tokio::test]
async fn compare_finds_exactly_the_wrong_window() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let js = bus(&nats).await;
    let t0 = t0();
    publish_events(&js, t0).await;
    publish_summaries(&js, t0).await;

    let mine = recount::recount(&js, ROOM, Window::M1, Range::ALL)
        .await
        .unwrap();
    let stored = recount::stored_summaries(&js, ROOM, Window::M1, Range::ALL)
        .await
        .unwrap();
    assert_eq!(
        (stored.read, stored.skipped, stored.summaries.len()),
        (5, 0, 4)
    );
    let cmp = recount::compare(&mine.windows, &stored.summaries);
    assert_eq!(cmp.compared, 4);
    assert_eq!(
        cmp.diffs,
        vec![WindowDiff {
            start: t0 + 2 * M,
            verdict: Verdict::Disagree(vec![FieldDiff {
                field: "danmaku",
                recounted: json!(1),
                stored: json!(2),
            }]),
        }]
    );

    let (code, out, err) = bilipulse(&nats, &["--room", "21452505", "--compare"]);
    assert_eq!(code, Some(1), "disagreement exits 1; stderr: {err}");
    let at = recount::print::time(t0 + 2 * M);
    assert_eq!(
        out,
        format!("{at}  danmaku: recounted 1, stored 2\n4 windows compared, 1 disagree\n")
    );
    assert!(err.contains("undecodable 1"), "{err}");
    assert!(
        err.contains("subject_mismatch 2, implausible_ts 2"),
        "{err}"
    );

    let from = recount::print::time(t0);
    let to = (t0 + 2 * M).to_string();
    let args = [
        "--room", "21452505", "--window", "1m", "--from", &from, "--to", &to,
    ];
    let (code, out, err) = bilipulse(&nats, &[&args[..], &["--compare"]].concat());
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(out, "2 windows compared, 0 disagree\n");

    let (code, out, err) = bilipulse(&nats, &["--room", "21452505", "--compare", "--json"]);
    assert_eq!(code, Some(1));
    let line: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(line["start"], json!(t0 + 2 * M));
    assert_eq!(
        line["fields"],
        json!([{"field": "danmaku", "recounted": 1, "stored": 2}])
    );
    assert!(err.contains("4 windows compared, 1 disagree"), "{err}");
}

#[tokio::test]
async fn the_binary_prints_json_lines_and_a_table() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let js = bus(&nats).await;
    let t0 = t0();
    publish_events(&js, t0).await;

    let (code, out, err) = bilipulse(&nats, &["--room", "21452505", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<Value> = expected(t0)
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(lines, want);
    assert!(err.contains("read 31 messages"), "{err}");

    let (code, out, _) = bilipulse(&nats, &["--room", "21452505"]);
    assert_eq!(code, Some(0));
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("START (UTC)"), "{out}");
    assert_eq!(
        rows.len(),
        1 + 3 + 1,
        "header, three windows, the masked note: {out}"
    );
    assert!(rows[2].contains("2*"), "minute 1 counted CRC32s: {out}");

    // Bad flags and a missing stream are errors (2), not disagreements (1).
    let (code, _, err) = bilipulse(&nats, &["--room", "1", "--from", "10", "--to", "5"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = bilipulse(&nats, &["--room", "1", "--window", "60s"]);
    assert_eq!(code, Some(2), "clap refuses non-canonical widths: {err}");
}
