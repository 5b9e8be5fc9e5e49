//! Load test of one `bilipulse-ingester` process, with the simulator and nats-server as
//! processes of their own so each one's CPU and memory can be read from `/proc`. Prints figures;
//! asserts nothing (targets are recorded in docs/benchmarks.md, not enforced here).
//!
//! ```text
//! cargo build --release -p bilipulse-sim
//! cargo bench -p bilipulse-ingester --bench ingester_load -- rooms 10000 [SETTLE_SECS]
//! cargo bench -p bilipulse-ingester --bench ingester_load -- throughput 40 500 20
//! BILIPULSE_RAW_STORAGE=commands cargo bench -p bilipulse-ingester --bench ingester_load -- throughput 40 500 20
//! cargo bench -p bilipulse-ingester --bench ingester_load -- replay 40 500 20
//! ```
//!
//! * `rooms N`: N idle simulated rooms (no traffic beyond the periodic audience counters);
//!   resident memory of the ingester before any room and once all N are connected, per room.
//! * `throughput ROOMS RATE SECS`: ROOMS rooms of RATE commands/s each; after a warm-up, the
//!   events and raw bodies per second that reach JetStream over SECS seconds, the rate the
//!   simulator generated, and the CPU each of the three processes used.
//! * `replay ROOMS RATE SECS`: the same with the simulator in load mode: the real captures
//!   (`BILIPULSE_FIXTURES`, else `../shared/fixtures/bilibili`), 20 per brotli frame, restamped
//!   with fresh ids and times and prepared once (`--replay-fresh`), so the source costs almost
//!   nothing and the box's CPU goes to the ingester and nats-server.
//!
//! The simulator binary is taken from `BILIPULSE_SIM_BIN`, else from next to the ingester
//! binary (build it in the same profile), nats-server from the pinned tools. `BENCH_INGESTER_BIN`
//! replaces the ingester under test (another build kept aside, or a script that `exec`s
//! `heaptrack` or `perf` around it). The ingester's log
//! is kept in a temporary directory, printed at the start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bilipulse_proto::{RoomConfig, SCHEMA_VERSION, streams};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::process::{ServiceProcess, http_get};
use bilipulse_testkit::procstat::{cores, cpu_model, cpu_ticks, rss_kib, ticks_to_secs};
use bilipulse_testkit::sim::SimProcess;
use bilipulse_testkit::stack::load_ingester_flags;
use bilipulse_testkit::wait::{converge, eventually};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Rooms the ingester has connected.
const CONNECTED: &str = r#"bilipulse_ingester_connections{state="Connected"}"#;

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`; everything that is not a word of ours is ignored.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, default: f64| {
        args.get(i)
            .and_then(|a| a.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("machine: {} cores, {}", cores(), cpu_model());
    match args.first().map(String::as_str) {
        Some("rooms") => rt.block_on(rooms(num(1, 10_000.0) as usize, num(2, 20.0))),
        Some(mode @ ("throughput" | "replay")) => {
            let feed = if mode == "replay" {
                let dir = bilipulse_testkit::fixtures::dir()
                    .ok_or("replay needs the fixtures (BILIPULSE_FIXTURES)")?;
                Feed::Replayed(dir)
            } else {
                Feed::Generated
            };
            rt.block_on(throughput(
                num(1, 40.0) as usize,
                num(2, 500.0),
                num(3, 20.0),
                feed,
            ))
        }
        _ => {
            rt.block_on(rooms(10_000, 20.0))?;
            rt.block_on(throughput(40, 500.0, 20.0, Feed::Generated))
        }
    }
}

/// Where the simulator's commands come from.
enum Feed {
    /// Its generator: rendered and compressed as they happen.
    Generated,
    /// Load mode over the captures in this directory, restamped once at start.
    Replayed(PathBuf),
}

/// Commands per load-mode frame.
const PER_FRAME: u32 = 20;
/// Frames of fresh ids prepared unless `BENCH_FRESH_FRAMES` says otherwise: ids repeat per
/// room after this × `PER_FRAME` commands (500 s at 40 commands/s, 20 s at 1 000), and a run
/// whose rooms wrap around measures deduplication, not storage.
const FRESH_FRAMES: &str = "1000";

/// Memory per idle connected room.
async fn rooms(n: usize, settle: f64) -> Result<(), Error> {
    println!("== rooms: {n} idle rooms in one ingester");
    let nats = nats()?;
    let sim = start_sim(&[
        "--rooms",
        "100:quiet:0",
        "--random-rooms",
        &n.to_string(),
        "--total-rate",
        "0",
    ])?;
    let ids: Vec<u64> = sim_rooms(sim.addr)
        .await?
        .into_iter()
        .filter(|r| *r != 100)
        .collect();
    let ing = ingester(&nats, sim.addr, &[("--max-rooms", &(2 * n).to_string())]).await?;
    let js = bus(&nats.url()).await?;
    // Let start-up allocations settle before the baseline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(ing.pid());
    let t0 = Instant::now();
    add_rooms(&js, &ids).await?;
    all_connected(&ing, ids.len(), Duration::from_secs(900)).await;
    let connected = t0.elapsed();
    // Heartbeats, status timers and allocator arenas reach their steady size; a long settle
    // also fills every room's memory of recent event ids. Long settles print the curve.
    let settle_until = Instant::now() + Duration::from_secs_f64(settle);
    while let Some(left) = settle_until.checked_duration_since(Instant::now()) {
        tokio::time::sleep(left.min(Duration::from_secs(300))).await;
        if settle > 300.0 {
            let rss = rss_kib(ing.pid());
            println!(
                "  {:>5.0} s after connecting: {rss} KiB, {:.1} KiB per room",
                (t0.elapsed() - connected).as_secs_f64(),
                rss.saturating_sub(before) as f64 / ids.len() as f64
            );
        }
    }
    let after = rss_kib(ing.pid());
    let (c0, t_idle) = (cpu_ticks(ing.pid()), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_cpu = cpu_percent(cpu_ticks(ing.pid()) - c0, t_idle.elapsed());
    let m = ing.metrics().await?;
    println!(
        "rooms connected: {} in {:.1} s; measured {settle} s later",
        ids.len(),
        connected.as_secs_f64()
    );
    println!(
        "ingester RSS: {before} KiB before, {after} KiB with {} rooms: {:.1} KiB per room",
        ids.len(),
        (after.saturating_sub(before)) as f64 / ids.len() as f64
    );
    println!("ingester CPU while idle with all rooms: {idle_cpu:.1} % of one core");
    println!(
        "commands received meanwhile: {}; simulator RSS {} KiB, nats-server RSS {} KiB",
        m.get("bilipulse_ingester_commands_total"),
        rss_kib(sim.pid()),
        rss_kib(nats.pid().ok_or("nats-server not running")?)
    );
    Ok(())
}

/// Sustained events per second into JetStream, and who spends the CPU.
async fn throughput(rooms: usize, rate: f64, secs: f64, feed: Feed) -> Result<(), Error> {
    let source = match &feed {
        Feed::Generated => "generated",
        Feed::Replayed(_) => "replayed captures, fresh ids",
    };
    println!("== throughput: {rooms} rooms × {rate} commands/s for {secs} s ({source})");
    let nats = nats()?;
    let ids: Vec<u64> = (0..rooms as u64).map(|i| 1_000_001 + i).collect();
    let profile = match feed {
        Feed::Generated => "busy",
        Feed::Replayed(_) => "quiet",
    };
    let spec: Vec<String> = ids
        .iter()
        .map(|r| format!("{r}:{profile}:{rate}"))
        .collect();
    let spec = spec.join(",");
    let frames_per_s = (rate / f64::from(PER_FRAME)).to_string();
    let per_frame = PER_FRAME.to_string();
    let fresh = std::env::var("BENCH_FRESH_FRAMES").unwrap_or_else(|_| FRESH_FRAMES.into());
    if let Feed::Replayed(_) = feed {
        let horizon = fresh.parse::<f64>().unwrap_or(0.0) * f64::from(PER_FRAME) / rate;
        println!("fresh frames: {fresh} (ids repeat per room after {horizon:.0} s)");
    }
    let mut args = vec!["--rooms", &spec, "--truth-capacity", "0"];
    match &feed {
        Feed::Generated => args.push("--start-paused"),
        Feed::Replayed(dir) => args.extend([
            "--protover",
            "3",
            "--brotli-quality",
            "6",
            "--replay",
            dir.to_str().ok_or("fixtures path is not UTF-8")?,
            "--replay-per-frame",
            &per_frame,
            "--replay-rate",
            &frames_per_s,
            "--replay-fresh",
            &fresh,
        ]),
    }
    let sim = start_sim(&args)?;
    // BILIPULSE_RAW_STORAGE (frames, commands, off) picks the raw archive to measure.
    let raw_storage = std::env::var("BILIPULSE_RAW_STORAGE").unwrap_or_else(|_| "frames".into());
    println!("raw storage: {raw_storage}");
    let ing = ingester(&nats, sim.addr, &[("--raw-storage", &raw_storage)]).await?;
    let js = bus(&nats.url()).await?;
    add_rooms(&js, &ids).await?;
    all_connected(&ing, rooms, Duration::from_secs(120)).await;
    if matches!(feed, Feed::Generated) {
        post(sim.addr, "/admin/traffic", r#"{"paused":false}"#).await?;
    }
    // Warm-up: buffers, JetStream file blocks, allocator.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let procs = [
        ("ingester", ing.pid()),
        ("simulator", sim.pid()),
        ("nats-server", nats.pid().ok_or("nats-server not running")?),
    ];
    let cpu0: Vec<u64> = procs.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let (ev0, raw0, frames0, cmd0, m0) = (
        last_seq(&js, streams::EVENTS.name).await?,
        last_seq(&js, streams::RAW.name).await?,
        last_seq(&js, streams::RAW_FRAMES.name).await?,
        sim_commands(sim.addr).await?,
        ing.metrics().await?,
    );
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let el = t.elapsed();
    let (ev1, raw1, frames1, cmd1, m1) = (
        last_seq(&js, streams::EVENTS.name).await?,
        last_seq(&js, streams::RAW.name).await?,
        last_seq(&js, streams::RAW_FRAMES.name).await?,
        sim_commands(sim.addr).await?,
        ing.metrics().await?,
    );
    let cpu1: Vec<u64> = procs.iter().map(|(_, p)| cpu_ticks(*p)).collect();

    let per_s = |a: u64, b: u64| (b - a) as f64 / el.as_secs_f64();
    let delta = |k: &str| m1.get(k) - m0.get(k);
    match feed {
        Feed::Generated => println!("simulator generated: {:.0} commands/s", per_s(cmd0, cmd1)),
        // Load mode's frames are not in the truth log: what was offered is the schedule.
        Feed::Replayed(_) => println!(
            "simulator offered:   {:.0} commands/s (the schedule)",
            rooms as f64 * rate
        ),
    }
    println!(
        "ingester received:   {:.0} commands/s",
        delta("bilipulse_ingester_commands_total") / el.as_secs_f64()
    );
    println!("BILI_EVENTS:         {:.0} events/s", per_s(ev0, ev1));
    println!("BILI_RAW:            {:.0} bodies/s", per_s(raw0, raw1));
    println!(
        "BILI_RAW_FRAMES:     {:.0} frames/s",
        per_s(frames0, frames1)
    );
    println!(
        "JetStream total:     {:.0} messages/s (events + raw; status is a few per second)",
        per_s(ev0, ev1) + per_s(raw0, raw1) + per_s(frames0, frames1)
    );
    let buffered = m1.get("bilipulse_ingester_buffer_messages");
    // `+ 0.0`: an empty f64 sum is -0.0, which would print as "-0".
    let dropped = m1.sum("bilipulse_ingester_dropped_total") + 0.0;
    println!(
        "ingester backlog at the end: {buffered} messages; dropped: {dropped}; reconnects to the simulator: {}",
        delta("bilipulse_ingester_reconnects_total")
    );
    println!(
        "shed unparsed:       {:.0} commands/s ({} in all)",
        delta("bilipulse_ingester_shed_commands_total") / el.as_secs_f64(),
        m1.get("bilipulse_ingester_shed_commands_total")
    );
    let mut total = 0.0;
    for ((name, _), (a, b)) in procs.iter().zip(cpu0.iter().zip(&cpu1)) {
        let pct = cpu_percent(b - a, el);
        total += pct;
        println!("CPU {name:<12} {pct:6.1} % of one core");
    }
    println!("CPU total        {total:6.1} % of {} cores", cores());
    Ok(())
}

fn nats() -> Result<NatsServer, Error> {
    NatsServer::start()
        .ok_or_else(|| "nats-server is not installed (deploy/install-tools.sh)".into())
}

/// The ingester under test, ready: its log goes to a kept temporary directory.
async fn ingester(
    nats: &NatsServer,
    sim: SocketAddr,
    extra: &[(&str, &str)],
) -> Result<ServiceProcess, Error> {
    let dir = tempfile::tempdir()?.keep();
    println!("ingester log: {}/load-0.log", dir.display());
    let base = format!("http://{sim}/");
    let mut flags = load_ingester_flags("load-0", &nats.url(), &base);
    flags.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    // BENCH_INGESTER_BIN runs another binary, or a script that execs a profiler around it.
    let bin = std::env::var_os("BENCH_INGESTER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_bilipulse-ingester")),
        PathBuf::from,
    );
    let ing = ServiceProcess::spawn(&bin, "load-0", &dir, &flags);
    eventually(
        "the ingester to be ready",
        Duration::from_secs(30),
        async || ing.is_ready().await.then_some(()),
    )
    .await;
    Ok(ing)
}

/// Waits until the ingester has `n` rooms connected.
async fn all_connected(ing: &ServiceProcess, n: usize, within: Duration) {
    converge(&format!("{n} rooms connected"), within, async || {
        let c = ing.metrics().await?.get(CONNECTED) as usize;
        if c >= n {
            Ok(())
        } else {
            Err(format!("{c} connected"))
        }
    })
    .await;
}

/// The simulator of this build (see [`SimProcess::binary`]) with `args`.
fn start_sim(args: &[&str]) -> Result<SimProcess, Error> {
    let bin = SimProcess::binary(Path::new(env!("CARGO_BIN_EXE_bilipulse-ingester")));
    Ok(SimProcess::start(&bin, args)?)
}

async fn bus(url: &str) -> Result<jetstream::Context, Error> {
    let client = async_nats::connect(url).await?;
    Ok(jetstream::new(client))
}

async fn add_rooms(js: &jetstream::Context, ids: &[u64]) -> Result<(), Error> {
    // The ingester creates the bucket at start-up.
    let kv = eventually(
        "the bili_rooms bucket",
        Duration::from_secs(30),
        async || js.get_key_value(streams::ROOMS.bucket).await.ok(),
    )
    .await;
    let puts = futures::stream::iter(ids.iter().copied())
        .map(|room| {
            let kv = kv.clone();
            async move {
                let cfg = RoomConfig {
                    v: SCHEMA_VERSION,
                    room,
                    ..Default::default()
                };
                kv.put(room.to_string(), bilipulse_proto::encode(&cfg)?.into())
                    .await
                    .map_err(Error::from)
            }
        })
        .buffer_unordered(64);
    let results: Vec<Result<u64, Error>> = puts.collect().await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

async fn last_seq(js: &jetstream::Context, stream: &str) -> Result<u64, Error> {
    Ok(js
        .get_stream(stream)
        .await?
        .get_info()
        .await?
        .state
        .last_sequence)
}

async fn sim_rooms(sim: SocketAddr) -> Result<Vec<u64>, Error> {
    let v: serde_json::Value = serde_json::from_str(&http_get(sim, "/admin/rooms").await?)?;
    Ok(v["rooms"]
        .as_array()
        .ok_or("no rooms")?
        .iter()
        .filter_map(|r| r["room"].as_u64())
        .collect())
}

async fn sim_commands(sim: SocketAddr) -> Result<u64, Error> {
    let v: serde_json::Value = serde_json::from_str(&http_get(sim, "/admin/truth/summary").await?)?;
    v["commands"]
        .as_u64()
        .ok_or_else(|| "no command count".into())
}

/// A minimal HTTP/1.0 POST of JSON on 127.0.0.1; the body of a 200.
async fn post(addr: SocketAddr, path: &str, body: &str) -> Result<String, Error> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("POST {path}: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok(body.to_owned())
}

fn cpu_percent(ticks: u64, over: Duration) -> f64 {
    ticks_to_secs(ticks) / over.as_secs_f64() * 100.0
}
