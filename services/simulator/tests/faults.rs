//! Scenarios of fault injection: each fault is observable by a client exactly as described,
//! through the in-process handle and through `POST /admin/faults`.

mod common;

use std::time::Duration;

use bilipulse_bilibili::wire::{Header, Packet};
use bilipulse_sim::{
    BOMB_INFLATED_LEN, FaultRequest, Malformed, Oversize, Profile, RoomSpec, SimConfig,
};
use bilipulse_testkit::wait::converge;
use common::*;
use tokio::time::Instant;

const A: u64 = 5269;
const B: u64 = 865138;

fn cfg() -> SimConfig {
    let mut c = SimConfig::for_tests(&[
        RoomSpec::new(A, Profile::Busy).with_rate(100.0),
        RoomSpec::new(B, Profile::Normal).with_rate(100.0),
    ]);
    c.heartbeat_timeout_ms = 60_000;
    c
}

/// Waits for a command frame; true if one arrived before the deadline.
async fn gets_commands(ws: &mut Ws, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while let Some(f) = ws.next(deadline).await {
        match f {
            Frame::Closed => return false,
            Frame::Packets { packets, .. } => {
                if packets.iter().any(|p| matches!(p, Packet::Command(_))) {
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test]
async fn dropping_a_room_cuts_its_connections_and_spares_the_others() {
    let sim = start(cfg()).await;
    let ca = resolve(&sim, A, None).await;
    let cb = resolve(&sim, B, None).await;
    let mut a1 = Ws::open(&sim, A, 3, 0, &ca).await;
    let mut a2 = Ws::open(&sim, A, 2, 0, &ca).await;
    let mut b = Ws::open(&sim, B, 3, 0, &cb).await;
    assert_eq!(sim.faults().drop_connections(Some(A)).unwrap(), 2);
    assert!(a1.wait_closed(Instant::now() + DEADLINE).await.is_some());
    assert!(a2.wait_closed(Instant::now() + DEADLINE).await.is_some());
    assert!(gets_commands(&mut b, DEADLINE).await, "room B still served");
    let faults = sim.truth().faults();
    assert_eq!((faults[0].fault.as_str(), faults[0].affected), ("drop", 2));
    assert!(
        sim.faults().drop_connections(Some(1)).is_err(),
        "unknown room"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_stall_stops_frames_and_heartbeat_replies_then_traffic_resumes() {
    let sim = start(cfg()).await;
    let creds = resolve(&sim, A, None).await;
    let mut ws = Ws::open(&sim, A, 3, 0, &creds).await;
    assert!(gets_commands(&mut ws, DEADLINE).await);
    let stall = Duration::from_millis(1200);
    let t0 = sim.truth().summary().commands;
    sim.faults().stall(Some(A), stall).unwrap();
    let stalled_at = Instant::now();
    ws.heartbeat(b"{}").await;
    let mut hb_replies_during = 0;
    while let Some(Frame::Packets { packets, .. }) = ws
        .next(stalled_at + stall - Duration::from_millis(100))
        .await
    {
        hb_replies_during += packets
            .iter()
            .filter(|p| matches!(p, Packet::HeartbeatReply { .. }))
            .count();
    }
    assert_eq!(hb_replies_during, 0, "no heartbeat reply while stalled");
    // Commands generated during the stall reached nobody.
    let undelivered = sim
        .truth()
        .events_of(A)
        .into_iter()
        .filter(|e| e.seq > t0 && e.conns == 0)
        .count();
    assert!(
        undelivered > 10,
        "{undelivered} undelivered during the stall"
    );
    // Afterwards: heartbeats answered and commands flowing again.
    tokio::time::sleep_until(stalled_at + stall).await;
    ws.heartbeat(b"{}").await;
    let deadline = Instant::now() + DEADLINE;
    let (mut replied, mut commands) = (false, false);
    while !(replied && commands) {
        match ws.next(deadline).await {
            Some(Frame::Packets { packets, .. }) => {
                replied |= packets
                    .iter()
                    .any(|p| matches!(p, Packet::HeartbeatReply { .. }));
                commands |= packets.iter().any(|p| matches!(p, Packet::Command(_)));
            }
            other => panic!("after the stall: {other:?}"),
        }
    }
    sim.shutdown().await;
}

/// Sends a fault frame and returns the first frame the decoder rejects.
async fn rejected_frame(ws: &mut Ws) -> (bytes::Bytes, String) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match ws.next(deadline).await {
            Some(Frame::Packets {
                raw,
                error: Some(e),
                ..
            }) => return (raw, e),
            Some(Frame::Packets { .. }) => continue,
            other => panic!("no rejected frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_frames_reach_the_client_and_fail_to_decode() {
    let sim = start(cfg()).await;
    let creds = resolve(&sim, A, None).await;
    let mut ws = Ws::open(&sim, A, 3, 0, &creds).await;
    for kind in [
        Malformed::BadHeaderLen,
        Malformed::Truncated,
        Malformed::GarbageBrotli,
    ] {
        assert_eq!(sim.faults().malformed(Some(A), kind, 1).unwrap(), 1);
        let (raw, _err) = rejected_frame(&mut ws).await;
        let h = Header::parse(&raw).unwrap();
        match kind {
            Malformed::BadHeaderLen => assert_ne!(h.header_len, 16),
            Malformed::Truncated => assert!(h.packet_len as usize > raw.len()),
            Malformed::GarbageBrotli => {
                assert_eq!((h.protover, h.packet_len as usize), (3, raw.len()))
            }
        }
    }
    // The connection survives and keeps getting traffic.
    assert!(gets_commands(&mut ws, DEADLINE).await);
    sim.shutdown().await;
}

#[tokio::test]
async fn oversize_frames_declare_17_mib_or_inflate_past_the_limit() {
    let sim = start(cfg()).await;
    let creds = resolve(&sim, A, None).await;
    let mut ws = Ws::open(&sim, A, 3, 0, &creds).await;
    sim.faults()
        .oversize(Some(A), Oversize::DeclaredLength, 1)
        .unwrap();
    let (raw, _) = rejected_frame(&mut ws).await;
    let h = Header::parse(&raw).unwrap();
    assert!(h.packet_len > 16 << 20);
    assert!(raw.len() < 1024, "the frame itself is small");
    sim.faults()
        .oversize(Some(A), Oversize::DecompressionBomb, 1)
        .unwrap();
    let (raw, _) = rejected_frame(&mut ws).await;
    assert!(
        raw.len() < BOMB_INFLATED_LEN / 100,
        "{} bytes on the wire",
        raw.len()
    );
    let mut inflated = Vec::new();
    brotli::BrotliDecompress(&mut &raw[16..], &mut inflated).unwrap();
    assert_eq!(inflated.len(), BOMB_INFLATED_LEN);
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_auths_get_101_and_a_close_then_auth_works_again() {
    let sim = start(cfg()).await;
    let creds = resolve(&sim, A, None).await;
    sim.faults().refuse_auth(2);
    for _ in 0..2 {
        let mut ws = Ws::connect(&sim, Some(UA)).await;
        ws.auth(0, A, 3, &creds).await;
        assert_eq!(ws.auth_code().await, -101);
        assert!(ws.wait_closed(Instant::now() + DEADLINE).await.is_some());
    }
    let _ok = Ws::open(&sim, A, 3, 0, &creds).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_endpoint_arms_risk_control_and_reports_the_truth() {
    let sim = start(cfg()).await;
    let client = http();
    let admin = format!("{}admin/faults", sim.http_base());
    let resp = client
        .post(&admin)
        .json(&FaultRequest {
            fault: "risk_control".into(),
            count: Some(2),
            ..Default::default()
        })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let buvid = buvid3(&sim, &client).await;
    let mixin = mixin_key(&sim, &client).await;
    let cookie = format!("buvid3={buvid}");
    let mut codes = Vec::new();
    for _ in 0..3 {
        let v = get_json(
            &client,
            &danmu_info_url(&sim, A, &mixin, now_s()),
            Some(&cookie),
        )
        .await;
        codes.push(v["code"].as_i64().unwrap());
    }
    assert_eq!(codes, [-352, -352, 0]);
    let bad = client
        .post(&admin)
        .json(&serde_json::json!({"fault": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad_kind = client
        .post(&admin)
        .json(&serde_json::json!({"fault": "malformed", "kind": "sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_kind.status(), 400);
    // Traffic has just started: poll until the summary shows some.
    let summary = converge("commands in the truth summary", DEADLINE, async || {
        let url = format!("{}admin/truth/summary", sim.http_base());
        let summary = get_json(&client, &url, None).await;
        match summary["commands"].as_u64() {
            Some(n) if n > 0 => Ok(summary),
            _ => Err(summary.to_string()),
        }
    })
    .await;
    assert!(summary["rooms"].get(A.to_string()).is_some(), "{summary}");
    sim.shutdown().await;
}
