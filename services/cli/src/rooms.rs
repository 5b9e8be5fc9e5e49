//! `bilipulse rooms add|rm|ls`: the desired rooms in `bili_rooms`, and who observes them.
//!
//! Rooms are keyed by Bilibili's real room id. `add` resolves a short id (e.g. 5269) once, through
//! the same HTTP API the ingesters use, and keeps the short id as the room's alias; `rm` accepts
//! either. `ls` joins the desired rooms with the latest status each room's owner published.

use std::io::Write;
use std::process::ExitCode;

use async_nats::jetstream::{self, kv};
use bilipulse_bilibili::config::BilibiliArgs;
use bilipulse_proto::{ConnState, RoomConfig, RoomStatus, streams, subject};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use serde::Serialize;

/// Flags of `bilipulse rooms`.
#[derive(Debug, clap::Args)]
pub struct RoomsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RoomsCommand,
}

/// Where the rooms live; every `rooms` subcommand takes these flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BusArgs {
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsConfig,

    /// Replicas and retention, used only if the `bili_rooms` bucket does not exist yet.
    #[command(flatten)]
    pub streams: StreamOverrides,
}

/// The `rooms` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RoomsCommand {
    /// Add rooms (short or real ids) for the ingesters to observe.
    Add {
        /// Room ids; short ids are resolved to real ones.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<u64>,
        /// A note for people, e.g. the streamer's name.
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
        /// Take the ids as real room ids without asking Bilibili.
        #[arg(long)]
        no_resolve: bool,
        /// How to reach Bilibili for resolving short ids.
        #[command(flatten)]
        bilibili: Box<BilibiliArgs>,
        /// Where the rooms live.
        #[command(flatten)]
        bus: BusArgs,
    },
    /// Stop observing rooms (real ids or the short ids they were added by).
    Rm {
        /// Room ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<u64>,
        /// Where the rooms live.
        #[command(flatten)]
        bus: BusArgs,
    },
    /// List the desired rooms with their owner, connection state and freshness.
    Ls {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Where the rooms live.
        #[command(flatten)]
        bus: BusArgs,
    },
}

impl RoomsCommand {
    fn bus(&self) -> &BusArgs {
        match self {
            RoomsCommand::Add { bus, .. }
            | RoomsCommand::Rm { bus, .. }
            | RoomsCommand::Ls { bus, .. } => bus,
        }
    }
}

/// One row of `rooms ls`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomRow {
    /// Real room id.
    pub room: u64,
    /// Short id the room was added by.
    pub alias: Option<u64>,
    /// Label.
    pub label: String,
    /// Ingester that last reported on the room.
    pub owner: Option<String>,
    /// Its connection state (`connecting`, `connected`, `disconnected`, `stopped`), or `unknown`
    /// when no status was ever published.
    pub state: String,
    /// Whether Bilibili masks identities on that connection.
    pub masked: bool,
    /// Milliseconds since the last message from Bilibili.
    pub last_msg_age_ms: Option<i64>,
    /// Milliseconds since the status was published: a large value means its owner is gone.
    pub status_age_ms: Option<i64>,
    /// Events its owner published.
    pub events_published: u64,
    /// Events its owner had to drop, plus commands it shed under overload
    /// (`RoomStatus::lost`).
    pub events_lost: u64,
    /// The owner's last error, if any.
    pub last_error: Option<String>,
}

/// Runs a `rooms` subcommand.
pub async fn run(args: RoomsArgs) -> anyhow::Result<ExitCode> {
    let bus_args = args.command.bus().clone();
    let client = bus::connect(&bus_args.nats, "bilipulse-cli").await?;
    let js = bus::jetstream(client);
    // An existing bucket is used as it is: its replicas are the deployment's choice, and a CLI
    // run without the deployment's flags must not change them.
    let store = match js.get_key_value(streams::ROOMS.bucket).await {
        Ok(store) => store,
        Err(_) => bus::ensure_bucket(&js, &streams::ROOMS, &bus_args.streams).await?,
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    match args.command {
        RoomsCommand::Add {
            ids,
            label,
            no_resolve,
            bilibili,
            ..
        } => {
            let resolver = if no_resolve {
                None
            } else {
                Some(bilibili.resolver()?)
            };
            let mut ok = true;
            for id in ids {
                let (room, alias) = match &resolver {
                    None => (id, None),
                    Some(r) => match r.room_info(id).await {
                        Ok(info) => (
                            info.room,
                            bilipulse_runtime::rooms::alias_for(id, info.room, info.short_id),
                        ),
                        Err(e) => {
                            writeln!(err, "error: room {id}: cannot resolve: {e}")?;
                            ok = false;
                            continue;
                        }
                    },
                };
                add(&store, room, alias, &label).await?;
                match alias {
                    Some(a) => writeln!(out, "added room {room} (alias {a})")?,
                    None => writeln!(out, "added room {room}")?,
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        RoomsCommand::Rm { ids, .. } => {
            let rooms = list(&store, &mut err).await?;
            let mut ok = true;
            for id in ids {
                match bilipulse_runtime::rooms::find(&rooms, id) {
                    Some(c) => {
                        bilipulse_runtime::rooms::delete(&store, c.room).await?;
                        writeln!(out, "removed room {}", c.room)?;
                    }
                    None => {
                        writeln!(err, "error: room {id} is not in bili_rooms")?;
                        ok = false;
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        RoomsCommand::Ls { json, .. } => {
            let rows = rows(&js, &store, &mut err).await?;
            if json {
                for r in &rows {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                }
            } else {
                print_table(&rows, &mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes one desired room.
pub async fn add(
    store: &kv::Store,
    room: u64,
    alias: Option<u64>,
    label: &str,
) -> anyhow::Result<()> {
    bilipulse_runtime::rooms::put(store, room, alias, label).await?;
    Ok(())
}

/// Every valid desired room; invalid entries are reported on `err` and skipped.
pub async fn list(store: &kv::Store, err: &mut dyn Write) -> anyhow::Result<Vec<RoomConfig>> {
    let (rooms, invalid) = bilipulse_runtime::rooms::list(store).await?;
    for (key, why) in invalid {
        writeln!(err, "warning: bili_rooms key {key:?} skipped: {why}")?;
    }
    Ok(rooms)
}

/// The rows of `rooms ls`: desired rooms joined with their latest status.
pub async fn rows(
    js: &jetstream::Context,
    store: &kv::Store,
    err: &mut dyn Write,
) -> anyhow::Result<Vec<RoomRow>> {
    let rooms = list(store, err).await?;
    let status_stream = js.get_stream(streams::STATUS.name).await.ok();
    let now = bilipulse_runtime::clock::now_ms();
    let mut rows = Vec::with_capacity(rooms.len());
    for c in rooms {
        let status = match &status_stream {
            Some(s) => s
                .get_last_raw_message_by_subject(&subject::status(c.room))
                .await
                .ok()
                .and_then(|m| bilipulse_proto::decode::<RoomStatus>(&m.payload).ok()),
            None => None,
        };
        rows.push(match status {
            Some(s) => RoomRow {
                events_lost: s.lost(),
                room: c.room,
                alias: c.alias,
                label: c.label,
                owner: Some(s.src),
                state: state_name(s.state).to_owned(),
                masked: s.masked,
                last_msg_age_ms: s.last_msg.map(|t| now - t),
                status_age_ms: Some(now - s.ts),
                events_published: s.events_published,
                last_error: s.last_error,
            },
            None => RoomRow {
                room: c.room,
                alias: c.alias,
                label: c.label,
                owner: None,
                state: "unknown".into(),
                masked: false,
                last_msg_age_ms: None,
                status_age_ms: None,
                events_published: 0,
                events_lost: 0,
                last_error: None,
            },
        });
    }
    Ok(rows)
}

fn state_name(s: ConnState) -> &'static str {
    match s {
        ConnState::Connecting => "connecting",
        ConnState::Connected => "connected",
        ConnState::Disconnected => "disconnected",
        ConnState::Stopped => "stopped",
        ConnState::Unknown => "unknown",
    }
}

fn age(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => format!("{}s", ms / 1000),
    }
}

fn print_table(rows: &[RoomRow], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:<8} {:<16} {:<12} {:<6} {:>9} {:>9} {:>9} {:>6}  LABEL / ERROR",
        "ROOM", "ALIAS", "OWNER", "STATE", "MASKED", "LAST MSG", "STATUS", "EVENTS", "LOST"
    )?;
    for r in rows {
        let note = match &r.last_error {
            Some(e) => format!("{} {e}", r.label),
            None => r.label.clone(),
        };
        writeln!(
            out,
            "{:<12} {:<8} {:<16} {:<12} {:<6} {:>9} {:>9} {:>9} {:>6}  {}",
            r.room,
            r.alias.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
            r.owner.as_deref().unwrap_or("-"),
            r.state,
            if r.masked { "yes" } else { "no" },
            age(r.last_msg_age_ms),
            age(r.status_age_ms),
            r.events_published,
            r.events_lost,
            note.trim(),
        )?;
    }
    Ok(())
}
