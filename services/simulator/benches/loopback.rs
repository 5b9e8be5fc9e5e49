//! Loopback throughput: the simulator serving K WebSocket connections on 127.0.0.1, each
//! decoding what it receives with the protocol library. Prints JSON figures.
//!
//! `cargo bench -p bilipulse-sim --bench loopback` with optional environment:
//! `BENCH_CONNS` (default 200), `BENCH_ROOMS` (200), `BENCH_RATE` (total commands/s, 50000),
//! `BENCH_SECS` (5), `BENCH_PROTOVER` (3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bilipulse_bilibili::wire::{self, FrameDecoder, Limits, Packet, op, protover};
use bilipulse_sim::{SimConfig, SimHandle};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn client(
    sim: &SimHandle,
    room: u64,
    pv: u16,
    commands: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) {
    let buvid = sim.issue_buvid();
    let token = sim.issue_token(room, UA, 0);
    let mut req = sim
        .ws_url()
        .as_str()
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("User-Agent", UA.parse().expect("header"));
    let (mut ws, _) = connect_async(req).await.expect("connect");
    let auth = serde_json::json!({"uid": 0, "roomid": room, "protover": pv, "platform": "web",
        "type": 2, "buvid": buvid, "key": token});
    ws.send(Message::Binary(
        wire::encode_packet(op::AUTH, protover::PLAIN, 1, auth.to_string().as_bytes()).into(),
    ))
    .await
    .expect("auth");
    tokio::spawn(async move {
        let mut dec = FrameDecoder::new(Limits::default());
        let mut out = Vec::new();
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Binary(b) = msg {
                bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                out.clear();
                let _ = dec.decode(b, &mut out);
                let n = out
                    .iter()
                    .filter(|p| matches!(p, Packet::Command(_)))
                    .count();
                commands.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
}

#[tokio::main]
async fn main() {
    let conns: usize = env("BENCH_CONNS", 200);
    let rooms: u32 = env("BENCH_ROOMS", 200);
    let rate: f64 = env("BENCH_RATE", 50_000.0);
    let secs: u64 = env("BENCH_SECS", 5);
    let pv: u16 = env("BENCH_PROTOVER", 3);
    let mut cfg = SimConfig::for_tests(&[]);
    cfg.random_rooms = rooms;
    cfg.total_rate = rate;
    cfg.workers = 2;
    cfg.tick_ms = 50;
    cfg.truth_capacity = 0;
    cfg.heartbeat_timeout_ms = 600_000;
    cfg.start_paused = true;
    let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
    let room_ids: Vec<u64> = sim.rooms().iter().map(|r| r.room).collect();
    let commands = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    for i in 0..conns {
        client(
            &sim,
            room_ids[i % room_ids.len()],
            pv,
            commands.clone(),
            bytes.clone(),
        )
        .await;
    }
    let open_deadline = Instant::now() + Duration::from_secs(30);
    while sim.open_connections() < conns && Instant::now() < open_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let generated_before = sim.truth().summary().commands;
    sim.resume_traffic().await;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    sim.pause_traffic().await;
    let elapsed = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let generated = sim.truth().summary().commands - generated_before;
    let received = commands.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "connections": sim.open_connections(),
            "rooms": room_ids.len(),
            "protover": pv,
            "seconds": elapsed,
            "generated_commands_per_sec": generated as f64 / elapsed,
            "received_commands_per_sec": received as f64 / elapsed,
            "received_mbytes_per_sec": bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6,
        })
    );
    sim.shutdown().await;
}
