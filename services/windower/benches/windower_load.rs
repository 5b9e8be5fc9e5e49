//! Load test of one `bilipulse-windower` process against a real nats-server, each a process of
//! its own so their CPU and memory are read from `/proc`. Prints figures; asserts nothing
//! (targets live in docs/benchmarks.md, not in tests).
//!
//! ```text
//! cargo bench -p bilipulse-windower --bench windower_load -- throughput 500000 200
//! cargo bench -p bilipulse-windower --bench windower_load -- idle 10000
//! cargo bench -p bilipulse-windower --bench windower_load -- log 500000 200 events.jsonl out.jsonl
//! ```
//!
//! * `throughput N ROOMS`: N events (the real captures, normalised, danmaku weighted ×8) over
//!   ROOMS rooms are stored in `BILI_EVENTS` as fast as JetStream takes them, each stamped with
//!   the time it was sent (so stream time and event time agree, as with live ingesters). Then
//!   a windower (all default windows: 1s, 10s, 1m, 1h) reads them from the start: CPU of the
//!   windower and of nats-server per event until every event is counted and committed, summaries
//!   published, and the windower's resident memory per active room.
//! * `log N ROOMS EVENT_LOG SUMMARIES_OUT`: the windower's part of the side-by-side count
//!   (`deploy/bench.sh windows`): as `throughput`, and also writes every stored event as a JSON
//!   line to EVENT_LOG (the log the other systems count) and, once every room's last 10 s window
//!   is published, its `1s` and `10s` summaries to SUMMARIES_OUT; see [`side_by_side`].
//! * `idle N`: N rooms with a `connected` status and no events: resident memory per idle room
//!   once the windower holds them all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bilipulse_proto::{ConnState, Payload, RoomEvent, RoomStatus, SCHEMA_VERSION, subject};
use bilipulse_runtime::bus;
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::process::ServiceProcess;
use bilipulse_testkit::procstat::{cores, cpu_model, cpu_ticks, rss_kib, ticks_to_secs};
use futures::StreamExt;

mod common;
#[path = "windower_load/side_by_side.rs"]
mod side_by_side;
use common::real_events;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!("machine: {} × {}", cores(), cpu_model());
    match args.first().map(String::as_str) {
        Some("idle") => idle(arg(&args, 1, 10_000)).await,
        Some("throughput") | None => throughput(arg(&args, 1, 500_000), arg(&args, 2, 200)).await,
        Some("log") => {
            let (Some(log), Some(out)) = (args.get(3), args.get(4)) else {
                return Err("usage: log N ROOMS EVENT_LOG SUMMARIES_OUT".into());
            };
            side_by_side::run(arg(&args, 1, 500_000), arg(&args, 2, 200), log, out).await
        }
        Some(other) => Err(format!(
            "unknown mode {other:?}: throughput N ROOMS | idle N | log N ROOMS EVENT_LOG SUMMARIES_OUT"
        )
        .into()),
    }
}

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

async fn world() -> Result<
    (
        NatsServer,
        async_nats::Client,
        async_nats::jetstream::Context,
    ),
    Error,
> {
    let nats =
        NatsServer::start().ok_or("nats-server is not installed (deploy/install-tools.sh)")?;
    let client = bus::connect(&NatsConfig::new(nats.url()), "load").await?;
    let js = bus::jetstream(client.clone());
    bus::ensure_streams(&js, &StreamOverrides::default()).await?;
    Ok((nats, client, js))
}

/// Starts the windower under test; its log level is `BENCH_WINDOWER_LOG` (default `warn`).
fn windower(nats: &NatsServer, dir: &std::path::Path) -> ServiceProcess {
    let log = std::env::var("BENCH_WINDOWER_LOG").unwrap_or_else(|_| "warn".to_owned());
    let flags: BTreeMap<String, String> = [
        ("--id", "load"),
        ("--nats-url", &nats.url()),
        ("--log", &log),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_bilipulse-windower").as_ref(),
        "load",
        dir,
        &flags,
    )
}

/// Publishes `(subject, payload, id)`s with many acks in flight; returns when all are stored.
async fn store(
    js: &async_nats::jetstream::Context,
    msgs: impl Iterator<Item = (String, Vec<u8>, String)>,
) -> Result<(), Error> {
    let mut acks = futures::stream::FuturesUnordered::new();
    for (subject, payload, id) in msgs {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", id.as_str());
        acks.push(std::future::IntoFuture::into_future(
            js.publish_with_headers(subject, h, payload.into()).await?,
        ));
        while acks.len() >= 4096 {
            acks.next().await.expect("non-empty")?;
        }
    }
    while let Some(a) = acks.next().await {
        a?;
    }
    Ok(())
}

/// The `i`th event of a load run: a real capture (cycled) in one of `rooms` rooms, with a fresh
/// id, stamped now, its danmaku from one of 20 000 chatters (unmasked, so distinct counts are
/// of uids).
fn load_event(real: &[RoomEvent], i: usize, rooms: usize) -> RoomEvent {
    let mut ev = real[i % real.len()].clone();
    ev.room = 10_000_000 + (i * 7919 % rooms) as u64;
    ev.ts = now_ms();
    ev.recv = ev.ts;
    ev.id = format!("{}:l{i}", ev.room);
    if let Payload::Danmaku(d) = &mut ev.payload {
        d.uid = 1 + (i as u64 * 2_654_435_761) % 20_000;
        d.masked = false;
    }
    ev
}

/// `(subject, payload, id)` of an event, as [`store`] takes it.
fn stored(ev: &RoomEvent) -> (String, Vec<u8>, String) {
    (
        subject::event(ev.room, ev.kind()),
        bilipulse_proto::encode(ev).expect("encodes"),
        ev.id.clone(),
    )
}

async fn throughput(n: usize, rooms: usize) -> Result<(), Error> {
    let real = real_events();
    if real.is_empty() {
        return Err("fixtures not found".into());
    }
    let (nats, _client, js) = world().await?;
    let nats_pid = nats.pid().ok_or("nats-server not running")?;
    let t = Instant::now();
    let c0 = cpu_ticks(nats_pid);
    let msgs = (0..n).map(|i| stored(&load_event(&real, i, rooms)));
    store(&js, msgs).await?;
    let stored = t.elapsed();
    let store_cpu = ticks_to_secs(cpu_ticks(nats_pid) - c0);
    println!(
        "stored {n} events over {rooms} rooms in {:.1} s ({:.0}/s); nats-server {:.2} CPU-µs per stored event",
        stored.as_secs_f64(),
        n as f64 / stored.as_secs_f64(),
        store_cpu * 1e6 / n as f64
    );

    let dir = tempfile::tempdir()?;
    let dir = dir.keep();
    println!("windower log: {}/load.log", dir.display());
    let nats_c0 = cpu_ticks(nats_pid);
    let t = Instant::now();
    let w = windower(&nats, &dir);
    let pid = w.pid();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(m) = w.metrics().await else { continue };
        let seen =
            m.sum("bilipulse_windower_events_total") + m.sum("bilipulse_windower_garbage_total");
        let commits = m.get("bilipulse_windower_commits_total{label=\"ok\"}");
        if seen >= n as f64 && m.sum("bilipulse_windower_pending") == 0.0 && commits > 0.0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            return Err(format!("windower did not finish: {seen} of {n} seen").into());
        }
    }
    let wall = t.elapsed();
    let w_cpu = ticks_to_secs(cpu_ticks(pid));
    let n_cpu = ticks_to_secs(cpu_ticks(nats_pid) - nats_c0);
    let m = w.metrics().await?;
    let rss = rss_kib(pid);
    std::fs::write(dir.join("nats.log"), nats.log())?;
    println!(
        "windower read, counted and committed {n} events in {:.1} s wall",
        wall.as_secs_f64()
    );
    println!(
        "  windower: {:.2} CPU-s → {:.0} events per CPU-second ({:.2} CPU-µs/event)",
        w_cpu,
        n as f64 / w_cpu,
        w_cpu * 1e6 / n as f64
    );
    println!(
        "  nats-server while read: {:.2} CPU-s ({:.2} CPU-µs/event)",
        n_cpu,
        n_cpu * 1e6 / n as f64
    );
    println!(
        "  summaries committed: {}, revisions {}",
        m.sum("bilipulse_windower_summaries_total"),
        m.sum("bilipulse_windower_revisions_total")
    );
    let outcomes: Vec<String> =
        m.0.iter()
            .filter(|(k, _)| k.starts_with("bilipulse_windower_commits_total"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
    println!(
        "  commits: {outcomes:?}; checkpoint bytes (all groups) {}",
        m.sum("bilipulse_windower_checkpoint_bytes")
    );
    println!(
        "  windower RSS {rss} KiB with {} rooms held ({:.1} KiB per active room incl. baseline)",
        m.sum("bilipulse_windower_rooms"),
        rss as f64 / rooms as f64
    );
    Ok(())
}

async fn idle(n: usize) -> Result<(), Error> {
    let (nats, _client, js) = world().await?;
    let dir = tempfile::tempdir()?;
    let w = windower(&nats, dir.path());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if w.metrics()
            .await
            .is_ok_and(|m| m.sum("bilipulse_windower_key_groups") > 0.0)
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = rss_kib(w.pid());
    let now = now_ms();
    let msgs = (0..n).map(|i| {
        let room = 20_000_000 + i as u64;
        let st = RoomStatus {
            v: SCHEMA_VERSION,
            room,
            src: "ing-0".into(),
            ts: now,
            state: ConnState::Connected,
            since: now - 1_000,
            ..RoomStatus::default()
        };
        (
            subject::status(room),
            bilipulse_proto::encode(&st).expect("encodes"),
            format!("st{room}"),
        )
    });
    store(&js, msgs).await?;
    let t = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let m = w.metrics().await?;
        if m.sum("bilipulse_windower_rooms") >= n as f64 || t.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    // Let a few minutes' windows open and close so the per-room state is at its steady size.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = rss_kib(w.pid());
    println!(
        "idle rooms: {n}; windower RSS {base} KiB before, {rss} KiB after → {:.2} KiB per idle room",
        (rss.saturating_sub(base)) as f64 / n as f64
    );
    Ok(())
}
