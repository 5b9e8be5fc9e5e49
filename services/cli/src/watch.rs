//! `bilipulse watch ROOM...`: connect to rooms directly, without NATS.
//!
//! The quick check ("is this room working?") and the way to compare our decoding speed with
//! other Bilibili clients on the same feed: `--count` prints nothing per event and, at exit, one
//! JSON line with the number of commands received, the events by kind and the CPU time used.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bilipulse_bilibili::client::{self, ClientConfig, ClientEvent, ConnectionState, Source};
use bilipulse_bilibili::commands::{self, RecentIds};
use bilipulse_bilibili::config::BilibiliArgs;
use futures::StreamExt as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Flags of `bilipulse watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Rooms to watch: short or real ids (with --url, the real id).
    #[arg(required = true, value_name = "ROOM")]
    pub rooms: Vec<u64>,

    /// Connect straight to this WebSocket endpoint (e.g. ws://127.0.0.1:9400/sub), skipping
    /// the HTTP resolution.
    #[arg(long, value_name = "URL")]
    pub url: Option<url::Url>,

    /// Auth key (token) to send with --url.
    #[arg(long, requires = "url")]
    pub token: Option<String>,

    /// buvid3 to send with --url.
    #[arg(long, requires = "url")]
    pub buvid: Option<String>,

    /// Count instead of printing: at exit print one JSON line
    /// {"messages", "by_kind", "cpu_s", "wall_s"}.
    #[arg(long)]
    pub count: bool,

    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,

    /// Stop once this many commands have arrived (over all connections): with a feed of known
    /// length, the CPU time is then that of exactly these commands.
    #[arg(long, value_name = "N")]
    pub messages: Option<u64>,

    /// Connections per room (each counted separately), to load a decoder with one feed.
    #[arg(long, default_value_t = 1, value_name = "C")]
    pub conns: usize,

    /// How to reach Bilibili when resolving.
    #[command(flatten)]
    pub bilibili: BilibiliArgs,
}

/// The `--count` report.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct CountReport {
    /// Commands received, over all connections.
    pub messages: u64,
    /// Events normalised, by kind (after dropping Bilibili's own repeats per connection).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Process CPU time, seconds.
    pub cpu_s: f64,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// Runs `watch` until the time is up (`--seconds`, `--messages`) or Ctrl-C.
pub async fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let report = watch(
        &args,
        cancel,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
    .await?;
    if args.count {
        writeln!(std::io::stdout(), "{}", serde_json::to_string(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Watches until `cancel` fires, `--seconds` have passed or `--messages` commands have come;
/// prints events to `out` (unless counting) and connection states to `err`; returns the counts.
pub async fn watch(
    args: &WatchArgs,
    cancel: CancellationToken,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<CountReport> {
    let started = Instant::now();
    let cpu = cpu_time::ProcessTime::try_now().ok();
    // Timed from `started`, the instant `wall_s` is measured from, so that a run of `--seconds S`
    // reports at least S (a timer started elsewhere, earlier, made it 7.99 s once). A time too
    // long to represent means no limit.
    let until = args.seconds.and_then(|s| {
        let d = Duration::try_from_secs_f64(s.max(0.0)).ok()?;
        tokio::time::Instant::from_std(started).checked_add(d)
    });
    if let Some(at) = until {
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            stop.cancel();
        });
    }
    // Every connection's events, read straight from its client's channel (no forwarding task:
    // that would be a second channel hop per command).
    let mut feeds = Vec::new();
    let resolver = match &args.url {
        Some(_) => None,
        None => Some(args.bilibili.resolver()?),
    };
    let mut tasks = Vec::new();
    for &room in &args.rooms {
        for conn in 0..args.conns.max(1) {
            let cfg = match (&args.url, &resolver) {
                (Some(url), _) => {
                    let mut c = ClientConfig::new(
                        room,
                        Source::Direct {
                            url: url.clone(),
                            token: args.token.clone(),
                            buvid: args.buvid.clone(),
                        },
                    );
                    if let Some(ua) = &args.bilibili.user_agent {
                        c.user_agent = ua.clone();
                    }
                    c
                }
                (None, Some(r)) => args.bilibili.client(room, r),
                (None, None) => unreachable!("a resolver exists whenever --url is absent"),
            };
            let (events, task) = client::spawn(cfg, cancel.clone());
            tasks.push(task);
            feeds.push(Box::pin(futures::stream::unfold(
                events,
                move |mut rx| async move { rx.recv().await.map(|ev| ((room, conn, ev), rx)) },
            )));
        }
    }
    let mut feeds = futures::stream::select_all(feeds);

    let mut tally = Tally {
        print: !args.count,
        limit: args.messages.unwrap_or(u64::MAX),
        report: CountReport::default(),
        recent: BTreeMap::new(),
    };
    while let Some((room, conn, ev)) = feeds.next().await {
        match ev {
            ClientEvent::Commands(batch) => {
                for body in &batch.bodies {
                    if tally.full() {
                        break;
                    }
                    tally.command(room, conn, body, batch.recv_ms, out, err)?;
                }
            }
            ClientEvent::State(s) => {
                if let Some(line) = describe(&s) {
                    let _ = writeln!(err, "room {room}: {line}");
                }
            }
            ClientEvent::Popularity(_) => {}
        }
        if tally.full() {
            cancel.cancel();
            break;
        }
    }
    drop(feeds);
    for t in tasks {
        let _ = t.await;
    }
    let mut report = tally.report;
    report.wall_s = started.elapsed().as_secs_f64();
    report.cpu_s = cpu.map(|c| c.elapsed().as_secs_f64()).unwrap_or(0.0);
    Ok(report)
}

/// What the watch loop has counted so far.
struct Tally {
    /// Print every event as a JSON line (not `--count`).
    print: bool,
    /// `--messages`: stop after this many commands.
    limit: u64,
    report: CountReport,
    /// Per connection (room, connection index), the recent event ids, for Bilibili's repeats.
    recent: BTreeMap<(u64, usize), RecentIds>,
}

impl Tally {
    /// Whether `--messages` commands have been counted.
    fn full(&self) -> bool {
        self.report.messages >= self.limit
    }

    /// Counts one command body: normalises it, drops Bilibili's own repeats on that connection,
    /// and counts (or prints) the events. A body that is not a command is reported on `err` and
    /// still counted as a command.
    fn command(
        &mut self,
        room: u64,
        conn: usize,
        body: &[u8],
        recv_ms: i64,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> anyhow::Result<()> {
        self.report.messages += 1;
        let events = match commands::normalize(room, body, recv_ms, "watch") {
            Ok(e) => e,
            Err(e) => {
                let _ = writeln!(err, "room {room}: {e}");
                return Ok(());
            }
        };
        let seen = self
            .recent
            .entry((room, conn))
            .or_insert_with(|| RecentIds::new(8192));
        for ev in events {
            if !seen.first_seen(&ev.id) {
                continue;
            }
            *self.report.by_kind.entry(ev.kind().as_str()).or_default() += 1;
            if self.print {
                writeln!(out, "{}", serde_json::to_string(&ev)?)?;
            }
        }
        Ok(())
    }
}

fn describe(s: &ConnectionState) -> Option<String> {
    Some(match s {
        ConnectionState::Resolving => "resolving".into(),
        ConnectionState::Connecting { host, attempt } => {
            format!("connecting to {host} (attempt {})", attempt + 1)
        }
        ConnectionState::Authenticated { host } => format!("connected to {host}"),
        ConnectionState::Masked { reason } => {
            format!("identities masked by Bilibili ({reason:?}); log in for real names")
        }
        ConnectionState::Disconnected { reason, retry_in } => {
            format!("disconnected ({reason}); retrying in {retry_in:?}")
        }
        ConnectionState::ResolveFailed {
            error, retry_in, ..
        } => {
            format!("resolve failed ({error}); retrying in {retry_in:?}")
        }
        ConnectionState::Stopped => return None,
    })
}
