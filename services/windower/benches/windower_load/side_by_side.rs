//! The windower's part of `deploy/bench.sh windows`: the same event log counted by the windower,
//! by the prototype's Redis design and by bytewax, each checked against the truth computed from
//! the log (`deploy/bench/windows/compare.py`).
//!
//! The log is written while the events are stored, so it holds exactly what the windower reads:
//! one JSON line per event, `{"room", "ts", "kind", "uid", "lottery"}`, in stream order. The
//! windower's answer is dumped from `BILI_SUMMARY` in the comparison's format, one line per
//! published `1s` or `10s` summary (a revision comes after what it revises, so the last line of
//! a window is its final value).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use bilipulse_proto::{Payload, RoomEvent, WindowSummary, streams};
use bilipulse_testkit::procstat::{cpu_ticks, rss_kib, ticks_to_secs};
use futures::StreamExt as _;

use super::{Error, load_event, real_events, store, stored, windower, world};

/// Widths the comparison checks (the windower also publishes `1m` and `1h`).
const COMPARED: [&str; 2] = ["1s", "10s"];

/// How long the windower may take to publish every room's last window.
const DEADLINE: Duration = Duration::from_secs(600);

/// Stores `n` events over `rooms` rooms, writing the log; runs a windower over them and writes
/// its summaries once every room's last `10s` window is out; prints the figures, the last line
/// as JSON for the bench script.
pub async fn run(n: usize, rooms: usize, log_path: &str, out_path: &str) -> Result<(), Error> {
    let real = real_events();
    if real.is_empty() {
        return Err("fixtures not found".into());
    }
    let (nats, _client, js) = world().await?;
    let nats_pid = nats.pid().ok_or("nats-server not running")?;
    let mut log = BufWriter::new(File::create(log_path)?);
    let mut last_ts: HashMap<u64, i64> = HashMap::new();
    let mut write_error = None;
    let msgs = (0..n).map(|i| {
        let ev = load_event(&real, i, rooms);
        last_ts.insert(ev.room, ev.ts);
        if let Err(e) = writeln!(log, "{}", log_line(&ev)) {
            write_error.get_or_insert(e);
        }
        stored(&ev)
    });
    store(&js, msgs).await?;
    if let Some(e) = write_error {
        return Err(format!("writing {log_path}: {e}").into());
    }
    log.flush()?;
    println!("stored {n} events over {rooms} rooms; log: {log_path}");

    let dir = tempfile::tempdir()?.keep();
    println!("windower log: {}/load.log", dir.display());
    let nats_c0 = cpu_ticks(nats_pid);
    let t = Instant::now();
    let w = windower(&nats, &dir);
    let pid = w.pid();
    let published = dump_until_final(&js, &last_ts, out_path).await?;
    let wall = t.elapsed();
    let w_cpu = ticks_to_secs(cpu_ticks(pid));
    let n_cpu = ticks_to_secs(cpu_ticks(nats_pid) - nats_c0);
    let rss = rss_kib(pid);
    println!(
        "windower: {w_cpu:.2} CPU-s for {n} events ({:.0} events per CPU-second; nats-server \
         {n_cpu:.2} CPU-s while read), {published} summaries of 1s/10s written to {out_path}, \
         RSS {rss} KiB, {:.1} s wall (incl. waiting for the last windows to close)",
        n as f64 / w_cpu,
        wall.as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "system": "windower",
            "events": n,
            "rooms": rooms,
            "cpu_s": w_cpu,
            "nats_cpu_s": n_cpu,
            "max_rss_kib": rss,
            "wall_s": wall.as_secs_f64(),
        })
    );
    Ok(())
}

/// An event as the comparison reads it.
fn log_line(ev: &RoomEvent) -> serde_json::Value {
    let (uid, lottery) = match &ev.payload {
        Payload::Danmaku(d) => (d.uid, d.is_lottery),
        _ => (0, false),
    };
    serde_json::json!({
        "room": ev.room,
        "ts": ev.ts,
        "kind": ev.kind().as_str(),
        "uid": uid,
        "lottery": lottery,
    })
}

/// Reads `BILI_SUMMARY` from its start, writing the compared widths to `out_path`, until each
/// room of `last_ts` has the `10s` window holding its last event. Returns the lines written.
async fn dump_until_final(
    js: &async_nats::jetstream::Context,
    last_ts: &HashMap<u64, i64>,
    out_path: &str,
) -> Result<usize, Error> {
    let mut waiting: HashMap<u64, i64> = last_ts
        .iter()
        .map(|(&room, &ts)| (room, ts.div_euclid(10_000) * 10_000))
        .collect();
    let consumer = js
        .get_stream(streams::SUMMARY.name)
        .await?
        .create_consumer(OrderedConfig {
            filter_subject: "bili.summary.>".into(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut msgs = consumer.messages().await?;
    let mut out = BufWriter::new(File::create(out_path)?);
    let mut written = 0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !waiting.is_empty() {
        let Ok(next) = tokio::time::timeout_at(deadline, msgs.next()).await else {
            return Err(format!(
                "{} rooms' last 10s window not published within {DEADLINE:?}",
                waiting.len()
            )
            .into());
        };
        let msg = next.ok_or("summary consumer ended")??;
        let s: WindowSummary = bilipulse_proto::decode(&msg.payload)?;
        if !COMPARED.contains(&s.window.as_str()) {
            continue;
        }
        let line = serde_json::json!({
            "room": s.room,
            "window": s.window,
            "start": s.start,
            "events": s.events,
            "danmaku": s.danmaku,
            "chatters": s.chatters,
        });
        writeln!(out, "{line}")?;
        written += 1;
        if s.window == "10s" && waiting.get(&s.room).is_some_and(|&last| s.start >= last) {
            waiting.remove(&s.room);
        }
    }
    out.flush()?;
    Ok(written)
}
