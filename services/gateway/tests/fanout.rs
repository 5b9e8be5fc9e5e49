//! Fan-out over `/ws`: history then live with no gap and no duplicate at the seam, shared topics
//! released when their clients leave, and a slow client that gets `lag` and loses nothing
//! silently while a fast client on the same room misses nothing.

mod common;

use bilipulse_proto::streams;
use bilipulse_proto::subject::{self, Window};
use common::*;
use serde_json::json;

const ROOM: u64 = 21_452_505;

/// Reads frames until the topic's messages reach sequence `last`; returns every frame read.
async fn read_through(c: &mut WsClient, channel: &str, last: u64) -> Vec<serde_json::Value> {
    let mut frames = Vec::new();
    loop {
        let v = c.next().await;
        let done = v["channel"] == channel
            && match v["type"].as_str() {
                Some("message") => v["seq"].as_u64() >= Some(last),
                Some("history") => v["messages"]
                    .as_array()
                    .and_then(|m| m.last())
                    .is_some_and(|m| m["seq"].as_u64() >= Some(last)),
                _ => false,
            };
        frames.push(v);
        if done {
            return frames;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_then_live_has_no_gap_and_no_duplicate_at_the_seam() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, Some(5269)).await;
    let gw = world.gateway("gw", &[]).await;
    let t0 = Window::S1.start_of(now_ms()) - 400_000;
    for i in 0..200 {
        world
            .publish_summary(&summary(ROOM, Window::S1, t0 + i * 1000, 0, i as u64))
            .await;
    }
    // A publisher keeps writing while the clients subscribe, so the seam falls under traffic.
    let js_world = &world;
    let publishing = async {
        let mut last = 0;
        for i in 200..600 {
            last = js_world
                .publish_summary(&summary(ROOM, Window::S1, t0 + i * 1000, 0, i as u64))
                .await;
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        last
    };
    let subscribing = async {
        let mut clients = Vec::new();
        for i in 0..3 {
            let mut c = WsClient::connect(&gw.ws_url()).await;
            // Subscribe by the short id: the answer names the real room.
            c.request(json!({"op": "subscribe", "req": i, "rooms": [5269], "channels": ["1s"]}))
                .await;
            let (sub, _) = c.until(|v| v["type"] == "subscribed").await;
            assert_eq!(sub["room"], ROOM);
            assert_eq!(sub["req"], i);
            clients.push(c);
        }
        clients
    };
    let (last, mut clients) = tokio::join!(publishing, subscribing);
    let stored = world
        .sequences(streams::SUMMARY.name, &subject::summary(ROOM, Window::S1))
        .await;
    assert_eq!(stored.len(), 600);
    for (i, c) in clients.iter_mut().enumerate() {
        let frames = read_through(c, "1s", last).await;
        let got = seqs_of(&frames, ROOM, "1s");
        let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        // History covers the last 15 minutes: everything published here.
        assert_eq!(
            seqs, stored,
            "client {i}: every stored message once, in order"
        );
        let history = got.iter().filter(|(_, h)| *h).count();
        assert!(
            history >= 200,
            "client {i}: history holds what existed ({history})"
        );
        let seam = got.iter().position(|(_, h)| !h).unwrap_or(got.len());
        assert!(
            got[seam..].iter().all(|(_, h)| !h),
            "client {i}: history first, then live"
        );
    }
    let fanned = gw.metric("bilipulse_gateway_fanned_out_total").await;
    assert!(fanned > 0.0, "live messages were fanned out ({fanned})");
    assert_eq!(
        gw.metric("bilipulse_gateway_subscriptions").await,
        1.0,
        "one topic for three clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_is_read_once_and_released_when_its_last_client_leaves() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    world.add_room(7_777, None).await;
    let gw = world.gateway("gw", &[]).await;
    let mut a = WsClient::connect(&gw.ws_url()).await;
    let mut b = WsClient::connect(&gw.ws_url()).await;
    for c in [&mut a, &mut b] {
        c.request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["1m", "danmaku"]}))
            .await;
        c.alive().await;
    }
    a.request(json!({"op": "subscribe", "rooms": [7_777], "channels": ["status"]}))
        .await;
    a.alive().await;
    assert_eq!(gw.metric("bilipulse_gateway_subscriptions").await, 3.0);

    // Subscribing twice is answered, and reads nothing twice.
    b.request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["1m"]}))
        .await;
    let (again, _) = b.until(|v| v["type"] == "subscribed").await;
    assert_eq!(again["already"], true);
    assert_eq!(gw.metric("bilipulse_gateway_subscriptions").await, 3.0);

    let seq = world.publish_danmaku(ROOM, 1, "你好").await;
    for c in [&mut a, &mut b] {
        let (m, _) = c
            .until(|v| v["type"] == "message" && v["channel"] == "danmaku")
            .await;
        assert_eq!(m["seq"], seq);
        assert_eq!(m["data"]["text"], "你好");
        assert_eq!(m["data"]["kind"], "danmaku");
    }

    b.request(json!({"op": "unsubscribe", "rooms": [ROOM], "channels": ["danmaku"]}))
        .await;
    b.until(|v| v["type"] == "unsubscribed").await;
    assert_eq!(
        gw.metric("bilipulse_gateway_subscriptions").await,
        3.0,
        "a still reads danmaku"
    );
    a.close().await;
    converge("a's topics released", DEADLINE, async || {
        let n = gw.metric("bilipulse_gateway_subscriptions").await;
        (n == 1.0).then_some(()).ok_or(format!("{n} topics"))
    })
    .await;
    b.close().await;
    converge("every topic released", DEADLINE, async || {
        let n = gw.metric("bilipulse_gateway_subscriptions").await;
        let conns = gw.metric("bilipulse_gateway_connections").await;
        (n == 0.0 && conns == 0.0)
            .then_some(())
            .ok_or(format!("{n} topics, {conns} connections"))
    })
    .await;
}

/// With `--write-interval`, messages arriving within one interval of the last write go out
/// together in the next one: a burst costs one socket write, not one per message, and arrives
/// complete and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_within_the_write_interval_goes_out_in_one_write() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    // Long enough that publishing the burst (each awaited for its ack) fits well inside it.
    let gw = world.gateway("gw", &[("--write-interval", "3s")]).await;
    let mut c = WsClient::connect(&gw.ws_url()).await;
    c.request(json!({"op": "subscribe", "rooms": [ROOM], "channels": ["danmaku"]}))
        .await;
    c.until(|v| v["type"] == "subscribed").await;
    let writes = gw.metric("bilipulse_gateway_writes_total").await;
    let frames = gw.metric("bilipulse_gateway_frames_total").await;
    const BURST: u64 = 30;
    let mut seqs = Vec::new();
    for n in 0..BURST {
        seqs.push(world.publish_danmaku(ROOM, n, "冲").await);
    }
    let got = read_through(&mut c, "danmaku", *seqs.last().unwrap()).await;
    let live: Vec<u64> = seqs_of(&got, ROOM, "danmaku")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(live, seqs, "every message, in order");
    let wrote = gw.metric("bilipulse_gateway_writes_total").await - writes;
    let sent = gw.metric("bilipulse_gateway_frames_total").await - frames;
    assert!(sent >= BURST as f64, "{sent} frames");
    assert!(wrote <= 2.0, "{BURST} messages took {wrote} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_gets_lag_and_loses_nothing_silently_while_a_fast_one_misses_nothing() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    let gw = world
        .gateway("gw", &[("--client-queue", "1000"), ("--stuck-after", "5m")])
        .await;
    let mut fast = WsClient::connect(&gw.ws_url()).await;
    let mut slow = WsClient::connect_small(&gw.ws_url()).await;
    for c in [&mut fast, &mut slow] {
        c.request(
            json!({"op": "subscribe", "rooms": [ROOM], "channels": ["danmaku"], "history": false}),
        )
        .await;
        c.alive().await;
    }
    // Enough bytes to fill the socket buffers between the gateway and the slow client, which
    // reads nothing meanwhile; the fast client reads everything as it comes.
    let text = "弹".repeat(2000);
    // 30 MB: more than the slow client's queue, the writer's batch and both socket buffers
    // hold (about 1000 + 256 + 700 messages), while the fast client's queue has room for any
    // burst the publisher can make.
    let n = 5000u64;
    let publishing = async {
        let mut last = 0;
        for i in 0..n {
            last = world.publish_danmaku(ROOM, i, &text).await;
        }
        last
    };
    let fast_reading = async {
        let mut frames = Vec::new();
        loop {
            let v = fast.next().await;
            let last =
                v["type"] == "message" && v["data"]["id"] == format!("gw-test-{ROOM}-{}", n - 1);
            frames.push(v);
            if last {
                return frames;
            }
        }
    };
    let (_last, fast_frames) = tokio::join!(publishing, fast_reading);
    let fast_seqs = seqs_of(&fast_frames, ROOM, "danmaku");
    assert_eq!(
        fast_seqs.len() as u64,
        n,
        "the fast client got every message"
    );
    assert!(
        fast_frames.iter().all(|f| f["type"] != "lag"),
        "the fast client never lagged"
    );

    converge("the slow client's queue overflowed", DEADLINE, async || {
        let d = gw.metric("bilipulse_gateway_dropped_total").await;
        (d > 0.0).then_some(()).ok_or(format!("{d} dropped"))
    })
    .await;
    // Now the slow client reads: what it gets plus what `lag` says was dropped is everything.
    let mut received = 0u64;
    let mut dropped = 0u64;
    loop {
        let v = slow.next().await;
        match v["type"].as_str() {
            // Messages stored while the topic was still loading come as (filtered) history.
            Some("history") => {
                received += v["messages"].as_array().map_or(0, |m| m.len() as u64);
            }
            Some("message") => {
                received += 1;
                if v["data"]["id"] == format!("gw-test-{ROOM}-{}", n - 1) {
                    break;
                }
            }
            Some("lag") => {
                assert_eq!(v["topics"][0]["channel"], "danmaku");
                dropped += v["dropped"].as_u64().expect("dropped");
            }
            _ => {}
        }
    }
    assert!(dropped > 0, "the slow client was told it lagged");
    assert_eq!(
        received + dropped,
        n,
        "received {received} + dropped {dropped}"
    );
    assert!(
        received < n / 2,
        "the slow client's backlog stayed bounded: {received} of {n} delivered"
    );
    slow.alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stays_stuck_is_disconnected() {
    let Some(world) = World::start().await else {
        return;
    };
    world.add_room(ROOM, None).await;
    let gw = world
        .gateway("gw", &[("--client-queue", "16"), ("--stuck-after", "1s")])
        .await;
    let mut stuck = WsClient::connect_small(&gw.ws_url()).await;
    stuck
        .request(
            json!({"op": "subscribe", "rooms": [ROOM], "channels": ["danmaku"], "history": false}),
        )
        .await;
    stuck.alive().await;
    let text = "卡".repeat(2000);
    let mut i = 0;
    converge("the stuck client was closed", DEADLINE, async || {
        for _ in 0..200 {
            world.publish_danmaku(ROOM, i, &text).await;
            i += 1;
        }
        let closed = gw.metric("bilipulse_gateway_closed_slow_total").await;
        (closed >= 1.0)
            .then_some(())
            .ok_or(format!("{closed} closed"))
    })
    .await;
    // The client, reading at last, finds the connection closed as too slow (1008).
    let end = loop {
        match stuck.next_or_end(DEADLINE).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    // 1008 when the close frame still fit into the socket; a full socket just ends.
    assert!(
        matches!(end, Ended::Close(1008) | Ended::Gone),
        "ended with {end:?}"
    );
    converge("its slot and topic freed", DEADLINE, async || {
        let conns = gw.metric("bilipulse_gateway_connections").await;
        let subs = gw.metric("bilipulse_gateway_subscriptions").await;
        (conns == 0.0 && subs == 0.0)
            .then_some(())
            .ok_or(format!("{conns} connections, {subs} topics"))
    })
    .await;
}
