//! Load test of one `bilipulse-gateway` process over real sockets. Prints figures; asserts
//! nothing (targets live in docs/benchmarks.md, not in tests).
//!
//! ```text
//! cargo build --release -p bilipulse-gateway     # the gateway binary the bench starts
//! cargo bench -p bilipulse-gateway --bench gateway_load -- run --connections 19000 --rate 2
//! cargo bench -p bilipulse-gateway --bench gateway_load -- sweep --connections 1000 --rate 50
//! cargo bench -p bilipulse-gateway --bench gateway_load -- --help
//! ```
//!
//! What runs, each a process of its own so CPU and memory are read per process from `/proc`:
//!
//! * a real `nats-server` with JetStream (testkit), the bus's streams, and ROOMS desired rooms
//!   in `bili_rooms`;
//! * the real gateway binary (`target/<profile>/bilipulse-gateway`, next to this bench's
//!   executable), with flags sized for the load (`--max-connections`, `--client-queue`, a long
//!   `--idle-timeout` and `--stuck-after`);
//! * K load-client processes: this binary in `client` mode, each holding its share of the
//!   connections from its own loopback source address (127.0.0.2, 127.0.0.3, …), at most
//!   ~9 000 each so every process stays under a 20 000 open-files cap. Each connection
//!   subscribes (`history: false`) to the `1s` summaries and the danmaku of its rooms;
//! * the publisher, in this (orchestrator) process: `1s` `WindowSummary`s into `BILI_SUMMARY`
//!   (`bili.summary.<room>.1s`, as the windower stores them) and danmaku `RoomEvent`s into
//!   `BILI_EVENTS` (`bili.event.<room>.danmaku`, with `Nats-Msg-Id`, as an ingester does),
//!   MessagePack-encoded with `bilipulse_proto::encode`. `--rate` is messages per second
//!   **in all**: summaries and danmaku alternately, the rooms in turn, so each room gets
//!   RATE / (2 · ROOMS) summaries and as many danmaku per second.
//!
//! Where the publish time is, for the latency from publish to receipt: danmaku carry it in
//! `recv` and `ts` (ms; the ingester's receive time, which is what it means) and, in µs, in
//! their text (`"load <µs>"`); summaries carry it in µs in `coverage.late_events`, a count the
//! load never needs (a real client would read it as a number of late events). Clients and
//! publisher share the machine's clock.
//!
//! Modes: `run` (default) connects, then measures one window at `--rate`; `sweep` doubles the
//! rate (`--step`) until a window falls short (deliveries below 99 % of expected, drops, `lag`
//! frames, closed clients, or a publisher that could not keep the rate), bisects between the
//! last passing and the first failing rate (`--refine`), then measures again at the saturating
//! rate, once more under `perf record -g` of the gateway when `--perf FILE` is given (perf
//! costs CPU of its own, so those figures stand apart), and at half the saturating rate.
//! Deliveries count the messages published inside a window that reached a client (all of
//! them, after the gateway's `frames_total` stopped growing); CPU is taken over the window.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{
    Coverage, Danmaku, Kind, Medal, Payload, RoomEvent, SCHEMA_VERSION, WindowSummary, streams,
};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::nats::free_port;
use bilipulse_testkit::process::{Metrics, ServiceProcess, sibling_binary};
use bilipulse_testkit::procstat::{cores, cpu_model, cpu_ticks, rss_kib, ticks_to_secs};
use bilipulse_testkit::wait::eventually;
use clap::{Parser, ValueEnum};
use futures::stream::FuturesUnordered;
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use memchr::memmem;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The rooms are `ROOM_BASE`, `ROOM_BASE + 1`, …
const ROOM_BASE: u64 = 40_000_000;
/// Connections per client process at most by default (its fds stay under a 20 000 cap).
const PER_PROCESS: usize = 9_000;
/// Publishes awaiting their JetStream ack at most.
const MAX_IN_FLIGHT: usize = 4096;
/// Where a summary frame carries its publish time (µs).
const SUMMARY_STAMP: &str = r#""late_events":"#;
/// Where a danmaku frame carries its publish time (µs).
const DANMAKU_STAMP: &str = r#""text":"load "#;
/// Gateway metrics read.
const CONNECTIONS: &str = "bilipulse_gateway_connections";
const FRAMES: &str = "bilipulse_gateway_frames_total";
const WRITES: &str = "bilipulse_gateway_writes_total";
const COALESCED: &str = "bilipulse_gateway_coalesced_writes_total";
const DROPPED: &str = "bilipulse_gateway_dropped_total";
const CLOSED_SLOW: &str = "bilipulse_gateway_closed_slow_total";

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Connect, then measure one window at `--rate`.
    Run,
    /// Raise the rate until a window falls short, then measure at saturation and at half.
    Sweep,
    /// Internal: one load-client process, started by the orchestrator.
    Client,
}

/// Load test of one bilipulse-gateway process. Build the gateway first:
/// `cargo build --release -p bilipulse-gateway`.
#[derive(Debug, Clone, Parser)]
#[command(name = "gateway_load")]
struct Opts {
    /// What to do.
    #[arg(value_enum, default_value = "run")]
    mode: Mode,
    /// WebSocket connections in all (in `client` mode: this process's share).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Desired rooms published to.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Rooms each connection subscribes to (`1s` and `danmaku` of each) [default: all].
    #[arg(long)]
    rooms_per_client: Option<usize>,
    /// Rooms per `subscribe` request; the next request is sent once the previous one's
    /// history frames arrived (the gateway allows 20 requests/s) [default: all in one].
    #[arg(long)]
    subscribe_rooms: Option<usize>,
    /// Messages published per second in all, summaries and danmaku alternately over the
    /// rooms (each room: RATE/(2·ROOMS) of each per second). A sweep's first rate.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Length of each measurement window, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Load-client processes [default: one per 9 000 connections, at least 2].
    #[arg(long)]
    client_procs: Option<usize>,
    /// The gateway's `--client-queue` (messages queued per client before dropping).
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Each client connection's WebSocket read buffer, bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    client_read_buffer: usize,
    /// Connections being opened at once per client process.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Sweep: rate factor between rising steps.
    #[arg(long, default_value_t = 2.0)]
    step: f64,
    /// Sweep: bisection steps between the last passing and the first failing rate.
    #[arg(long, default_value_t = 2)]
    refine: u32,
    /// Sweep: at most this many rising steps.
    #[arg(long, default_value_t = 12)]
    max_steps: u32,
    /// `perf record -g` the gateway into this file during the measurement (sweep: during the
    /// run at the saturating rate).
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Extra gateway flag, `--flag=value` (repeatable), e.g. `--gateway-arg=--ws-write-buffer=4096`.
    #[arg(long = "gateway-arg", value_name = "FLAG=VALUE")]
    gateway_args: Vec<String>,
    /// The gateway binary to start [default: `bilipulse-gateway` next to this bench's
    /// executable]; e.g. an older build kept aside, to compare two builds on one machine.
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// Give the gateway cores of its own: `GATEWAY_CPUS:LOAD_CPUS` in `taskset` list syntax,
    /// e.g. `0:1` runs the gateway on CPU 0 and nats-server, the load clients and this
    /// orchestrator on CPU 1, as if the load came from other machines [default: shared].
    #[arg(long, value_name = "GATEWAY_CPUS:LOAD_CPUS")]
    pin: Option<Pin>,
    /// Internal (client mode): the gateway's address.
    #[arg(long, hide = true)]
    gateway: Option<SocketAddr>,
    /// Internal (client mode): the loopback source address to bind.
    #[arg(long, hide = true)]
    source: Option<Ipv4Addr>,
    /// Internal (client mode): global index of this process's first connection.
    #[arg(long, hide = true, default_value_t = 0)]
    first: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The machine's cores, read before `--pin` restricts this process to some of them.
static MACHINE_CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Which CPUs the gateway and everything else may run on (`--pin`).
#[derive(Debug, Clone)]
struct Pin {
    gateway: String,
    load: String,
}

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(s: &str) -> Result<Pin, String> {
        let (gateway, load) = s
            .split_once(':')
            .ok_or_else(|| format!("expected GATEWAY_CPUS:LOAD_CPUS, got {s:?}"))?;
        let valid =
            |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit() || ",-".contains(c));
        if !valid(gateway) || !valid(load) {
            return Err(format!("CPU lists are like 0 or 0-1 or 0,2; got {s:?}"));
        }
        Ok(Pin {
            gateway: gateway.into(),
            load: load.into(),
        })
    }
}

/// Restricts process `pid` and all its threads to `cpus` (threads it starts later inherit it).
fn pin(pid: u32, cpus: &str) -> Result<(), Error> {
    let status = std::process::Command::new("taskset")
        .args(["--all-tasks", "--pid", "--cpu-list", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("taskset {cpus} {pid}: {status}").into());
    }
    Ok(())
}

impl Opts {
    fn per_client(&self) -> usize {
        self.rooms_per_client
            .unwrap_or(self.rooms)
            .clamp(1, self.rooms)
    }

    fn client_procs(&self) -> usize {
        self.client_procs
            .unwrap_or_else(|| self.connections.div_ceil(PER_PROCESS).max(2))
            .clamp(1, 250)
    }
}

fn main() -> Result<(), Error> {
    let opts = Opts::parse();
    // One fd per connection: the soft limit up to the hard one (children inherit it).
    let nofile = rlimit::increase_nofile_limit(u64::MAX)?;
    if opts.mode == Mode::Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(client_main(opts));
    }
    // Before `--pin` narrows this process's own view of the machine.
    let machine_cores = *MACHINE_CORES.get_or_init(cores);
    println!(
        "machine: {machine_cores} × {}; open files limit {nofile}",
        cpu_model()
    );
    if let Some(p) = &opts.pin {
        // Before any thread or child exists: nats-server and the clients inherit it.
        pin(std::process::id(), &p.load)?;
        println!(
            "pinned: gateway on CPUs {}, everything else on {}",
            p.gateway, p.load
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(orchestrate(opts))
}

// ---------------------------------------------------------------------------------------------
// What clients tell the orchestrator (one JSON object per stdout line)
// ---------------------------------------------------------------------------------------------

/// A client process's connections are open and subscribed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Ready {
    held: u64,
    failed: u64,
    /// This process's connections subscribed to each room, by room index.
    subs: Vec<u64>,
    /// Seconds from the process's start until the last connection was subscribed.
    secs: f64,
    /// The first few reasons connections failed.
    errors: Vec<String>,
}

/// What a client process received since its last report, counting only messages whose
/// publish time lies in the window it was given.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    /// Connections open now.
    held: u64,
    /// Connections that ended since the process started.
    closed: u64,
    summaries: u64,
    danmaku: u64,
    /// Messages published outside the window (before or after it).
    outside: u64,
    /// `lag` frames, and the messages they say were dropped.
    lags: u64,
    lag_dropped: u64,
    /// Publish → receipt latency, µs: `(value, count)` pairs of the histogram.
    lat_summary: Vec<(u64, u64)>,
    lat_danmaku: Vec<(u64, u64)>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

fn to_pairs(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn add_pairs(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) {
    for &(v, n) in pairs {
        h.saturating_record_n(v, n);
    }
}

/// Unix time, µs.
fn now_us() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

async fn sleep_until_us(at: i64) {
    let wait = at.saturating_sub(now_us());
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
    }
}

/// The rooms (indices) connection `g` subscribes to.
fn rooms_of(g: usize, rooms: usize, per_client: usize) -> impl Iterator<Item = usize> {
    (0..per_client).map(move |j| (g * per_client + j) % rooms)
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: NATS, rooms, the gateway process
// ---------------------------------------------------------------------------------------------

/// NATS, the gateway, and where their logs go.
struct World {
    gateway: ServiceProcess,
    addr: SocketAddr,
    nats: NatsServer,
    js: jetstream::Context,
    dir: PathBuf,
}

/// The gateway binary: `--gateway-bin` (to compare two builds), else the one next to this
/// bench's executable (`target/<profile>/deps/…`).
fn gateway_binary(chosen: Option<&Path>) -> Result<PathBuf, Error> {
    match chosen {
        Some(bin) => Ok(bin.to_owned()),
        None => Ok(sibling_binary("bilipulse-gateway")?),
    }
}

fn gateway_flags(opts: &Opts, nats: &NatsServer, addr: SocketAddr) -> BTreeMap<String, String> {
    let max_connections = (opts.connections + 100).max(20_000);
    [
        ("--nats-url", nats.url()),
        ("--listen", addr.to_string()),
        ("--log", "info".into()),
        ("--no-resolve", "true".into()),
        ("--max-connections", max_connections.to_string()),
        ("--max-rooms-per-client", opts.per_client().to_string()),
        ("--client-queue", opts.queue.to_string()),
        // The load clients never speak after subscribing (they answer pings): no idle close.
        ("--idle-timeout", "1h".into()),
        // A sweep overloads on purpose: drops are measured, clients are not closed for it.
        ("--stuck-after", "10m".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(opts.gateway_args.iter().map(|a| match a.split_once('=') {
        Some((k, v)) => (k.to_owned(), v.to_owned()),
        None => (a.clone(), "true".to_owned()),
    }))
    .collect()
}

async fn start_world(opts: &Opts) -> Result<World, Error> {
    let bin = gateway_binary(opts.gateway_bin.as_deref())?;
    let nats =
        NatsServer::start().ok_or("nats-server is not installed (deploy/install-tools.sh)")?;
    let client = bus::connect(&NatsConfig::new(nats.url()), "gateway-load").await?;
    let js = bus::jetstream(client);
    bus::ensure_streams(&js, &StreamOverrides::default()).await?;
    let kv = bus::ensure_bucket(&js, &streams::ROOMS, &StreamOverrides::default()).await?;
    for i in 0..opts.rooms {
        bilipulse_runtime::rooms::put(&kv, ROOM_BASE + i as u64, None, "load room").await?;
    }
    let dir = tempfile::Builder::new()
        .prefix("gateway-load-")
        .tempdir()?
        .keep();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let flags = gateway_flags(opts, &nats, addr);
    let gateway = ServiceProcess::spawn(&bin, "gateway", &dir, &flags);
    if let Some(p) = &opts.pin {
        pin(gateway.pid(), &p.gateway)?;
    }
    eventually("the gateway ready", Duration::from_secs(60), async || {
        gateway.is_ready().await.then_some(())
    })
    .await;
    println!(
        "gateway pid {} on {addr} ({}); logs in {}",
        gateway.pid(),
        bin.display(),
        dir.display()
    );
    if let Some(line) = gateway
        .log()
        .lines()
        .find(|l| l.contains("open files limit"))
    {
        println!("  gateway log: {}", strip_ansi(line).trim());
    }
    Ok(World {
        gateway,
        addr,
        nats,
        js,
        dir,
    })
}

/// A log line without its terminal colours.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: client processes
// ---------------------------------------------------------------------------------------------

/// One load-client process, driven over its stdin and stdout.
struct ClientProc {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pid: u32,
}

impl ClientProc {
    fn spawn(opts: &Opts, k: usize, first: usize, n: usize, w: &World) -> Result<Self, Error> {
        let source = Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(k)?);
        let log = std::fs::File::create(w.dir.join(format!("client-{k}.log")))?;
        let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
        cmd.arg("client")
            .args(["--connections", &n.to_string()])
            .args(["--first", &first.to_string()])
            .args(["--rooms", &opts.rooms.to_string()])
            .args(["--rooms-per-client", &opts.per_client().to_string()])
            .args(["--gateway", &w.addr.to_string()])
            .args(["--source", &source.to_string()])
            .args(["--client-read-buffer", &opts.client_read_buffer.to_string()])
            .args([
                "--connect-concurrency",
                &opts.connect_concurrency.to_string(),
            ]);
        if let Some(s) = opts.subscribe_rooms {
            cmd.args(["--subscribe-rooms", &s.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("client exited at once")?;
        let stdin = child.stdin.take().ok_or("client stdin")?;
        let stdout = child.stdout.take().ok_or("client stdout")?;
        Ok(ClientProc {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            pid,
        })
    }

    async fn send(&mut self, line: &str) -> Result<(), Error> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    async fn read<T: DeserializeOwned>(&mut self, within: Duration) -> Result<T, Error> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .map_err(|_| format!("client {} said nothing for {within:?}", self.pid))??
            .ok_or_else(|| format!("client {} exited (see its log)", self.pid))?;
        Ok(serde_json::from_str(&line)?)
    }

    /// Closes its stdin (it exits, closing its connections) and reaps it.
    async fn finish(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// How the connections went up.
struct Connected {
    held: u64,
    failed: u64,
    secs: f64,
    rss_before: u64,
    rss_after: u64,
    fds_before: usize,
    fds_after: usize,
    clients_rss: u64,
    /// Connections subscribed to each room, by room index.
    subs: Vec<u64>,
}

impl Connected {
    fn per_connection_kib(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.held.max(1) as f64
    }
}

async fn connect_clients(opts: &Opts, w: &World) -> Result<(Vec<ClientProc>, Connected), Error> {
    let pid = w.gateway.pid();
    let (rss_before, fds_before) = (rss_kib(pid), open_fds(pid));
    let k = opts.client_procs();
    let share = opts.connections.div_ceil(k);
    println!(
        "opening {} connections from {k} client processes (≤ {share} each, 127.0.0.2–127.0.0.{})",
        opts.connections,
        k + 1
    );
    let mut clients = Vec::with_capacity(k);
    for i in 0..k {
        let first = i * share;
        let n = share.min(opts.connections.saturating_sub(first));
        clients.push(ClientProc::spawn(opts, i, first, n, w)?);
    }
    let mut c = Connected {
        held: 0,
        failed: 0,
        secs: 0.0,
        rss_before,
        rss_after: 0,
        fds_before,
        fds_after: 0,
        clients_rss: 0,
        subs: vec![0; opts.rooms],
    };
    for client in &mut clients {
        let r: Ready = client.read(Duration::from_secs(1800)).await?;
        c.held += r.held;
        c.failed += r.failed;
        c.secs = c.secs.max(r.secs);
        for (total, n) in c.subs.iter_mut().zip(&r.subs) {
            *total += n;
        }
        for e in &r.errors {
            println!("  client {}: connection failed: {e}", client.pid);
        }
    }
    let held = c.held as f64;
    eventually(
        "the gateway to count every connection",
        Duration::from_secs(120),
        async || {
            let m = w.gateway.metrics().await.ok()?;
            (m.sum(CONNECTIONS) >= held).then_some(())
        },
    )
    .await;
    c.rss_after = rss_kib(pid);
    c.fds_after = open_fds(pid);
    c.clients_rss = clients.iter().map(|c| rss_kib(c.pid)).sum();
    Ok((clients, c))
}

fn print_connected(c: &Connected) {
    println!(
        "held {} connections ({} failed) after {:.1} s; gateway fds {} → {}",
        c.held, c.failed, c.secs, c.fds_before, c.fds_after
    );
    println!(
        "  gateway RSS {} KiB before → {} KiB with them: {:.1} KiB per connection; clients' RSS {} KiB in all ({:.1} KiB per connection)",
        c.rss_before,
        c.rss_after,
        c.per_connection_kib(),
        c.clients_rss,
        c.clients_rss as f64 / c.held.max(1) as f64
    );
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: the publisher
// ---------------------------------------------------------------------------------------------

/// Publishes summaries and danmaku as the windower and the ingesters store them.
struct Publisher {
    js: jetstream::Context,
    rooms: usize,
    /// Messages published so far (also numbers the danmaku ids).
    next: u64,
    /// Per room: the window start last published and its revision.
    revs: Vec<(i64, u32)>,
}

impl Publisher {
    fn new(js: jetstream::Context, rooms: usize) -> Publisher {
        Publisher {
            js,
            rooms,
            next: 0,
            revs: vec![(0, 0); rooms],
        }
    }

    /// The `1s` summary of the second that just closed (a revision if already published),
    /// stamped `stamp` (µs) in `coverage.late_events`.
    fn summary(&mut self, i: usize, stamp: i64) -> (String, Vec<u8>) {
        let room = ROOM_BASE + i as u64;
        let start = (stamp / 1_000_000 - 1) * 1000;
        let slot = &mut self.revs[i];
        let rev = if slot.0 == start { slot.1 + 1 } else { 0 };
        *slot = (start, rev);
        let s = WindowSummary {
            v: SCHEMA_VERSION,
            room,
            window: Window::S1.to_string(),
            start,
            end: start + 1000,
            rev,
            events: 14,
            danmaku: 9,
            chatters: 7,
            chatters_reliable: true,
            gifts: 2,
            gift_mcny: 1_100,
            gift_cny: 1.1,
            total_mcny: 1_100,
            total_cny: 1.1,
            enters: 3,
            likes: 5,
            watched: Some(123_456),
            online_count: Some(4_321),
            live: Some(true),
            coverage: Coverage {
                connected_ms: 1000,
                late_events: stamp.unsigned_abs(),
                complete: true,
                ..Coverage::default()
            },
            ..WindowSummary::default()
        };
        let payload = bilipulse_proto::encode(&s).expect("a summary encodes");
        (subject::summary(room, Window::S1), payload)
    }

    /// The `n`-th danmaku, received (`recv`, `ts`) at `stamp`, which its text holds in µs.
    fn danmaku(&self, i: usize, n: u64, stamp: i64) -> (String, RoomEvent) {
        let room = ROOM_BASE + i as u64;
        let viewer = n % 5_000;
        let ev = RoomEvent {
            v: SCHEMA_VERSION,
            room,
            cmd: "DANMU_MSG".into(),
            ts: stamp / 1000,
            recv: stamp / 1000,
            id: format!("load-{room}-{n}"),
            src: "gateway-load".into(),
            payload: Payload::Danmaku(Danmaku {
                uid: 10_000 + viewer,
                uname: format!("viewer{viewer}"),
                uid_crc32: format!("{:08x}", viewer.wrapping_mul(2_654_435_761) as u32),
                text: format!("load {stamp}"),
                medal: Some(Medal {
                    level: 12,
                    name: "牌子".into(),
                    room,
                    anchor_uid: 7_000_000,
                    guard_level: 0,
                    lit: true,
                }),
                user_level: 20,
                wealth_level: 9,
                ..Danmaku::default()
            }),
        };
        (subject::event(room, Kind::Danmaku), ev)
    }

    /// Publishes message `self.next` (summary or danmaku of the next room in turn); returns
    /// its room index and the pending ack.
    async fn publish_one(
        &mut self,
        stamp: i64,
    ) -> Result<(usize, jetstream::context::PublishAckFuture), Error> {
        let k = self.next;
        self.next += 1;
        let i = usize::try_from(k / 2)? % self.rooms;
        let ack = if k.is_multiple_of(2) {
            let (subject, payload) = self.summary(i, stamp);
            self.js.publish(subject, payload.into()).await?
        } else {
            let (subject, ev) = self.danmaku(i, k, stamp);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", ev.id.as_str());
            let payload = bilipulse_proto::encode(&ev).expect("an event encodes");
            self.js
                .publish_with_headers(subject, headers, payload.into())
                .await?
        };
        Ok((i, ack))
    }

    /// Publishes at `rate` messages/s with publish times in `[t0, t1)` (µs); returns the
    /// messages published per room once every one is acknowledged.
    async fn window(mut self, rate: f64, t0: i64, t1: i64) -> Result<(Publisher, Vec<u64>), Error> {
        let mut per_room = vec![0u64; self.rooms];
        let mut acks = FuturesUnordered::new();
        let mut sent = 0u64;
        sleep_until_us(t0).await;
        'window: loop {
            let now = now_us();
            if now >= t1 {
                break;
            }
            let due = ((now - t0).max(0) as f64 * rate / 1e6) as u64 + 1;
            while sent < due && acks.len() < MAX_IN_FLIGHT {
                let stamp = now_us();
                if stamp >= t1 {
                    break 'window;
                }
                let (i, ack) = self.publish_one(stamp).await?;
                acks.push(std::future::IntoFuture::into_future(ack));
                per_room[i] += 1;
                sent += 1;
            }
            tokio::select! {
                Some(ack) = acks.next(), if !acks.is_empty() => { ack?; }
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
        while let Some(ack) = acks.next().await {
            ack?;
        }
        Ok((self, per_room))
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: one measurement window
// ---------------------------------------------------------------------------------------------

/// CPU counters and gateway metrics at one moment.
struct Sample {
    gateway: u64,
    nats: u64,
    clients: u64,
    m: Metrics,
}

async fn sample(w: &World, clients: &[ClientProc]) -> Result<Sample, Error> {
    let s = Sample {
        gateway: cpu_ticks(w.gateway.pid()),
        nats: w.nats.pid().map_or(0, cpu_ticks),
        clients: clients.iter().map(|c| cpu_ticks(c.pid)).sum(),
        m: w.gateway.metrics().await?,
    };
    Ok(s)
}

/// `perf record -g` of one process, stopped with SIGINT as perf expects.
struct PerfRecord(std::process::Child);

impl PerfRecord {
    fn start(pid: u32, out: &Path, log: &Path) -> Result<PerfRecord, Error> {
        let child = std::process::Command::new("perf")
            .args(["record", "-g", "-p", &pid.to_string(), "-o"])
            .arg(out)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .map_err(|e| format!("cannot start perf: {e}"))?;
        Ok(PerfRecord(child))
    }

    fn stop(mut self) -> Result<(), Error> {
        std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()?;
        self.0.wait()?;
        Ok(())
    }
}

/// Waits until the gateway has written everything: `frames_total` unchanged for 1 s (at
/// most 20 s).
async fn drain(w: &World) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last, mut still) = (f64::NAN, 0);
    while still < 4 {
        let frames = w.gateway.metrics().await?.sum(FRAMES);
        if frames == last {
            still += 1;
        } else {
            (last, still) = (frames, 0);
        }
        if Instant::now() > deadline {
            println!("  warning: the gateway was still writing 20 s after the window");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// The load and its run state.
struct Bench {
    opts: Opts,
    world: World,
    clients: Vec<ClientProc>,
    connected: Connected,
    publisher: Option<Publisher>,
}

/// What the clients received in one window, summed over processes.
struct Received {
    held: u64,
    closed: u64,
    delivered: u64,
    outside: u64,
    lags: u64,
    lag_dropped: u64,
    lat_summary: Histogram<u64>,
    lat_danmaku: Histogram<u64>,
}

async fn collect_reports(clients: &mut [ClientProc]) -> Result<Received, Error> {
    let mut r = Received {
        held: 0,
        closed: 0,
        delivered: 0,
        outside: 0,
        lags: 0,
        lag_dropped: 0,
        lat_summary: histogram(),
        lat_danmaku: histogram(),
    };
    for c in clients.iter_mut() {
        c.send("report").await?;
    }
    for c in clients.iter_mut() {
        let rep: Report = c.read(Duration::from_secs(60)).await?;
        r.held += rep.held;
        r.closed += rep.closed;
        r.delivered += rep.summaries + rep.danmaku;
        r.outside += rep.outside;
        r.lags += rep.lags;
        r.lag_dropped += rep.lag_dropped;
        add_pairs(&mut r.lat_summary, &rep.lat_summary);
        add_pairs(&mut r.lat_danmaku, &rep.lat_danmaku);
    }
    Ok(r)
}

/// One measured window at `rate`.
async fn measure(b: &mut Bench, label: &str, rate: f64, perf: bool) -> Result<Round, Error> {
    let t0 = now_us() + 500_000;
    let t1 = t0 + i64::try_from(b.opts.seconds)? * 1_000_000;
    for c in &mut b.clients {
        c.send(&format!("window {t0} {t1}")).await?;
    }
    let publisher = b.publisher.take().ok_or("the publisher is busy")?;
    let publishing = tokio::spawn(publisher.window(rate, t0, t1));
    sleep_until_us(t0).await;
    let s0 = sample(&b.world, &b.clients).await?;
    let recorder = match (&b.opts.perf, perf) {
        (Some(out), true) => Some(PerfRecord::start(
            b.world.gateway.pid(),
            out,
            &b.world.dir.join("perf.log"),
        )?),
        _ => None,
    };
    sleep_until_us(t1).await;
    let s1 = sample(&b.world, &b.clients).await?;
    if let Some(r) = recorder {
        r.stop()?;
    }
    let (publisher, per_room) = publishing.await??;
    b.publisher = Some(publisher);
    drain(&b.world).await?;
    let end = b.world.gateway.metrics().await?;
    let received = collect_reports(&mut b.clients).await?;
    let expected: u64 = b
        .connected
        .subs
        .iter()
        .zip(&per_room)
        .map(|(s, p)| s * p)
        .sum();
    let d = |name: &str| s1.m.sum(name) - s0.m.sum(name);
    Ok(Round {
        label: label.to_owned(),
        rate,
        seconds: (t1 - t0) as f64 / 1e6,
        published: per_room.iter().sum(),
        expected,
        gw_cpu: ticks_to_secs(s1.gateway - s0.gateway),
        nats_cpu: ticks_to_secs(s1.nats - s0.nats),
        clients_cpu: ticks_to_secs(s1.clients - s0.clients),
        frames: d(FRAMES),
        writes: d(WRITES),
        coalesced: d(COALESCED),
        dropped: end.sum(DROPPED) - s0.m.sum(DROPPED),
        closed_slow: end.sum(CLOSED_SLOW) - s0.m.sum(CLOSED_SLOW),
        gw_connections: end.sum(CONNECTIONS),
        gw_rss: rss_kib(b.world.gateway.pid()),
        received,
    })
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: figures of a window
// ---------------------------------------------------------------------------------------------

struct Round {
    label: String,
    rate: f64,
    seconds: f64,
    published: u64,
    expected: u64,
    gw_cpu: f64,
    nats_cpu: f64,
    clients_cpu: f64,
    frames: f64,
    writes: f64,
    coalesced: f64,
    dropped: f64,
    closed_slow: f64,
    gw_connections: f64,
    gw_rss: u64,
    received: Received,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.received.delivered as f64 / self.expected.max(1) as f64
    }

    fn latency(&self) -> Histogram<u64> {
        let mut h = self.received.lat_summary.clone();
        h.add(&self.received.lat_danmaku)
            .expect("histograms of the same bounds add");
        h
    }

    /// Why the window does not count as keeping up, if it does not.
    fn shortfall(&self) -> Option<String> {
        let target = self.rate * self.seconds;
        let mut why = Vec::new();
        if self.ratio() < 0.99 {
            why.push(format!("delivered {:.1} %", self.ratio() * 100.0));
        }
        if self.dropped > 0.0 || self.received.lags > 0 {
            why.push(format!("{} dropped", self.dropped));
        }
        if self.received.closed > 0 || self.closed_slow > 0.0 {
            why.push(format!("{} connections closed", self.received.closed));
        }
        if (self.published as f64) < 0.95 * target {
            why.push(format!(
                "published only {:.0} of {target:.0}",
                self.published
            ));
        }
        (!why.is_empty()).then(|| why.join(", "))
    }

    fn json(&self) -> serde_json::Value {
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let lat = |h: &Histogram<u64>| {
            serde_json::json!({"n": h.len(), "p50_ms": ms(h, 0.5), "p99_ms": ms(h, 0.99),
                "max_ms": h.max() as f64 / 1000.0})
        };
        let r = &self.received;
        serde_json::json!({
            "label": self.label, "rate": self.rate, "seconds": self.seconds,
            "published": self.published, "expected": self.expected, "delivered": r.delivered,
            "ratio": self.ratio(), "outside_window": r.outside, "dropped": self.dropped,
            "lags": r.lags, "lag_dropped": r.lag_dropped, "closed": r.closed, "held": r.held,
            "gateway_connections": self.gw_connections, "gateway_rss_kib": self.gw_rss,
            "gateway_cpu_s": self.gw_cpu, "nats_cpu_s": self.nats_cpu,
            "clients_cpu_s": self.clients_cpu,
            "delivered_per_gateway_cpu_s": r.delivered as f64 / self.gw_cpu,
            "frames": self.frames, "writes": self.writes, "coalesced_writes": self.coalesced,
            "frames_per_write": self.frames / self.writes.max(1.0),
            "frames_per_gateway_cpu_s": self.frames / self.gw_cpu,
            "latency": lat(&self.latency()), "latency_1s": lat(&r.lat_summary),
            "latency_danmaku": lat(&r.lat_danmaku), "shortfall": self.shortfall(),
        })
    }
}

fn print_header() {
    println!(
        "\n| window | rate/s | published | expected | delivered | dropped | gw CPU | msgs per gw CPU-s | frames/write | coalesced writes | nats CPU | clients CPU | p50 ms | p99 ms | max ms | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn print_row(r: &Round) {
    let pct = |cpu: f64| format!("{:.0} %", cpu / r.seconds * 100.0);
    let h = r.latency();
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "| {} | {:.0} | {} | {} | {} ({:.2} %) | {} | {} | {:.0} | {:.2} | {:.0} % | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
        r.label,
        r.rate,
        r.published,
        r.expected,
        r.received.delivered,
        r.ratio() * 100.0,
        r.dropped,
        pct(r.gw_cpu),
        r.received.delivered as f64 / r.gw_cpu,
        r.frames / r.writes.max(1.0),
        r.coalesced / r.writes.max(1.0) * 100.0,
        pct(r.nats_cpu),
        pct(r.clients_cpu),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        r.shortfall().unwrap_or_else(|| "kept up".into()),
    );
}

// ---------------------------------------------------------------------------------------------
// Orchestrator: modes
// ---------------------------------------------------------------------------------------------

async fn orchestrate(opts: Opts) -> Result<(), Error> {
    let world = start_world(&opts).await?;
    let (clients, connected) = connect_clients(&opts, &world).await?;
    print_connected(&connected);
    let publisher = Publisher::new(world.js.clone(), opts.rooms);
    let mut b = Bench {
        opts,
        world,
        clients,
        connected,
        publisher: Some(publisher),
    };
    let rounds = match b.opts.mode {
        Mode::Sweep => sweep(&mut b).await?,
        _ => {
            print_header();
            let rate = b.opts.rate;
            let r = measure(&mut b, "run", rate, true).await?;
            print_row(&r);
            vec![r]
        }
    };
    print_summary(&b, &rounds);
    std::fs::write(b.world.dir.join("nats.log"), b.world.nats.log())?;
    for c in b.clients {
        c.finish().await;
    }
    Ok(())
}

/// Rising steps, bisection, then the saturating rate and half of it.
async fn sweep(b: &mut Bench) -> Result<Vec<Round>, Error> {
    print_header();
    let mut rounds = Vec::new();
    let (mut pass, mut fail): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = b.opts.rate;
    for i in 0..b.opts.max_steps {
        let r = measure(b, &format!("step {}", i + 1), rate, false).await?;
        print_row(&r);
        let ok = r.shortfall().is_none();
        rounds.push(r);
        if !ok {
            fail = Some(rate);
            break;
        }
        pass = Some(rate);
        rate *= b.opts.step;
    }
    for i in 0..b.opts.refine {
        let (Some(lo), Some(hi)) = (pass, fail) else {
            break;
        };
        let mid = (lo * hi).sqrt();
        let r = measure(b, &format!("bisect {}", i + 1), mid, false).await?;
        print_row(&r);
        if r.shortfall().is_none() {
            pass = Some(mid);
        } else {
            fail = Some(mid);
        }
        rounds.push(r);
    }
    let sat = pass.ok_or("even the first rate fell short: lower --rate")?;
    println!("saturating rate: {sat:.0} messages/s published (first short: {fail:?})");
    let r = measure(b, "saturation", sat, false).await?;
    print_row(&r);
    rounds.push(r);
    if b.opts.perf.is_some() {
        // Apart from the figures above: perf's sampling costs the gateway CPU of its own.
        let r = measure(b, "saturation, under perf", sat, true).await?;
        print_row(&r);
        rounds.push(r);
    }
    let r = measure(b, "half", sat / 2.0, false).await?;
    print_row(&r);
    rounds.push(r);
    Ok(rounds)
}

fn print_summary(b: &Bench, rounds: &[Round]) {
    let c = &b.connected;
    if let Some(out) = &b.opts.perf {
        println!(
            "\nperf data: {} (perf report -i {} --no-children --percent-limit 2 --stdio | head -60)",
            out.display(),
            out.display()
        );
    }
    let summary = serde_json::json!({
        "machine": {"cores": MACHINE_CORES.get().copied().unwrap_or_else(cores), "cpu": cpu_model()},
        "pin": b.opts.pin.as_ref().map(|p| format!("{}:{}", p.gateway, p.load)),
        "connections": b.opts.connections, "rooms": b.opts.rooms,
        "rooms_per_client": b.opts.per_client(), "client_procs": b.clients.len(),
        "queue": b.opts.queue, "gateway_args": b.opts.gateway_args, "held": c.held, "failed": c.failed, "connect_s": c.secs,
        "gateway_rss_before_kib": c.rss_before, "gateway_rss_after_kib": c.rss_after,
        "gateway_rss_per_connection_kib": c.per_connection_kib(),
        "gateway_fds": c.fds_after, "clients_rss_kib": c.clients_rss,
        "rounds": rounds.iter().map(Round::json).collect::<Vec<_>>(),
    });
    println!("\n{summary}");
}

// ---------------------------------------------------------------------------------------------
// Client mode: one process holding its share of the connections
// ---------------------------------------------------------------------------------------------

/// What a client connection needs to know.
struct ClientCfg {
    gateway: SocketAddr,
    source: Ipv4Addr,
    rooms: usize,
    per_client: usize,
    per_request: usize,
    read_buffer: usize,
}

/// The process's counters, shared by its connections (one thread: never contended).
struct Stats {
    /// Publish times counted, µs: `[t0, t1)`.
    window: (i64, i64),
    open: u64,
    closed: u64,
    summaries: u64,
    danmaku: u64,
    outside: u64,
    lags: u64,
    lag_dropped: u64,
    lat_summary: Histogram<u64>,
    lat_danmaku: Histogram<u64>,
}

fn lock(stats: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy)]
enum Chan {
    Summary,
    Danmaku,
}

/// Searchers for the markers `stamp_of` looks for, built once per process: the client reads
/// hundreds of thousands of frames a second, and a fresh substring search for each marker in
/// each frame was 9 % of its CPU (`str::find`).
struct Markers {
    channel: memmem::Finder<'static>,
    summary: memmem::Finder<'static>,
    danmaku: memmem::Finder<'static>,
}

static MARKERS: LazyLock<Markers> = LazyLock::new(|| Markers {
    channel: memmem::Finder::new(CHANNEL_MARKER),
    summary: memmem::Finder::new(SUMMARY_STAMP),
    danmaku: memmem::Finder::new(DANMAKU_STAMP),
});

/// What precedes a `message` frame's channel name.
const CHANNEL_MARKER: &str = r#""channel":""#;

/// A `message` frame's channel and the publish time it carries (µs).
fn stamp_of(text: &str) -> Option<(Chan, i64)> {
    let markers = &*MARKERS;
    let bytes = text.as_bytes();
    let at = markers.channel.find(bytes)? + CHANNEL_MARKER.len();
    let rest = bytes.get(at..)?;
    let (chan, finder, marker) = if rest.starts_with(b"1s\"") {
        (Chan::Summary, &markers.summary, SUMMARY_STAMP)
    } else if rest.starts_with(b"danmaku\"") {
        (Chan::Danmaku, &markers.danmaku, DANMAKU_STAMP)
    } else {
        return None;
    };
    let from = finder.find(bytes)? + marker.len();
    let digits = bytes[from..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    text[from..from + digits]
        .parse()
        .ok()
        .map(|stamp| (chan, stamp))
}

/// The `dropped` count of a `lag` frame.
fn lag_dropped(text: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    v["dropped"].as_u64().unwrap_or(0)
}

impl Stats {
    fn new() -> Stats {
        Stats {
            window: (i64::MIN, i64::MIN),
            open: 0,
            closed: 0,
            summaries: 0,
            danmaku: 0,
            outside: 0,
            lags: 0,
            lag_dropped: 0,
            lat_summary: histogram(),
            lat_danmaku: histogram(),
        }
    }

    /// One text frame received at `now` (µs).
    fn on_text(&mut self, text: &str, now: i64) {
        if text.starts_with(r#"{"type":"message""#) {
            let Some((chan, stamp)) = stamp_of(text) else {
                return;
            };
            if stamp < self.window.0 || stamp >= self.window.1 {
                self.outside += 1;
                return;
            }
            let latency = now.saturating_sub(stamp).max(0).unsigned_abs();
            let (count, hist) = match chan {
                Chan::Summary => (&mut self.summaries, &mut self.lat_summary),
                Chan::Danmaku => (&mut self.danmaku, &mut self.lat_danmaku),
            };
            *count += 1;
            hist.saturating_record(latency);
        } else if text.starts_with(r#"{"type":"lag""#) {
            self.lags += 1;
            self.lag_dropped += lag_dropped(text);
        }
    }

    /// The report since the last one; counters and histograms start again.
    fn report(&mut self) -> Report {
        let r = Report {
            held: self.open,
            closed: self.closed,
            summaries: std::mem::take(&mut self.summaries),
            danmaku: std::mem::take(&mut self.danmaku),
            outside: std::mem::take(&mut self.outside),
            lags: std::mem::take(&mut self.lags),
            lag_dropped: std::mem::take(&mut self.lag_dropped),
            lat_summary: to_pairs(&self.lat_summary),
            lat_danmaku: to_pairs(&self.lat_danmaku),
        };
        self.lat_summary.reset();
        self.lat_danmaku.reset();
        r
    }
}

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket connection to the gateway from the process's source address.
async fn open(cfg: &ClientCfg) -> Result<Ws, Error> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((cfg.source, 0)))?;
    let tcp = socket.connect(cfg.gateway).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(cfg.read_buffer)
        .write_buffer_size(0);
    let url = format!("ws://{}/ws", cfg.gateway);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    Ok(ws)
}

/// Subscribes to `1s` and `danmaku` of `rooms`, `per_request` rooms per request, each
/// request's history frames awaited before the next.
async fn subscribe(ws: &mut Ws, rooms: &[usize], per_request: usize) -> Result<(), Error> {
    for chunk in rooms.chunks(per_request.max(1)) {
        let ids: Vec<u64> = chunk.iter().map(|&r| ROOM_BASE + r as u64).collect();
        let req = serde_json::json!({"op": "subscribe", "rooms": ids,
            "channels": ["1s", "danmaku"], "history": false});
        ws.send(Message::text(req.to_string())).await?;
        let mut done = 0;
        while done < 2 * chunk.len() {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let t = t.as_str();
                    if t.starts_with(r#"{"type":"history""#) && t.ends_with(r#""done":true}"#) {
                        done += 1;
                    } else if t.starts_with(r#"{"type":"error""#) {
                        return Err(t.to_owned().into());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err("closed while subscribing".into()),
            }
        }
    }
    Ok(())
}

/// One connection: open and subscribe (at most `connect_concurrency` at once), report, then
/// count every frame until the connection ends.
async fn connection(
    cfg: Arc<ClientCfg>,
    g: usize,
    stats: Arc<Mutex<Stats>>,
    done: mpsc::UnboundedSender<(usize, Result<(), String>)>,
    opening: Arc<Semaphore>,
) {
    let rooms: Vec<usize> = rooms_of(g, cfg.rooms, cfg.per_client).collect();
    let permit = opening.acquire_owned().await;
    let opened = tokio::time::timeout(Duration::from_secs(300), async {
        let mut ws = open(&cfg).await?;
        subscribe(&mut ws, &rooms, cfg.per_request).await?;
        Ok::<_, Error>(ws)
    })
    .await;
    drop(permit);
    let (mut ws, result) = match opened {
        Ok(Ok(ws)) => (Some(ws), Ok(())),
        Ok(Err(e)) => (None, Err(e.to_string())),
        Err(_) => (None, Err("no answer within 300 s".into())),
    };
    if ws.is_some() {
        lock(&stats).open += 1;
    }
    let _ = done.send((g, result));
    drop(done);
    let Some(ws) = ws.as_mut() else {
        return;
    };
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Text(t)) => lock(&stats).on_text(t.as_str(), now_us()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let mut s = lock(&stats);
    s.open -= 1;
    s.closed += 1;
}

async fn client_main(opts: Opts) -> Result<(), Error> {
    let started = Instant::now();
    let cfg = Arc::new(ClientCfg {
        gateway: opts.gateway.ok_or("client mode needs --gateway")?,
        source: opts.source.unwrap_or(Ipv4Addr::LOCALHOST),
        rooms: opts.rooms,
        per_client: opts.per_client(),
        per_request: opts.subscribe_rooms.unwrap_or(opts.rooms),
        read_buffer: opts.client_read_buffer,
    });
    let stats = Arc::new(Mutex::new(Stats::new()));
    let opening = Arc::new(Semaphore::new(opts.connect_concurrency.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    for g in opts.first..opts.first + opts.connections {
        let task = connection(cfg.clone(), g, stats.clone(), tx.clone(), opening.clone());
        tokio::spawn(task);
    }
    drop(tx);
    let mut ready = Ready {
        subs: vec![0; opts.rooms],
        ..Ready::default()
    };
    for _ in 0..opts.connections {
        let Some((g, result)) = rx.recv().await else {
            break;
        };
        match result {
            Ok(()) => {
                ready.held += 1;
                rooms_of(g, cfg.rooms, cfg.per_client).for_each(|r| ready.subs[r] += 1);
            }
            Err(e) => {
                ready.failed += 1;
                if ready.errors.len() < 5 {
                    ready.errors.push(e);
                }
            }
        }
    }
    ready.secs = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&ready)?);
    commands(&stats).await
}

/// Follows the orchestrator's commands on stdin until it closes it.
async fn commands(stats: &Mutex<Stats>) -> Result<(), Error> {
    // Stdin read on a thread of its own (tokio's stdin is behind a feature the workspace
    // does not enable).
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    while let Some(line) = lines.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["window", t0, t1] => lock(stats).window = (t0.parse()?, t1.parse()?),
            ["report"] => {
                let report = lock(stats).report();
                println!("{}", serde_json::to_string(&report)?);
            }
            _ => return Err(format!("unknown command {line:?}").into()),
        }
    }
    Ok(())
}
