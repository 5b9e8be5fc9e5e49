//! Load mode: recorded commands sent as fast as a client reads them.
//!
//! The generated traffic renders and compresses every command anew, which costs the simulator
//! about as much CPU as the client it feeds; a decoder benchmark would then measure the
//! simulator. Here the frames are packed and compressed once, at start, from real command bodies
//! (the Bilibili fixtures), in each of the three encodings, and a connection is only written.
//! The same frames go to every connection, so the commands repeat: this feeds decoders, not the
//! pipeline's exactly-once checks (their ids repeat too), unless `--replay-fresh N` asks for N
//! distinct frames whose bodies carry fresh ids and times ([`restamp`]): still prepared once, so
//! a connection still costs only its writes.

mod restamp;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use bilipulse_bilibili::wire::{self, op};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::batch::{Encoding, Packer};
use crate::config::ReplayConfig;
use crate::error::SimError;

/// Where the recorded bodies are, under the fixtures directory.
const RECORDINGS: [&str; 2] = ["messages", "messages-sanitized"];
/// Danmaku dominate a live room's commands; the mix weights them like the normaliser's
/// benchmark (`services/bilibili/benches/commands.rs`) does.
const DANMAKU_WEIGHT: usize = 8;
/// Frames fed to the socket between two flushes when flooding.
const FLUSH_EVERY: u64 = 16;

/// The frames every load-mode connection is sent, prepared once.
#[derive(Debug)]
pub(crate) struct ReplayFeed {
    /// Per encoding (plain, zlib, brotli), the frames in the order they are sent, cyclically.
    frames: [Arc<[Bytes]>; 3],
    /// The flags it was loaded with; `per_frame` at least 1.
    config: ReplayConfig,
}

impl ReplayFeed {
    /// Reads the recordings under `config.dir` and packs them; `None` when load mode is off.
    pub fn load(
        config: &ReplayConfig,
        packer: &Packer,
        seed: u64,
    ) -> Result<Option<ReplayFeed>, SimError> {
        let Some(dir) = &config.dir else {
            return Ok(None);
        };
        let t0 = std::time::Instant::now();
        let mut bodies = read_mix(dir)?;
        if bodies.is_empty() {
            return Err(SimError::Config(format!(
                "--replay {}: no command bodies under {}",
                dir.display(),
                RECORDINGS.join(" or ")
            )));
        }
        if !(config.rate.is_finite() && config.rate >= 0.0) {
            return Err(SimError::Config(format!(
                "--replay-rate {} is not a rate",
                config.rate
            )));
        }
        bodies.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5EED_F00D));
        let per_frame = config.per_frame.max(1) as usize;
        let recorded = bodies.len();
        let inner = if config.fresh_frames > 0 {
            fresh_frames(bodies, per_frame, config)
        } else {
            recorded_frames(&bodies, per_frame)
        };
        let frames = [Encoding::Plain, Encoding::Zlib, Encoding::Brotli]
            .map(|enc| compress_all(packer, enc, &inner));
        tracing::info!(
            bodies = recorded,
            frames = inner.len(),
            per_frame,
            brotli_bytes = frames[2].iter().map(Bytes::len).sum::<usize>(),
            prepared_s = t0.elapsed().as_secs_f64(),
            "load mode: recorded commands packed"
        );
        Ok(Some(ReplayFeed {
            frames,
            config: ReplayConfig {
                per_frame: config.per_frame.max(1),
                ..config.clone()
            },
        }))
    }

    fn frames(&self, enc: Encoding) -> &Arc<[Bytes]> {
        &self.frames[match enc {
            Encoding::Plain => 0,
            Encoding::Zlib => 1,
            Encoding::Brotli => 2,
        }]
    }
}

/// Every frame in `enc`, compressed on all cores: a large fresh pool is thousands of frames,
/// each ≈ 10 ms of brotli at quality 6 (the load benches' setting).
fn compress_all(packer: &Packer, enc: Encoding, inner: &[Vec<u8>]) -> Arc<[Bytes]> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = inner.len().div_ceil(cores).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = inner
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|packets| packer.container(enc, packets))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("compressing a frame does not panic"))
            .collect()
    })
}

/// The inner packets of each frame, the bodies as recorded: each body appears `per_frame`
/// times, so the bodies fill a whole number of frames and every one is sent equally often.
fn recorded_frames(bodies: &[Vec<u8>], per_frame: usize) -> Vec<Vec<u8>> {
    bodies
        .iter()
        .cycle()
        .take(bodies.len() * per_frame)
        .collect::<Vec<_>>()
        .chunks(per_frame)
        .map(|chunk| {
            let mut packets = Vec::new();
            for body in chunk {
                Packer::inner_packet(&mut packets, body);
            }
            packets
        })
        .collect()
}

/// The inner packets of `config.fresh_frames` frames of restamped bodies: command `k` (counted
/// over all frames) is body `k mod bodies` with sequence number `k`, timed when its frame is
/// due at `config.rate` frames per second from now (when flooding, `k` ms from now).
fn fresh_frames(bodies: Vec<Vec<u8>>, per_frame: usize, config: &ReplayConfig) -> Vec<Vec<u8>> {
    let templates: Vec<restamp::Template> =
        bodies.into_iter().map(restamp::Template::new).collect();
    let restamped = templates.iter().filter(|t| t.is_restamped()).count();
    let start_ms = u64::try_from(crate::clock::unix_ms()).unwrap_or(0);
    // When flooding there is no schedule: times advance a millisecond per command.
    let frame_ms = if config.rate > 0.0 {
        1000.0 / config.rate
    } else {
        per_frame as f64
    };
    let frames: Vec<Vec<u8>> = (0..config.fresh_frames)
        .map(|f| {
            let due = start_ms + (f as f64 * frame_ms) as u64;
            let mut packets = Vec::new();
            for j in 0..per_frame as u64 {
                let k = f * per_frame as u64 + j;
                let at = if config.rate > 0.0 { due } else { due + j };
                let body = templates[(k % templates.len() as u64) as usize].render(k, at);
                Packer::inner_packet(&mut packets, &body);
            }
            packets
        })
        .collect();
    tracing::info!(
        frames = frames.len(),
        bodies = templates.len(),
        restamped,
        "load mode: fresh ids and times (bodies with neither stay as recorded)"
    );
    frames
}

/// Every body of the mix, danmaku weighted, sorted by path (the shuffle then decides).
fn read_mix(dir: &Path) -> Result<Vec<Vec<u8>>, SimError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in RECORDINGS {
        let root = dir.join(sub);
        if !root.is_dir() {
            continue;
        }
        for cmd in read_dir(&root)? {
            if cmd.is_dir() {
                files.extend(
                    read_dir(&cmd)?
                        .into_iter()
                        .filter(|f| f.extension().is_some_and(|e| e == "json")),
                );
            }
        }
    }
    files.sort();
    let mut bodies = Vec::new();
    for file in files {
        let cmd = file
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let weight = match cmd {
            // It would tell the client that names are masked: a state change, not load.
            "LOG_IN_NOTICE" => 0,
            "DANMU_MSG" => DANMAKU_WEIGHT,
            _ => 1,
        };
        let body = std::fs::read(&file).map_err(|source| SimError::Replay {
            path: file.clone(),
            source,
        })?;
        let body = body.trim_ascii().to_vec();
        bodies.extend(std::iter::repeat_n(body, weight));
    }
    Ok(bodies)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SimError::Replay {
        path: dir.to_owned(),
        source,
    })?;
    entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|source| SimError::Replay {
            path: dir.to_owned(),
            source,
        })
}

/// How a load-mode connection ended.
#[derive(Debug)]
pub(crate) struct ReplayEnd {
    /// Why, in the words of the truth log's close records.
    pub reason: String,
    /// Frames written to the socket.
    pub frames: u64,
    /// Commands in them.
    pub commands: u64,
}

/// Writes the feed to an authenticated connection (in `enc`) until the frame budget is spent
/// and then idles, answering heartbeats throughout, until the client leaves, stops sending
/// heartbeats, or `cancel` fires.
pub(crate) async fn pump(
    socket: WebSocket,
    feed: &ReplayFeed,
    enc: Encoding,
    heartbeat_timeout: Duration,
    cancel: &CancellationToken,
) -> ReplayEnd {
    let (sink, stream) = socket.split();
    // Heartbeat replies, from the reading half to the writing half.
    let (replies, replies_rx) = mpsc::channel::<Bytes>(8);
    let mut frames = 0u64;
    let reason = tokio::select! {
        biased;
        () = cancel.cancelled() => "shutdown".to_owned(),
        reason = read(stream, replies, heartbeat_timeout) => reason,
        reason = write(sink, feed, enc, replies_rx, &mut frames) => reason,
    };
    ReplayEnd {
        reason,
        frames,
        commands: frames * u64::from(feed.config.per_frame),
    }
}

/// The reading half: heartbeats are answered (through `replies`), everything else ignored.
async fn read(
    mut stream: futures::stream::SplitStream<WebSocket>,
    replies: mpsc::Sender<Bytes>,
    heartbeat_timeout: Duration,
) -> String {
    let mut deadline = Instant::now() + heartbeat_timeout;
    loop {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return "heartbeat timeout".to_owned(),
            Ok(m) => m,
        };
        match msg {
            None | Some(Ok(Message::Close(_))) => return "client closed".to_owned(),
            Some(Err(e)) => return format!("socket error: {e}"),
            Some(Ok(Message::Binary(data))) => {
                let Some((h, body)) = crate::ws::client_packet(&data) else {
                    continue;
                };
                if h.op == op::HEARTBEAT {
                    deadline = Instant::now() + heartbeat_timeout;
                    let reply = Bytes::from(wire::encode_heartbeat_reply(1, body));
                    if replies.send(reply).await.is_err() {
                        return "write failed".to_owned();
                    }
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The writing half: frames as fast as the socket takes them (or at the configured rate),
/// heartbeat replies in between; counts the frames written in `sent`.
async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    feed: &ReplayFeed,
    enc: Encoding,
    mut replies: mpsc::Receiver<Bytes>,
    sent: &mut u64,
) -> String {
    let frames = feed.frames(enc).clone();
    let budget = feed.config.frames;
    let mut ticker = (feed.config.rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / feed.config.rate));
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    loop {
        let spent = budget != 0 && *sent >= budget;
        let reply = match (&mut ticker, spent) {
            // Flooding: replies that are waiting go first, then the next frame at once.
            (None, false) => replies.try_recv().ok(),
            // Nothing left to send, or paced: wait for a reply or the next tick (both
            // cancel-safe), whichever comes first.
            (ticker, _) => {
                tokio::select! {
                    biased;
                    r = replies.recv() => match r {
                        Some(r) => Some(r),
                        None => return "reader ended".to_owned(),
                    },
                    () = tick(ticker.as_mut().filter(|_| !spent)) => None,
                }
            }
        };
        let is_frame = reply.is_none();
        let msg = match reply {
            Some(r) => Message::Binary(r),
            None => {
                let i = (*sent % frames.len() as u64) as usize;
                Message::Binary(frames[i].clone())
            }
        };
        if sink.feed(msg).await.is_err() {
            return "write failed".to_owned();
        }
        if is_frame {
            *sent += 1;
        }
        let flush =
            !is_frame || ticker.is_some() || sent.is_multiple_of(FLUSH_EVERY) || *sent == budget;
        if flush && sink.flush().await.is_err() {
            return "write failed".to_owned();
        }
    }
}

/// The next tick, or never.
async fn tick(ticker: Option<&mut tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
