//! Load test of the whole pipeline, each stage a process of its own so its CPU and memory are
//! read from `/proc`: the simulator in load mode → one ingester → nats-server (JetStream) → one
//! windower → the gateway → K WebSocket clients (tasks of this process). Prints figures; asserts
//! nothing (targets live in docs/benchmarks.md, not in tests).
//!
//! ```text
//! cargo build --release -p bilipulse-sim -p bilipulse-ingester -p bilipulse-windower -p bilipulse-gateway
//! cargo bench -p bilipulse-gateway --bench pipeline_load -- --rooms 100 --rates 100,200,400,800
//! ```
//!
//! For each rate (commands per second per room) a fresh world is started: the real captures
//! (`BILIPULSE_FIXTURES`, else `../shared/fixtures/bilibili`), 20 per brotli frame, restamped by
//! the simulator with fresh ids and times (`--replay-fresh`). After all rooms are connected and
//! a warm-up, one window of `--seconds` is measured:
//!
//! * offered (the schedule), received by the ingester, stored in `BILI_EVENTS`, dropped;
//! * CPU-µs per stored event of every process, nats-server and these clients included, and RSS;
//! * the windower's backlog (`pending`) and lag; the gateway's frames and drops;
//! * latency, as the clients see it: from the ingester's receipt of a danmaku's frame (`recv`:
//!   on loopback, Bilibili's send time plus the read) to its receipt over the WebSocket, and
//!   from a `1s` window's close (its end plus the windower's lateness, the earliest it may be
//!   published) to the receipt of its summary (`rev` 0). The simulator stamps a frame's times
//!   when it prepares the frame (the start plus the frame's place in the schedule), and a
//!   connection starts its schedule when it opens, so event times trail the wall clock by up
//!   to the time the rooms took to connect: a danmaku's own `ts` is no send time here, and a
//!   window closes up to that much later than its end says (the summary latency is an upper
//!   bound);
//! * which stage fell short first, in pipeline order.
//!
//! The binaries are taken from next to this bench's executable (`target/release/`);
//! `BILIPULSE_SIM_BIN` overrides the simulator's. `--json FILE` appends each rate's figures as a
//! JSON line.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use bilipulse_proto::streams;
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::process::{Metrics, ServiceProcess, sibling_binary};
use bilipulse_testkit::procstat::{cores, cpu_model, cpu_ticks, rss_kib, ticks_to_secs};
use bilipulse_testkit::sim::SimProcess;
use bilipulse_testkit::stack::load_ingester_flags;
use bilipulse_testkit::wait::{converge, eventually};
use clap::Parser;
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Commands per load-mode frame.
const PER_FRAME: u32 = 20;
/// The rooms are `ROOM_BASE`, `ROOM_BASE + 1`, …
const ROOM_BASE: u64 = 2_000_001;
/// The windower's `--lateness` (its default): a `1s` window closes this long after its end.
const LATENESS_MS: i64 = 3_000;
/// A stage is short when it passes on less than this share of what reached it.
const KEPT_UP: f64 = 0.97;

/// Whole-pipeline load test: simulator → ingester → NATS → windower → gateway → clients.
#[derive(Debug, Clone, Parser)]
#[command(name = "pipeline_load")]
struct Opts {
    /// Simulated rooms, all in one ingester.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Commands per second per room; one fresh world and one measured window per value.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    rates: Vec<f64>,
    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Time between the last room connecting and the window, seconds.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// WebSocket clients, each subscribed to the `1s` summaries and the danmaku of its rooms.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Rooms per client (client i takes rooms i·R, i·R+1, … modulo --rooms).
    #[arg(long, default_value_t = 1)]
    rooms_per_client: usize,
    /// Distinct frames the simulator prepares [default: enough that no room's ids repeat
    /// before the window ends].
    #[arg(long)]
    fresh_frames: Option<u64>,
    /// Append each rate's figures to this file as a JSON line (a relative path is from the
    /// crate's directory, where `cargo bench` runs benches).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`.
    let args = std::env::args().filter(|a| a != "--bench");
    let opts = Opts::parse_from(args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("machine: {} × {}", cores(), cpu_model());
    println!("{}", Row::HEADER);
    for &rate in &opts.rates {
        let report = rt.block_on(measure(&opts, rate))?;
        println!("{}", Row(&report));
        if let Some(path) = &opts.json {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
            writeln!(f, "{}", serde_json::to_string(&report)?)?;
        }
    }
    Ok(())
}

/// The stages, each a process, in pipeline order.
struct World {
    nats: NatsServer,
    sim: SimProcess,
    ingester: ServiceProcess,
    windower: ServiceProcess,
    gateway: ServiceProcess,
    js: jetstream::Context,
    rooms: Vec<u64>,
}

/// A binary of this build, next to this bench's executable.
fn binary(name: &str) -> Result<PathBuf, Error> {
    Ok(sibling_binary(name)?)
}

fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn start_world(opts: &Opts, rate: f64) -> Result<World, Error> {
    let fixtures = bilipulse_testkit::fixtures::dir().ok_or("the fixtures are needed")?;
    let nats =
        NatsServer::start().ok_or("nats-server is not installed (deploy/install-tools.sh)")?;
    let url = nats.url();
    let js = bus::jetstream(bus::connect(&NatsConfig::new(url.clone()), "pipeline-load").await?);
    bus::ensure_streams(&js, &StreamOverrides::default()).await?;
    let kv = bus::ensure_bucket(&js, &streams::ROOMS, &StreamOverrides::default()).await?;
    let rooms: Vec<u64> = (0..opts.rooms as u64).map(|i| ROOM_BASE + i).collect();

    // Enough fresh frames to last connecting (≤ 60 s), the warm-up and the window.
    let lasting = rate * (60 + opts.warmup + opts.seconds) as f64 / f64::from(PER_FRAME);
    let fresh = opts
        .fresh_frames
        .unwrap_or((lasting.ceil() as u64).max(200));
    let spec: Vec<String> = rooms.iter().map(|r| format!("{r}:quiet:{rate}")).collect();
    let (spec, fps, fresh_s) = (
        spec.join(","),
        (rate / f64::from(PER_FRAME)).to_string(),
        fresh.to_string(),
    );
    let sim_bin = SimProcess::binary(&binary("bilipulse-gateway")?);
    #[rustfmt::skip]
    let sim = SimProcess::start(&sim_bin, &[
        "--rooms", &spec, "--truth-capacity", "0", "--protover", "3", "--brotli-quality", "6",
        "--replay", fixtures.to_str().ok_or("fixtures path is not UTF-8")?,
        "--replay-per-frame", &PER_FRAME.to_string(), "--replay-rate", &fps,
        "--replay-fresh", &fresh_s,
    ])?;
    let logs = tempfile::Builder::new()
        .prefix("pipeline-load-")
        .tempdir()?
        .keep();
    let base = format!("http://{}/", sim.addr);
    let ingester = ServiceProcess::spawn(
        &binary("bilipulse-ingester")?,
        "ingester-0",
        &logs,
        &load_ingester_flags("ingester-0", &url, &base),
    );
    // The windower as deployed: its default windows and checkpoint interval.
    let lateness = format!("{LATENESS_MS}ms");
    let wflags = flags(&[
        ("--id", "windower-0"),
        ("--nats-url", &url),
        ("--log", "warn"),
        ("--lateness", &lateness),
    ]);
    let windower =
        ServiceProcess::spawn(&binary("bilipulse-windower")?, "windower-0", &logs, &wflags);
    let per_client = opts.rooms_per_client.to_string();
    let gateway = ServiceProcess::spawn(
        &binary("bilipulse-gateway")?,
        "gateway",
        &logs,
        &flags(&[
            ("--nats-url", &url),
            ("--listen", "127.0.0.1:0"),
            ("--log", "warn,bilipulse_gateway=info"),
            ("--no-resolve", "true"),
            ("--max-rooms-per-client", &per_client),
            ("--idle-timeout", "1h"),
        ]),
    );
    for room in &rooms {
        bilipulse_runtime::rooms::put(&kv, *room, None, "load room").await?;
    }
    for p in [&ingester, &windower, &gateway] {
        eventually(
            &format!("{} ready", p.id),
            Duration::from_secs(60),
            async || p.is_ready().await.then_some(()),
        )
        .await;
    }
    println!(
        "rate {rate}/s per room: {fresh} fresh frames (ids repeat after {:.0} s); logs in {}",
        fresh as f64 * f64::from(PER_FRAME) / rate,
        logs.display()
    );
    Ok(World {
        nats,
        sim,
        ingester,
        windower,
        gateway,
        js,
        rooms,
    })
}

/// Everything read at both ends of the window.
struct Snapshot {
    at: Instant,
    ticks: Vec<u64>,
    stored: u64,
    ingester: Metrics,
    windower: Metrics,
    gateway: Metrics,
}

impl World {
    /// (name, pid) of every process, this one (the clients) last.
    fn procs(&self) -> Result<Vec<(&'static str, u32)>, Error> {
        Ok(vec![
            ("simulator", self.sim.pid()),
            ("ingester", self.ingester.pid()),
            (
                "nats-server",
                self.nats.pid().ok_or("nats-server not running")?,
            ),
            ("windower", self.windower.pid()),
            ("gateway", self.gateway.pid()),
            ("clients", std::process::id()),
        ])
    }

    async fn snapshot(&self) -> Result<Snapshot, Error> {
        let info = self
            .js
            .get_stream(streams::EVENTS.name)
            .await?
            .get_info()
            .await?;
        Ok(Snapshot {
            at: Instant::now(),
            ticks: self.procs()?.iter().map(|(_, p)| cpu_ticks(*p)).collect(),
            stored: info.state.last_sequence,
            ingester: self.ingester.metrics().await?,
            windower: self.windower.metrics().await?,
            gateway: self.gateway.metrics().await?,
        })
    }
}

/// What the clients saw inside the window.
#[derive(Default)]
struct Seen {
    danmaku: Option<Histogram<u64>>,
    summaries: Option<Histogram<u64>>,
    lag_frames: u64,
    errors: u64,
}

impl Seen {
    fn new() -> Seen {
        let h = || Histogram::new_with_bounds(1, 3_600_000, 3).ok();
        Seen {
            danmaku: h(),
            summaries: h(),
            ..Seen::default()
        }
    }
}

type Shared = Arc<Mutex<Seen>>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The fields of a gateway frame the clients look at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default)]
    channel: Option<&'a str>,
    #[serde(default)]
    data: Option<FrameData>,
}

#[derive(Deserialize)]
struct FrameData {
    #[serde(default)]
    recv: Option<i64>,
    #[serde(default)]
    end: Option<i64>,
    #[serde(default)]
    rev: Option<u32>,
}

fn record(seen: &Shared, text: &str) {
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        seen.lock().unwrap_or_else(PoisonError::into_inner).errors += 1;
        return;
    };
    let now = now_ms();
    let mut s = seen.lock().unwrap_or_else(PoisonError::into_inner);
    match (frame.kind, frame.channel, frame.data) {
        (
            "message",
            Some("danmaku"),
            Some(FrameData {
                recv: Some(recv), ..
            }),
        ) => {
            if let Some(h) = s.danmaku.as_mut() {
                h.saturating_record((now - recv).max(1) as u64);
            }
        }
        (
            "message",
            Some("1s"),
            Some(FrameData {
                end: Some(end),
                rev: Some(0),
                ..
            }),
        ) => {
            if let Some(h) = s.summaries.as_mut() {
                h.saturating_record((now - end - LATENESS_MS).max(1) as u64);
            }
        }
        ("lag", ..) => s.lag_frames += 1,
        ("error", ..) => s.errors += 1,
        _ => {}
    }
}

/// One client: subscribes to `1s` and `danmaku` of `rooms`, then records what arrives.
async fn client(url: String, rooms: Vec<u64>, seen: Arc<Mutex<Shared>>) -> Result<(), Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let req = serde_json::json!({
        "op": "subscribe", "rooms": rooms, "channels": ["1s", "danmaku"], "history": false
    });
    ws.send(Message::text(req.to_string())).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(text) = msg? {
            let target = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
            record(&target, text.as_str());
        }
    }
    Ok(())
}

/// The figures of one rate.
#[derive(Debug, Serialize)]
struct Report {
    rooms: usize,
    rate_per_room: f64,
    clients: usize,
    seconds: f64,
    offered_per_s: f64,
    received_per_s: f64,
    stored_per_s: f64,
    counted_per_s: f64,
    dropped: f64,
    ingester_backlog: f64,
    windower_pending: f64,
    windower_lag_ms: f64,
    /// Clients the gateway held at the end of the window.
    gateway_connections: f64,
    gateway_frames_per_s: f64,
    gateway_dropped: f64,
    client_lag_frames: u64,
    /// CPU-µs per stored event, per process.
    cpu_us_per_event: BTreeMap<String, f64>,
    /// CPU in % of one core, per process.
    cpu_percent: BTreeMap<String, f64>,
    rss_kib: BTreeMap<String, u64>,
    danmaku_latency_ms: Latency,
    summary_latency_ms: Latency,
    verdict: String,
}

#[derive(Debug, Default, Serialize)]
struct Latency {
    n: u64,
    p50: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

impl Latency {
    fn of(h: Option<&Histogram<u64>>) -> Latency {
        h.map_or_else(Latency::default, |h| Latency {
            n: h.len(),
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }
}

async fn measure(opts: &Opts, rate: f64) -> Result<Report, Error> {
    let world = start_world(opts, rate).await?;
    let n = world.rooms.len();
    converge(
        &format!("{n} rooms connected"),
        Duration::from_secs(120),
        async || {
            let c = world
                .ingester
                .metrics()
                .await?
                .get(r#"bilipulse_ingester_connections{state="Connected"}"#)
                as usize;
            if c >= n {
                Ok(())
            } else {
                Err(format!("{c} connected"))
            }
        },
    )
    .await;
    let listen = eventually(
        "the gateway's listen address",
        Duration::from_secs(10),
        async || world.gateway.logged_addr("gateway starting", "listen").ok(),
    )
    .await;
    let slot: Arc<Mutex<Shared>> = Arc::new(Mutex::new(Arc::new(Mutex::new(Seen::default()))));
    let url = format!("ws://{listen}/ws");
    let tasks: Vec<_> = (0..opts.clients)
        .map(|i| {
            let rooms = (0..opts.rooms_per_client)
                .map(|j| world.rooms[(i * opts.rooms_per_client + j) % n])
                .collect();
            tokio::spawn(client(url.clone(), rooms, slot.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(opts.warmup)).await;

    let seen: Shared = Arc::new(Mutex::new(Seen::new()));
    let a = world.snapshot().await?;
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = seen.clone();
    tokio::time::sleep(Duration::from_secs(opts.seconds)).await;
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(Mutex::new(Seen::default()));
    let b = world.snapshot().await?;
    let rss = world
        .procs()?
        .iter()
        .map(|(name, pid)| ((*name).to_owned(), rss_kib(*pid)))
        .collect();
    let names: Vec<&str> = world.procs()?.iter().map(|(name, _)| *name).collect();
    for t in &tasks {
        t.abort();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    let report = report(opts, rate, &a, &b, &names, rss, &seen);
    drop(world);
    Ok(report)
}

fn report(
    opts: &Opts,
    rate: f64,
    a: &Snapshot,
    b: &Snapshot,
    names: &[&str],
    rss_kib: BTreeMap<String, u64>,
    seen: &Seen,
) -> Report {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let delta = |m: fn(&Snapshot) -> &Metrics, name: &str| m(b).sum(name) - m(a).sum(name);
    let stored = (b.stored - a.stored) as f64;
    let mut cpu_us_per_event = BTreeMap::new();
    let mut cpu_percent = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let cpu = ticks_to_secs(b.ticks[i] - a.ticks[i]);
        cpu_us_per_event.insert((*name).to_owned(), cpu * 1e6 / stored.max(1.0));
        cpu_percent.insert((*name).to_owned(), cpu / secs * 100.0);
    }
    let mut r = Report {
        rooms: opts.rooms,
        rate_per_room: rate,
        clients: opts.clients,
        seconds: secs,
        offered_per_s: rate * opts.rooms as f64,
        received_per_s: delta(|s| &s.ingester, "bilipulse_ingester_commands_total") / secs,
        stored_per_s: stored / secs,
        counted_per_s: delta(|s| &s.windower, "bilipulse_windower_events_total") / secs,
        dropped: delta(|s| &s.ingester, "bilipulse_ingester_dropped_total") + 0.0,
        ingester_backlog: b.ingester.get("bilipulse_ingester_buffer_messages"),
        windower_pending: b.windower.get("bilipulse_windower_pending"),
        windower_lag_ms: b.windower.get("bilipulse_windower_lag_ms"),
        gateway_connections: b.gateway.sum("bilipulse_gateway_connections"),
        gateway_frames_per_s: delta(|s| &s.gateway, "bilipulse_gateway_frames_total") / secs,
        gateway_dropped: delta(|s| &s.gateway, "bilipulse_gateway_dropped_total") + 0.0,
        client_lag_frames: seen.lag_frames,
        cpu_us_per_event,
        cpu_percent,
        rss_kib,
        danmaku_latency_ms: Latency::of(seen.danmaku.as_ref()),
        summary_latency_ms: Latency::of(seen.summaries.as_ref()),
        verdict: String::new(),
    };
    r.verdict = verdict(&r);
    r
}

/// The first stage, in pipeline order, that passed on less than it was given.
fn verdict(r: &Report) -> String {
    if r.received_per_s < KEPT_UP * r.offered_per_s {
        return format!(
            "ingester reads short: {:.0} of {:.0} commands/s",
            r.received_per_s, r.offered_per_s
        );
    }
    if r.dropped > 0.0 || r.ingester_backlog > r.received_per_s {
        return format!(
            "ingester → JetStream short: {} dropped, {} buffered",
            r.dropped, r.ingester_backlog
        );
    }
    if r.counted_per_s < KEPT_UP * r.stored_per_s || r.windower_pending > 2.0 * r.stored_per_s {
        return format!(
            "windower short: {:.0} of {:.0} events/s counted, {} pending",
            r.counted_per_s, r.stored_per_s, r.windower_pending
        );
    }
    if r.gateway_dropped > 0.0 || r.client_lag_frames > 0 {
        return format!("gateway short: {} dropped", r.gateway_dropped);
    }
    if r.gateway_connections < r.clients as f64 {
        return format!(
            "gateway held {} of {} clients",
            r.gateway_connections, r.clients
        );
    }
    "kept up".into()
}

/// One line of the printed table.
struct Row<'a>(&'a Report);

impl Row<'_> {
    const HEADER: &'static str = "| rate/room | offered/s | received/s | stored ev/s | counted/s | dropped | CPU-µs/event sim·ing·nats·win·gw·clients | box CPU | danmaku p50/p95/p99/max ms | summary p50/p99/max ms | windower lag ms | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|";
}

impl std::fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.0;
        let order = [
            "simulator",
            "ingester",
            "nats-server",
            "windower",
            "gateway",
            "clients",
        ];
        let us: Vec<String> = order
            .iter()
            .map(|p| format!("{:.1}", r.cpu_us_per_event.get(*p).copied().unwrap_or(0.0)))
            .collect();
        let (d, s) = (&r.danmaku_latency_ms, &r.summary_latency_ms);
        write!(
            f,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} % | {}/{}/{}/{} | {}/{}/{} | {} | {} |",
            r.rate_per_room,
            r.offered_per_s,
            r.received_per_s,
            r.stored_per_s,
            r.counted_per_s,
            r.dropped,
            us.join(" · "),
            r.cpu_percent.values().sum::<f64>(),
            d.p50,
            d.p95,
            d.p99,
            d.max,
            s.p50,
            s.p99,
            s.max,
            r.windower_lag_ms,
            r.verdict
        )
    }
}
