//! `bilipulse reparse ROOM`: rebuild a room's events from the raw bodies the ingesters stored
//! (`BILI_RAW_FRAMES`, one message per Bilibili frame, and `BILI_RAW`, one per body), with the
//! normaliser of this build.
//!
//! This is what the raw archive is for: when Bilibili changes a command or the normaliser
//! learns a new one, the events of the retained past can be rebuilt and compared with (or
//! republished over) what `BILI_EVENTS` holds. Events get the ids the ingester would have given
//! them, and the same event seen twice within the events stream's duplicate window (a frame
//! stored by two ingesters during a hand-over, a re-sent frame) is kept once, as JetStream does.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::ExitCode;

use async_nats::jetstream;
use bilipulse_bilibili::commands;
use bilipulse_proto::{RawFrame, RoomEvent, streams, subject};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::NatsConfig;
use serde::Serialize;

use crate::recount::RecountError;
use crate::recount::read::read_all;

/// The `src` of rebuilt events.
pub const REPARSE_SRC: &str = "reparse";

/// `BILI_EVENTS`' duplicate window, ms: within it, an id seen again is a repeat.
const REPEAT_WINDOW_MS: i64 = streams::EVENTS.duplicate_window.as_millis() as i64;

/// Flags of `bilipulse reparse`.
#[derive(Debug, clap::Args)]
pub struct ReparseArgs {
    /// The room (real id, as in subjects).
    #[arg(value_name = "ROOM")]
    pub room: u64,

    /// Print one JSON report ({"frames", "bodies", "events", "by_kind", …}) instead of the
    /// events as JSON lines.
    #[arg(long)]
    pub count: bool,

    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsConfig,
}

/// What a reparse found, besides the events.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ReparseReport {
    /// `RawFrame` messages read (`BILI_RAW_FRAMES`).
    pub frames: u64,
    /// Bodies read, from frames and from `BILI_RAW`.
    pub bodies: u64,
    /// Events rebuilt (after dropping repeats).
    pub events: u64,
    /// Events by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Bodies that are not commands (not JSON, no `cmd`): kept raw, no event, as live.
    pub not_commands: u64,
    /// Events dropped as repeats of one already rebuilt within the duplicate window.
    pub repeats: u64,
    /// `BILI_RAW_FRAMES` messages that do not decode as a `RawFrame` of this room.
    pub undecodable: u64,
}

/// Rebuilds `room`'s events: every stored frame (then every per-command body) in stream order,
/// normalised, repeats within the duplicate window dropped. Returns the events in that order.
pub async fn reparse(
    js: &jetstream::Context,
    room: u64,
) -> Result<(Vec<RoomEvent>, ReparseReport), RecountError> {
    let mut rebuilt = Rebuilt::new(room);
    read_all(
        js,
        streams::RAW_FRAMES.name,
        subject::raw_frame(room),
        |m| match bilipulse_proto::decode::<RawFrame>(m.payload) {
            Ok(frame) if frame.room == room => {
                rebuilt.report.frames += 1;
                for body in &frame.bodies {
                    rebuilt.body(body, frame.recv);
                }
            }
            _ => rebuilt.report.undecodable += 1,
        },
    )
    .await?;
    // Per-command bodies carry no receive time of their own: JetStream's store time stands in.
    read_all(js, streams::RAW.name, subject::raw(room), |m| {
        rebuilt.body(m.payload, m.published_ms)
    })
    .await?;
    Ok((rebuilt.events, rebuilt.report))
}

/// The events rebuilt so far and the last receive time of each id, for the repeat rule.
struct Rebuilt {
    room: u64,
    events: Vec<RoomEvent>,
    last_seen: HashMap<String, i64>,
    report: ReparseReport,
}

impl Rebuilt {
    fn new(room: u64) -> Rebuilt {
        Rebuilt {
            room,
            events: Vec::new(),
            last_seen: HashMap::new(),
            report: ReparseReport::default(),
        }
    }

    fn body(&mut self, body: &[u8], recv: i64) {
        self.report.bodies += 1;
        let Ok(events) = commands::normalize(self.room, body, recv, REPARSE_SRC) else {
            self.report.not_commands += 1;
            return;
        };
        for ev in events {
            // As JetStream: an id is remembered from the event that was kept, and a repeat
            // does not extend the window.
            if self
                .last_seen
                .get(&ev.id)
                .is_some_and(|&kept| (ev.recv - kept).abs() < REPEAT_WINDOW_MS)
            {
                self.report.repeats += 1;
                continue;
            }
            self.last_seen.insert(ev.id.clone(), ev.recv);
            self.report.events += 1;
            *self.report.by_kind.entry(ev.kind().as_str()).or_default() += 1;
            self.events.push(ev);
        }
    }
}

/// Runs `reparse`: prints the events as JSON lines, or the report with `--count`.
pub async fn run(args: ReparseArgs) -> anyhow::Result<ExitCode> {
    let client = bus::connect(&args.nats, "bilipulse-reparse").await?;
    let js = bus::jetstream(client);
    let (events, report) = reparse(&js, args.room).await?;
    let mut out = std::io::stdout().lock();
    if args.count {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for ev in &events {
            writeln!(out, "{}", serde_json::to_string(ev)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
