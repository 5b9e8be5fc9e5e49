//! The REST API and SSE over real HTTP: auth (401/403/201/204), JSON errors with status codes,
//! history reads that keep the highest revision, sessions, the OpenAPI document, and SSE
//! delivering the same messages as the WebSocket.

mod common;

use bilipulse_proto::subject::Window;
use bilipulse_proto::{LiveSession, SCHEMA_VERSION, subject};
use common::*;
use serde_json::{Value, json};

const ROOM: u64 = 21_452_505;

async fn get(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = reqwest::get(gw.url(path)).await.expect("http");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_token_and_every_error_is_json() {
    let Some(world) = World::start().await else {
        return;
    };
    let gw = world.gateway("gw", &[]).await;
    let http = reqwest::Client::new();
    let post = |auth: Option<&str>, body: Value| {
        let mut r = http.post(gw.url("/api/rooms")).json(&body);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    let r = post(None, json!({"id": ROOM})).await.expect("http");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(&r.json().await.expect("json"), "unauthorized");
    let r = post(Some("Bearer nope"), json!({"id": ROOM}))
        .await
        .expect("http");
    assert_eq!(r.status().as_u16(), 401);
    let r = post(Some(&format!("Bearer {TOKEN}")), json!({"idd": 1}))
        .await
        .expect("http");
    assert_eq!(r.status().as_u16(), 400);
    assert_error(&r.json().await.expect("json"), "bad_request");

    let r = post(
        Some(&format!("Bearer {TOKEN}")),
        json!({"id": ROOM, "label": "测试"}),
    )
    .await
    .expect("http");
    assert_eq!(r.status().as_u16(), 201);
    let added: Value = r.json().await.expect("json");
    assert_eq!(added["room"], ROOM);
    let (status, list) = converge("the room listed", DEADLINE, async || {
        let (s, v) = get(&gw, "/api/rooms").await;
        let n = v["rooms"].as_array().map_or(0, Vec::len);
        (n == 1)
            .then_some((s, v.clone()))
            .ok_or(format!("{n} rooms"))
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["rooms"][0]["label"], "测试");
    assert!(list["rooms"][0]["latest"].is_null(), "no summary yet");

    let del = |auth: Option<String>, id: u64| {
        let mut r = http.delete(gw.url(&format!("/api/rooms/{id}")));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    assert_eq!(del(None, ROOM).await.expect("http").status().as_u16(), 401);
    let r = del(Some(format!("Bearer {TOKEN}")), 999)
        .await
        .expect("http");
    assert_eq!(r.status().as_u16(), 404);
    assert_error(&r.json().await.expect("json"), "unknown_room");
    let r = del(Some(format!("Bearer {TOKEN}")), ROOM)
        .await
        .expect("http");
    assert_eq!(r.status().as_u16(), 204);
    converge("the room gone", DEADLINE, async || {
        let (_, v) = get(&gw, "/api/rooms").await;
        let n = v["rooms"].as_array().map_or(99, Vec::len);
        (n == 0).then_some(()).ok_or(format!("{n} rooms"))
    })
    .await;

    // A gateway without a token refuses every write, whatever the request carries.
    let open = world.gateway("gw-open", &[("--api-token", "")]).await;
    let r = http
        .post(open.url("/api/rooms"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .json(&json!({"id": ROOM}))
        .send()
        .await
        .expect("http");
    assert_eq!(r.status().as_u16(), 403);
    assert_error(&r.json().await.expect("json"), "writes_disabled");
    let rest = gw.metric("bilipulse_gateway_rest_total").await;
    assert!(rest >= 8.0, "REST requests counted ({rest})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reads_keep_the_highest_revision_and_check_their_arguments() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, Some(5269)).await;
    let t0 = Window::M1.start_of(now_ms()) - 30 * 60_000;
    for i in 0..10 {
        world
            .publish_summary(&summary(ROOM, Window::M1, t0 + i * 60_000, 0, i as u64))
            .await;
    }
    // A late revision of the third window.
    world
        .publish_summary(&summary(ROOM, Window::M1, t0 + 2 * 60_000, 1, 99))
        .await;
    let session = LiveSession {
        v: SCHEMA_VERSION,
        room: ROOM,
        id: format!("{ROOM}-{t0}"),
        start: t0,
        running: true,
        danmaku: 5,
        ..LiveSession::default()
    };
    for rev in 0..3 {
        let s = LiveSession {
            rev,
            danmaku: 5 + u64::from(rev),
            ..session.clone()
        };
        world
            .js
            .publish(
                subject::session(ROOM),
                bilipulse_proto::encode(&s).expect("encodes").into(),
            )
            .await
            .expect("publish")
            .await
            .expect("ack");
    }
    let gw = world.gateway("gw", &[]).await;

    let path = format!(
        "/api/rooms/5269/summaries?window=1m&from={}&to={}",
        t0 + 60_000,
        t0 + 4 * 60_000
    );
    let (status, body) = get(&gw, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room"], ROOM, "the short id is resolved");
    let got: Vec<(i64, u64, u64)> = body["summaries"]
        .as_array()
        .expect("summaries")
        .iter()
        .map(|s| {
            (
                s["start"].as_i64().expect("start"),
                s["rev"].as_u64().expect("rev"),
                s["danmaku"].as_u64().expect("danmaku"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (t0 + 60_000, 0, 1),
            (t0 + 2 * 60_000, 1, 99),
            (t0 + 3 * 60_000, 0, 3),
            (t0 + 4 * 60_000, 0, 4),
        ]
    );

    let (status, body) = get(&gw, &format!("/api/rooms/{ROOM}/sessions")).await;
    assert_eq!(status, 200);
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["rev"], 2);
    assert_eq!(sessions[0]["danmaku"], 7);

    let (_, rooms) = get(&gw, "/api/rooms").await;
    assert_eq!(
        rooms["rooms"][0]["latest"]["start"],
        t0 + 2 * 60_000,
        "the latest published"
    );
    assert_eq!(rooms["rooms"][0]["session"]["rev"], 2);

    for (path, status, code) in [
        (
            format!("/api/rooms/{ROOM}/summaries?window=5s"),
            400,
            "bad_window",
        ),
        (
            format!("/api/rooms/{ROOM}/summaries?from=10&to=5"),
            400,
            "bad_range",
        ),
        (
            format!(
                "/api/rooms/{ROOM}/summaries?window=1s&from=0&to={}",
                now_ms()
            ),
            400,
            "range_too_large",
        ),
        ("/api/rooms/1/summaries".to_owned(), 404, "unknown_room"),
        ("/api/rooms/abc/sessions".to_owned(), 400, "bad_request"),
    ] {
        let (s, body) = get(&gw, &path).await;
        assert_eq!(s, status, "{path}: {body}");
        assert_error(&body, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    let gw = world.gateway("gw", &[]).await;
    let (status, doc) = get(&gw, "/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    assert_eq!(
        documented,
        [
            "/api/openapi.json",
            "/api/rooms",
            "/api/rooms/{id}",
            "/api/rooms/{id}/sessions",
            "/api/rooms/{id}/stream",
            "/api/rooms/{id}/summaries",
        ]
    );
    // Every documented GET answers something other than 404/405 for a known room.
    for (path, ops) in paths {
        if ops.get("get").is_none() || path.ends_with("/stream") {
            continue;
        }
        let url = path.replace("{id}", &ROOM.to_string());
        let r = reqwest::get(gw.url(&url)).await.expect("http");
        assert_eq!(r.status().as_u16(), 200, "GET {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_the_same_messages_as_the_websocket() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    let t0 = Window::S1.start_of(now_ms()) - 60_000;
    for i in 0..20 {
        world
            .publish_summary(&summary(ROOM, Window::S1, t0 + i * 1000, 0, i as u64))
            .await;
    }
    let gw = world.gateway("gw", &[]).await;
    let mut ws = WsClient::connect(&gw.ws_url()).await;
    ws.request(json!({"op":"subscribe","rooms":[ROOM],"channels":["1s"]}))
        .await;
    ws.until(|v| v["type"] == "history" && v["done"] == true)
        .await;
    let mut sse = reqwest::get(gw.url(&format!("/api/rooms/{ROOM}/stream?channels=1s")))
        .await
        .expect("http");
    assert_eq!(sse.status().as_u16(), 200);
    assert!(
        sse.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    let mut last = 0;
    for i in 20..30 {
        last = world
            .publish_summary(&summary(ROOM, Window::S1, t0 + i * 1000, 0, i as u64))
            .await;
    }
    let mut ws_frames = Vec::new();
    loop {
        let v = ws.next().await;
        let end = v["type"] == "message" && v["seq"] == last;
        ws_frames.push(v);
        if end {
            break;
        }
    }
    // Read SSE events until the same last message.
    let mut buf = String::new();
    let mut sse_frames: Vec<Value> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    'read: loop {
        let chunk = tokio::time::timeout(DEADLINE, sse.chunk())
            .await
            .expect("an SSE chunk in time")
            .expect("http")
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let mut name = None;
            let mut data = String::new();
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if data.is_empty() {
                continue; // keep-alive comment
            }
            let v: Value = serde_json::from_str(&data).expect("SSE data is a JSON frame");
            assert_eq!(Some(v["type"].as_str().expect("type").to_owned()), name);
            names.push(name.unwrap_or_default());
            let end = v["type"] == "message" && v["seq"] == last;
            sse_frames.push(v);
            if end {
                break 'read;
            }
        }
    }
    let all_ws = seqs_of(&ws_frames, ROOM, "1s");
    let all_sse = seqs_of(&sse_frames, ROOM, "1s");
    let sse_seqs: Vec<u64> = all_sse.iter().map(|(s, _)| *s).collect();
    let stored = world
        .sequences(
            bilipulse_proto::streams::SUMMARY.name,
            &subject::summary(ROOM, Window::S1),
        )
        .await;
    assert_eq!(
        sse_seqs, stored,
        "SSE: history then live, every message once"
    );
    let ws_live: Vec<u64> = all_ws.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        ws_live,
        stored[20..],
        "the WebSocket's live part is the same messages"
    );
    // Same messages byte for byte: the data of the last one.
    let last_ws = ws_frames.last().expect("frames");
    let last_sse = sse_frames.last().expect("frames");
    assert_eq!(last_ws, last_sse);
    assert_eq!(names[0], "subscribed");

    // Bad parameters are refused before the stream starts.
    let (s, body) = get(&gw, &format!("/api/rooms/{ROOM}/stream?channels=nope")).await;
    assert_eq!(s, 400);
    assert_error(&body, "unknown_channel");
    let (s, body) = get(&gw, "/api/rooms/1/stream").await;
    assert_eq!(s, 404);
    assert_error(&body, "unknown_room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_ids_are_resolved_through_bilibili_and_unknown_rooms_refused() {
    let Some(world) = World::start().await else {
        return;
    };
    let spec = bilipulse_sim::RoomSpec {
        short_id: Some(5269),
        ..bilipulse_sim::RoomSpec::new(ROOM, bilipulse_sim::Profile::Quiet)
    };
    let sim = bilipulse_sim::start(bilipulse_sim::SimConfig::for_tests(&[spec]))
        .await
        .expect("simulator starts");
    let base = sim.http_base().to_string();
    let gw = world
        .gateway(
            "gw",
            &[
                ("--no-resolve", ""),
                ("--bili-api-base", &base),
                ("--bili-live-base", &base),
                ("--bili-http-interval", "2ms"),
            ],
        )
        .await;
    let http = reqwest::Client::new();
    let post = |id: u64| {
        http.post(gw.url("/api/rooms"))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .json(&json!({"id": id, "label": "by short id"}))
            .send()
    };
    let r = post(5269).await.expect("http");
    assert_eq!(r.status().as_u16(), 201);
    let added: Value = r.json().await.expect("json");
    assert_eq!(added["room"], ROOM, "the real id is stored");
    assert_eq!(added["alias"], 5269, "the short id is kept as alias");
    let r = post(6).await.expect("http");
    assert_eq!(r.status().as_u16(), 404);
    assert_error(&r.json().await.expect("json"), "no_such_room");
    // The room is now subscribable by either id.
    let mut c = WsClient::connect(&gw.ws_url()).await;
    let (sub, _) = converge("the room known to the gateway", DEADLINE, async || {
        c.request(json!({"op":"subscribe","rooms":[5269],"channels":["status"]}))
            .await;
        let (v, _) = c
            .until(|v| v["type"] == "subscribed" || v["type"] == "error")
            .await;
        if v["type"] == "subscribed" {
            Ok((v, ()))
        } else {
            Err(v.to_string())
        }
    })
    .await;
    assert_eq!(sub["room"], ROOM);
}
