//! Every limit against abuse, enforced over real sockets, and every bad request answered with an
//! `error` frame without dropping the connection.

mod common;

use common::*;
use serde_json::json;

const ROOM: u64 = 21_452_505;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_answered_with_errors_and_the_connection_stays() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    let gw = world.gateway("gw", &[]).await;
    let mut c = WsClient::connect(&gw.ws_url()).await;
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "bad_json"),
        ("[1,2,3]".into(), "bad_json"),
        (r#"{"rooms":[1]}"#.into(), "bad_request"),
        (
            r#"{"op":"subscribe","rooms":"x","channels":["1s"]}"#.into(),
            "bad_request",
        ),
        (r#"{"op":"fly","req":9}"#.into(), "unknown_op"),
        (
            json!({"op":"subscribe","rooms":[1],"channels":["1s"]}).to_string(),
            "unknown_room",
        ),
        (
            json!({"op":"subscribe","rooms":[ROOM],"channels":["5s"]}).to_string(),
            "unknown_channel",
        ),
        ("{".repeat(100), "bad_json"),
        ("\u{0}\u{1}\u{7f}🙂".into(), "bad_json"),
    ];
    for (text, code) in &cases {
        c.send(text.clone()).await;
        let (e, _) = c.until(|v| v["type"] == "error").await;
        assert_eq!(e["code"], *code, "{text:?} → {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The request id is echoed even on errors.
    c.send(r#"{"op":"fly","req":{"n":9}}"#).await;
    let (e, _) = c.until(|v| v["type"] == "error").await;
    assert_eq!(e["req"], json!({"n": 9}));
    // A binary frame is refused by name.
    c.send_binary(vec![0, 1, 2]).await;
    let (e, _) = c.until(|v| v["type"] == "error").await;
    assert_eq!(e["code"], "binary_frame");
    // Still connected, and a valid subscription still works.
    c.alive().await;
    c.request(json!({"op":"subscribe","rooms":[ROOM],"channels":["1s"]}))
        .await;
    let (s, _) = c.until(|v| v["type"] == "subscribed").await;
    assert_eq!(s["room"], ROOM);
    let errors = gw.metric("bilipulse_gateway_client_errors_total").await;
    assert_eq!(errors, (cases.len() + 2) as f64, "every error counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_per_client_frame_size_and_message_rate_are_limited() {
    let Some(world) = World::start().await else {
        return;
    };
    for r in [1, 2, 3] {
        world.add_room(r, None).await;
    }
    let gw = world
        .gateway(
            "gw",
            &[
                ("--max-rooms-per-client", "2"),
                ("--max-frame-bytes", "1024"),
                ("--max-msgs-per-sec", "5"),
            ],
        )
        .await;
    let mut c = WsClient::connect(&gw.ws_url()).await;
    c.request(json!({"op":"subscribe","rooms":[1,2,3],"channels":["1m"]}))
        .await;
    let (e, before) = c.until(|v| v["type"] == "error").await;
    assert_eq!(e["code"], "too_many_rooms");
    assert!(
        before.iter().all(|v| v["type"] != "subscribed"),
        "nothing of it applied"
    );
    c.request(json!({"op":"subscribe","rooms":[1,2],"channels":["1m"]}))
        .await;
    c.until(|v| v["type"] == "subscribed" && v["room"] == 2)
        .await;

    // More than 5 frames in a second: the excess is refused, the connection stays.
    for i in 0..20 {
        c.request(json!({"op":"ping","req":i})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while pongs + limited < 20 {
        let v = c.next().await;
        match v["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if v["code"] == "rate_limited" => limited += 1,
            _ => {}
        }
    }
    assert!(limited >= 10, "{limited} of 20 rate-limited");
    assert!(pongs >= 1, "the first ones were answered");

    // A frame over the limit closes the connection with 1009.
    c.send("x".repeat(4096)).await;
    let end = loop {
        match c.next_or_end(DEADLINE).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(end, Ended::Close(1009));
    converge("its topics released", DEADLINE, async || {
        let n = gw.metric("bilipulse_gateway_subscriptions").await;
        (n == 0.0).then_some(()).ok_or(format!("{n} topics"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_origins_and_idle_clients_are_limited() {
    let Some(world) = World::start().await else {
        return;
    };
    let gw = world
        .gateway(
            "gw",
            &[
                ("--max-connections", "2"),
                ("--allowed-origins", "https://pulse.example.com"),
                ("--idle-timeout", "1s"),
                ("--ping-interval", "10m"),
            ],
        )
        .await;
    // Origins: a foreign page is refused before the upgrade; a listed one is not.
    let status = upgrade_status(&gw, Some("https://evil.example")).await;
    assert_eq!(status, 403);
    let status = upgrade_status(&gw, Some("https://pulse.example.com")).await;
    assert_eq!(status, 101);

    // Idle: a client that sends nothing is closed after the idle timeout.
    let mut idle = WsClient::connect(&gw.ws_url()).await;
    let end = idle.next_or_end(DEADLINE).await;
    assert_eq!(end.err(), Some(Ended::Close(1000)));

    // Connections: two are held, the third is refused with 503 until one leaves.
    converge("earlier connections gone", DEADLINE, async || {
        let n = gw.metric("bilipulse_gateway_connections").await;
        (n == 0.0).then_some(()).ok_or(format!("{n} connections"))
    })
    .await;
    let mut a = WsClient::connect(&gw.ws_url()).await;
    let mut b = WsClient::connect(&gw.ws_url()).await;
    assert_eq!(upgrade_status(&gw, None).await, 503);
    a.alive().await;
    b.alive().await;
    a.close().await;
    converge("a slot freed", DEADLINE, async || {
        let s = upgrade_status(&gw, None).await;
        (s == 101).then_some(()).ok_or(format!("status {s}"))
    })
    .await;
    let refused = gw.metric("bilipulse_gateway_refused_total").await;
    assert!(refused >= 2.0, "refusals counted ({refused})");
}

/// The status of a WebSocket upgrade request with this Origin (101 when accepted).
async fn upgrade_status(gw: &Gateway, origin: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n",
        gw.addr
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"))
}
