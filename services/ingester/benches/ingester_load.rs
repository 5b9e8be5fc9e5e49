//! Load test of one `bilipulse-ingester` process, with the simulator and nats-server as
//! processes of their own so each one's CPU and memory can be read from `/proc`. Prints figures;
//! asserts nothing (targets are recorded in docs/benchmarks.md, not enforced here).
//!
//! ```text
//! cargo build --release -p bilipulse-sim
//! cargo bench -p bilipulse-ingester --bench ingester_load -- rooms 10000 [SETTLE_SECS]
//! cargo bench -p bilipulse-ingester --bench ingester_load -- throughput 40 500 20
//! ```
//!
//! * `rooms N`: N idle simulated rooms (no traffic beyond the periodic audience counters);
//!   resident memory of the ingester before any room and once all N are connected, per room.
//! * `throughput ROOMS RATE SECS`: ROOMS rooms of RATE commands/s each; after a warm-up, the
//!   events and raw bodies per second that reach JetStream over SECS seconds, the rate the
//!   simulator generated, and the CPU each of the three processes used.
//!
//! The simulator binary is taken from `BILIPULSE_SIM_BIN`, else from next to the ingester
//! binary (build it in the same profile), nats-server from the pinned tools.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bilipulse_proto::{RoomConfig, SCHEMA_VERSION, streams};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

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
        Some("throughput") => rt.block_on(throughput(
            num(1, 40.0) as usize,
            num(2, 500.0),
            num(3, 20.0),
        )),
        _ => {
            rt.block_on(rooms(10_000, 20.0))?;
            rt.block_on(throughput(40, 500.0, 20.0))
        }
    }
}

/// Memory per idle connected room.
async fn rooms(n: usize, settle: f64) -> Result<(), Error> {
    println!("== rooms: {n} idle rooms in one ingester");
    let dir = tempfile::tempdir()?;
    let nats = Proc::nats(dir.path())?;
    let sim = Proc::sim(&[
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
    let ing = Proc::ingester(
        &nats.url(),
        sim.addr,
        &[("--max-rooms", &(2 * n).to_string())],
    )?;
    let js = bus(&nats.url()).await?;
    wait_ready(ing.addr).await?;
    // Let start-up allocations settle before the baseline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(ing.pid());
    let t0 = Instant::now();
    add_rooms(&js, &ids).await?;
    let connected = loop {
        let m = metrics(ing.addr).await?;
        let c = m
            .get(r#"bilipulse_ingester_connections{state="Connected"}"#)
            .copied()
            .unwrap_or(0.0) as usize;
        if c >= ids.len() {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(900) {
            return Err(format!("only {c} of {} rooms connected after 15 min", ids.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
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
    let m = metrics(ing.addr).await?;
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
        m.get("bilipulse_ingester_commands_total")
            .copied()
            .unwrap_or(0.0),
        rss_kib(sim.pid()),
        rss_kib(nats.pid())
    );
    Ok(())
}

/// Sustained events per second into JetStream, and who spends the CPU.
async fn throughput(rooms: usize, rate: f64, secs: f64) -> Result<(), Error> {
    println!("== throughput: {rooms} rooms × {rate} commands/s for {secs} s");
    let dir = tempfile::tempdir()?;
    let nats = Proc::nats(dir.path())?;
    let ids: Vec<u64> = (0..rooms as u64).map(|i| 1_000_001 + i).collect();
    let spec: Vec<String> = ids.iter().map(|r| format!("{r}:busy:{rate}")).collect();
    let sim = Proc::sim(&[
        "--rooms",
        &spec.join(","),
        "--truth-capacity",
        "0",
        "--start-paused",
    ])?;
    let ing = Proc::ingester(&nats.url(), sim.addr, &[])?;
    let js = bus(&nats.url()).await?;
    wait_ready(ing.addr).await?;
    add_rooms(&js, &ids).await?;
    let t0 = Instant::now();
    while (metrics(ing.addr)
        .await?
        .get(r#"bilipulse_ingester_connections{state="Connected"}"#)
        .copied()
        .unwrap_or(0.0) as usize)
        < rooms
    {
        if t0.elapsed() > Duration::from_secs(120) {
            return Err("rooms did not connect".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    http(sim.addr, "POST", "/admin/traffic", r#"{"paused":false}"#).await?;
    // Warm-up: buffers, JetStream file blocks, allocator.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let procs = [
        ("ingester", ing.pid()),
        ("simulator", sim.pid()),
        ("nats-server", nats.pid()),
    ];
    let cpu0: Vec<u64> = procs.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let (ev0, raw0, cmd0, m0) = (
        last_seq(&js, streams::EVENTS.name).await?,
        last_seq(&js, streams::RAW.name).await?,
        sim_commands(sim.addr).await?,
        metrics(ing.addr).await?,
    );
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let el = t.elapsed();
    let (ev1, raw1, cmd1, m1) = (
        last_seq(&js, streams::EVENTS.name).await?,
        last_seq(&js, streams::RAW.name).await?,
        sim_commands(sim.addr).await?,
        metrics(ing.addr).await?,
    );
    let cpu1: Vec<u64> = procs.iter().map(|(_, p)| cpu_ticks(*p)).collect();

    let per_s = |a: u64, b: u64| (b - a) as f64 / el.as_secs_f64();
    let delta = |k: &str| m1.get(k).copied().unwrap_or(0.0) - m0.get(k).copied().unwrap_or(0.0);
    println!("simulator generated: {:.0} commands/s", per_s(cmd0, cmd1));
    println!(
        "ingester received:   {:.0} commands/s",
        delta("bilipulse_ingester_commands_total") / el.as_secs_f64()
    );
    println!("BILI_EVENTS:         {:.0} events/s", per_s(ev0, ev1));
    println!("BILI_RAW:            {:.0} bodies/s", per_s(raw0, raw1));
    println!(
        "JetStream total:     {:.0} messages/s (events + raw; status is a few per second)",
        per_s(ev0, ev1) + per_s(raw0, raw1)
    );
    let buffered = m1
        .get("bilipulse_ingester_buffer_messages")
        .copied()
        .unwrap_or(0.0);
    let dropped: f64 = m1
        .iter()
        .filter(|(k, _)| k.starts_with("bilipulse_ingester_dropped_total"))
        .map(|(_, v)| v)
        .sum::<f64>()
        + 0.0;
    println!(
        "ingester backlog at the end: {buffered} messages; dropped: {dropped}; reconnects to the simulator: {}",
        delta("bilipulse_ingester_reconnects_total")
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

/// A child process, killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    fn nats(dir: &Path) -> Result<Proc, Error> {
        let bin = bilipulse_testkit::tools::nats_server()
            .ok_or("nats-server is not installed (deploy/install-tools.sh)")?;
        let port = bilipulse_testkit::nats::free_port();
        let conf = dir.join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\n",
                dir.join("store").display().to_string()
            ),
        )?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let t0 = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if t0.elapsed() > Duration::from_secs(20) {
                return Err("nats-server did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Proc { child, addr })
    }

    fn sim(args: &[&str]) -> Result<Proc, Error> {
        let bin = match std::env::var_os("BILIPULSE_SIM_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                Path::new(env!("CARGO_BIN_EXE_bilipulse-ingester")).with_file_name("bilipulse-sim")
            }
        };
        if !bin.is_file() {
            return Err(format!(
                "{} missing: cargo build --release -p bilipulse-sim",
                bin.display()
            )
            .into());
        }
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--heartbeat-timeout-ms",
                "120000",
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        // The first line is the base URL; keep draining stdout so the simulator never blocks.
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let first = loop {
            let line = lines.next().ok_or("simulator printed no URL")??;
            if line.starts_with("http://") {
                break line;
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let url = url::Url::parse(first.trim())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], url.port().ok_or("no port")?));
        Ok(Proc { child, addr })
    }

    fn ingester(nats: &str, sim: SocketAddr, extra: &[(&str, &str)]) -> Result<Proc, Error> {
        let admin = SocketAddr::from(([127, 0, 0, 1], bilipulse_testkit::nats::free_port()));
        let base = format!("http://{sim}/");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bilipulse-ingester"));
        cmd.args([
            "--id",
            "load-0",
            "--nats-url",
            nats,
            "--admin-addr",
            &admin.to_string(),
            "--log",
            "warn",
        ])
        .args([
            "--bili-api-base",
            &base,
            "--bili-live-base",
            &base,
            "--bili-ws-scheme",
            "ws",
            "--bili-http-interval",
            "1ms",
        ]);
        for (k, v) in extra {
            cmd.args([k, v]);
        }
        let child = cmd
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Proc { child, addr: admin })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn bus(url: &str) -> Result<jetstream::Context, Error> {
    let client = async_nats::connect(url).await?;
    Ok(jetstream::new(client))
}

async fn add_rooms(js: &jetstream::Context, ids: &[u64]) -> Result<(), Error> {
    let kv = loop {
        // The ingester creates the bucket at start-up.
        match js.get_key_value(streams::ROOMS.bucket).await {
            Ok(kv) => break kv,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
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

async fn wait_ready(admin: SocketAddr) -> Result<(), Error> {
    let t0 = Instant::now();
    while http(admin, "GET", "/readyz", "").await.is_err() {
        if t0.elapsed() > Duration::from_secs(30) {
            return Err("ingester not ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn sim_rooms(sim: SocketAddr) -> Result<Vec<u64>, Error> {
    let v: serde_json::Value = serde_json::from_str(&http(sim, "GET", "/admin/rooms", "").await?)?;
    Ok(v["rooms"]
        .as_array()
        .ok_or("no rooms")?
        .iter()
        .filter_map(|r| r["room"].as_u64())
        .collect())
}

async fn sim_commands(sim: SocketAddr) -> Result<u64, Error> {
    let v: serde_json::Value =
        serde_json::from_str(&http(sim, "GET", "/admin/truth/summary", "").await?)?;
    v["commands"]
        .as_u64()
        .ok_or_else(|| "no command count".into())
}

async fn metrics(admin: SocketAddr) -> Result<BTreeMap<String, f64>, Error> {
    let text = http(admin, "GET", "/metrics", "").await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect())
}

/// A minimal HTTP/1.0 request on 127.0.0.1; the body of a 200.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<String, Error> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("{method} {path}: {}", head.lines().next().unwrap_or("")).into());
    }
    Ok(body.to_owned())
}

/// Resident set size, KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // `rest` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

fn cpu_percent(ticks: u64, over: Duration) -> f64 {
    // USER_HZ is 100 on Linux for every architecture we run on.
    ticks as f64 / 100.0 / over.as_secs_f64() * 100.0
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
