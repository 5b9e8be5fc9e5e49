//! Scenarios of the `/sub` WebSocket session: auth rules and deadline, the heartbeat reply
//! with its echo quirk, the heartbeat timeout, and what anonymous and logged-in connections
//! see.

mod common;

use std::time::Duration;

use bilipulse_bilibili::wire::{Header, Packet, op};
use bilipulse_sim::{Account, ConnEvent, Profile, RoomSpec, SimConfig};
use common::*;
use serde_json::Value;
use tokio::time::Instant;

const ROOM: u64 = 5269;

fn cfg(rate: f64) -> SimConfig {
    let mut c = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Busy).with_rate(rate)]);
    c.accounts = vec!["logged-in-cookie=777:tester".parse::<Account>().unwrap()];
    c
}

#[tokio::test]
async fn heartbeat_reply_carries_popularity_1_and_echoes_the_body_outside_packet_len() {
    let sim = start(cfg(0.0)).await;
    let creds = resolve(&sim, ROOM, None).await;
    let mut ws = Ws::open(&sim, ROOM, 3, 0, &creds).await;
    ws.heartbeat(b"[object Object]").await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let Some(Frame::Packets { raw, packets, .. }) = ws.next(deadline).await else {
            panic!("no heartbeat reply");
        };
        let h = Header::parse(&raw).unwrap();
        if h.op != op::HEARTBEAT_REPLY {
            continue;
        }
        assert_eq!(h.packet_len, 20);
        assert_eq!((h.header_len, h.protover, h.seq), (16, 1, 0));
        assert_eq!(&raw[16..20], &[0, 0, 0, 1]);
        assert_eq!(&raw[20..], b"[object Object]");
        if let Some(dir) = bilipulse_testkit::fixtures::dir() {
            // The real reply has the same layout: 20 counted bytes + the echo.
            let real = std::fs::read(dir.join("packets/bac-heartbeat-reply.bin")).unwrap();
            let rh = Header::parse(&real).unwrap();
            assert_eq!(
                (rh.packet_len, rh.op, rh.protover),
                (h.packet_len, h.op, h.protover)
            );
            assert_eq!(&real[20..], &raw[20..]);
        }
        // The protocol library's decoder survives the quirk.
        assert!(
            packets
                .iter()
                .any(|p| matches!(p, Packet::HeartbeatReply { popularity: 1 }))
        );
        break;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_does_not_authenticate_in_time_is_closed() {
    let mut c = cfg(0.0);
    c.auth_timeout_ms = 300;
    let sim = start(c).await;
    let mut ws = Ws::connect(&sim, Some(UA)).await;
    let took = ws
        .wait_closed(Instant::now() + DEADLINE)
        .await
        .expect("closed before the test deadline");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    let refused = sim
        .truth()
        .connections()
        .into_iter()
        .find(|c| c.event == ConnEvent::Refused)
        .expect("refusal recorded");
    assert!(refused.reason.unwrap().contains("deadline"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_heartbeat_timeout_and_a_beating_one_is_not() {
    let mut c = cfg(0.0);
    c.heartbeat_timeout_ms = 600;
    let sim = start(c).await;
    let creds = resolve(&sim, ROOM, None).await;
    let mut silent = Ws::open(&sim, ROOM, 3, 0, &creds).await;
    let mut beating = Ws::open(&sim, ROOM, 3, 0, &creds).await;
    let beat = tokio::spawn(async move {
        let until = Instant::now() + Duration::from_millis(1500);
        let mut replies = 0;
        while Instant::now() < until {
            beating.heartbeat(b"{}").await;
            let deadline = Instant::now() + Duration::from_millis(200);
            while let Some(f) = beating.next(deadline).await {
                match f {
                    Frame::Closed => return replies,
                    Frame::Packets { packets, .. } => {
                        replies += packets
                            .iter()
                            .filter(|p| matches!(p, Packet::HeartbeatReply { .. }))
                            .count();
                    }
                }
            }
        }
        replies
    });
    let took = silent
        .wait_closed(Instant::now() + DEADLINE)
        .await
        .expect("silent one closed");
    assert!(took >= Duration::from_millis(500), "{took:?}");
    let replies = beat.await.unwrap();
    assert!(
        replies >= 5,
        "beating client got {replies} replies and stayed open"
    );
    let closes: Vec<_> = sim
        .truth()
        .connections()
        .into_iter()
        .filter(|c| c.event == ConnEvent::Close)
        .collect();
    assert!(
        closes
            .iter()
            .any(|c| c.reason.as_deref() == Some("heartbeat timeout"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_is_refused_with_101_for_a_wrong_key_room_uid_or_user_agent() {
    let mut c = cfg(0.0);
    c.rooms.push(RoomSpec::new(865138, Profile::Quiet));
    let sim = start(c).await;
    let creds = resolve(&sim, ROOM, None).await;
    let cases: Vec<(&str, Option<&str>, u64, u64, Creds)> = vec![
        (
            "wrong key",
            Some(UA),
            0,
            ROOM,
            Creds {
                buvid: creds.buvid.clone(),
                token: "forged".into(),
            },
        ),
        (
            "other room",
            Some(UA),
            0,
            865138,
            Creds {
                buvid: creds.buvid.clone(),
                token: creds.token.clone(),
            },
        ),
        (
            "other uid",
            Some(UA),
            777,
            ROOM,
            Creds {
                buvid: creds.buvid.clone(),
                token: creds.token.clone(),
            },
        ),
        (
            "other UA",
            Some("curl/8.0"),
            0,
            ROOM,
            Creds {
                buvid: creds.buvid.clone(),
                token: creds.token.clone(),
            },
        ),
        (
            "unknown buvid",
            Some(UA),
            0,
            ROOM,
            Creds {
                buvid: "X".into(),
                token: creds.token.clone(),
            },
        ),
    ];
    for (name, ua, uid, room, c) in cases {
        let mut ws = Ws::connect(&sim, ua).await;
        ws.auth(uid, room, 3, &c).await;
        assert_eq!(ws.auth_code().await, -101, "{name}");
        assert!(
            ws.wait_closed(Instant::now() + DEADLINE).await.is_some(),
            "{name}: closed"
        );
    }
    // The right combination still works.
    let _ok = Ws::open(&sim, ROOM, 3, 0, &creds).await;
    sim.shutdown().await;
}

/// Reads commands for `dur`, returning them parsed.
async fn collect(ws: &mut Ws, dur: Duration) -> Vec<Value> {
    let deadline = Instant::now() + dur;
    let mut out = Vec::new();
    while let Some(Frame::Packets { packets, error, .. }) = ws.next(deadline).await {
        assert_eq!(error, None);
        for p in packets {
            if let Packet::Command(body) = p {
                out.push(serde_json::from_slice(&body).expect("command is JSON"));
            }
        }
    }
    out
}

#[tokio::test]
async fn anonymous_connections_get_log_in_notice_and_masked_identities() {
    let sim = start(cfg(150.0)).await;
    let creds = resolve(&sim, ROOM, None).await;
    let mut ws = Ws::open(&sim, ROOM, 3, 0, &creds).await;
    let cmds = collect(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(cmds.first().map(base_cmd).as_deref(), Some("LOG_IN_NOTICE"));
    let danmaku: Vec<&Value> = cmds.iter().filter(|c| base_cmd(c) == "DANMU_MSG").collect();
    assert!(danmaku.len() > 20, "{} danmaku", danmaku.len());
    for d in &danmaku {
        assert_eq!(d["info"][2][0], 0);
        assert!(d["info"][2][1].as_str().unwrap().ends_with("***"));
    }
    // The truth knows the real names behind the masks: same first character.
    let truth = sim.truth().events_of(ROOM);
    let by_text: Vec<(String, &str)> = danmaku
        .iter()
        .map(|d| {
            let extra: Value =
                serde_json::from_str(d["info"][0][15]["extra"].as_str().unwrap()).unwrap();
            (
                extra["id_str"].as_str().unwrap_or("").to_owned(),
                d["info"][2][1].as_str().unwrap(),
            )
        })
        .collect();
    for (id, masked) in by_text {
        let rec = truth
            .iter()
            .find(|r| r.native_id.as_deref() == Some(&format!("dm:{id}")))
            .expect("danmaku in truth");
        let real = rec.uname.as_deref().unwrap();
        assert_ne!(real, masked);
        assert_eq!(real.chars().next(), masked.chars().next());
        assert!(rec.uid.unwrap() > 0);
    }
    let auth = sim
        .truth()
        .connections()
        .into_iter()
        .find(|c| c.event == ConnEvent::Auth)
        .unwrap();
    assert_eq!(auth.masked, Some(true));
    sim.shutdown().await;
}

#[tokio::test]
async fn logged_in_connections_see_real_uids_and_names() {
    let sim = start(cfg(150.0)).await;
    let creds = resolve(&sim, ROOM, Some("logged-in-cookie")).await;
    let mut ws = Ws::open(&sim, ROOM, 2, 777, &creds).await;
    let cmds = collect(&mut ws, Duration::from_secs(2)).await;
    assert!(cmds.iter().all(|c| base_cmd(c) != "LOG_IN_NOTICE"));
    let truth = sim.truth().events_of(ROOM);
    let mut checked = 0;
    for d in cmds.iter().filter(|c| base_cmd(c) == "DANMU_MSG") {
        let extra: Value =
            serde_json::from_str(d["info"][0][15]["extra"].as_str().unwrap()).unwrap();
        let id = format!("dm:{}", extra["id_str"].as_str().unwrap());
        let rec = truth
            .iter()
            .find(|r| r.native_id.as_deref() == Some(&id))
            .unwrap();
        assert_eq!(d["info"][2][0].as_u64(), rec.uid);
        assert_eq!(d["info"][2][1].as_str(), rec.uname.as_deref());
        assert_eq!(d["info"][1].as_str(), rec.text.as_deref());
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
    sim.shutdown().await;
}
