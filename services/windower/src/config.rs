//! The windower's configuration: flags with `BILIPULSE_*` environment fallbacks.

use std::time::Duration;

use bilipulse_proto::subject::Window;
use bilipulse_runtime::config::{Args, parse_duration};
use clap::{Parser, ValueEnum};

use crate::settings::Settings;

/// `bilipulse-windower`: event-time windowed statistics and live sessions per room.
///
/// Reads `BILI_EVENTS` and `BILI_STATUS`, publishes `bili.summary.<room>.<window>` and
/// `bili.session.<room>` to `BILI_SUMMARY`. Replicas share the rooms by key groups placed over
/// the live members of `bili_windowers`; each key group's state is checkpointed in
/// `BILI_SUMMARY` atomically with the summaries it released, so a crash or a rescale neither
/// loses nor repeats a summary.
#[derive(Debug, Clone, Parser)]
#[command(name = "bilipulse-windower", version)]
pub struct Config {
    /// Runtime flags shared by every service.
    #[command(flatten)]
    pub runtime: Args,

    /// This windower's id: unique among replicas, stable across restarts of the same pod.
    /// Defaults to POD_NAME, then HOSTNAME.
    #[arg(long, env = "BILIPULSE_WINDOWER_ID")]
    pub id: Option<String>,

    /// Window widths to compute, comma-separated (canonical tokens: 1s, 10s, 1m, 1h …).
    #[arg(
        long,
        env = "BILIPULSE_WINDOWS",
        value_delimiter = ',',
        default_value = "1s,10s,1m,1h",
        help_heading = "Windows"
    )]
    pub windows: Vec<Window>,

    /// Allowed lateness: a window closes once the room's watermark (latest event or stream
    /// time, whichever is later) has passed its end by this much.
    #[arg(long, env = "BILIPULSE_LATENESS", default_value = "3s", value_parser = parse_duration, help_heading = "Windows")]
    pub lateness: Duration,

    /// Revision horizon: an event arriving after its window closed but within this time of the
    /// close re-publishes the window with the next `rev`; later ones are counted in
    /// `coverage.late_events` of the room's current window instead.
    #[arg(long, env = "BILIPULSE_REVISE_WITHIN", default_value = "60s", value_parser = parse_duration, help_heading = "Windows")]
    pub revise_within: Duration,

    /// Windows narrower than this are published only when something happened in them (a
    /// missing one inside an observed minute means zero); this width and wider are published
    /// for every window in which the room was observed.
    #[arg(
        long,
        env = "BILIPULSE_SPARSE_BELOW",
        default_value = "1m",
        help_heading = "Windows"
    )]
    pub sparse_below: Window,

    /// Distinct chatters are counted exactly up to this many per window or session; past it,
    /// windows at least `--sketch-from` wide and sessions switch to a HyperLogLog estimate.
    #[arg(
        long,
        env = "BILIPULSE_EXACT_DISTINCT",
        default_value_t = 50_000,
        help_heading = "Windows"
    )]
    pub exact_distinct: usize,

    /// Narrowest window that may switch to an estimate (narrower windows stay exact).
    #[arg(
        long,
        env = "BILIPULSE_SKETCH_FROM",
        default_value = "1h",
        help_heading = "Windows"
    )]
    pub sketch_from: Window,

    /// A live session that ends and restarts within this gap is one session.
    #[arg(long, env = "BILIPULSE_SESSION_MERGE_GAP", default_value = "5m", value_parser = parse_duration, help_heading = "Sessions")]
    pub session_merge_gap: Duration,

    /// A running session is re-published at least this often (when it changed).
    #[arg(long, env = "BILIPULSE_SESSION_INTERVAL", default_value = "60s", value_parser = parse_duration, help_heading = "Sessions")]
    pub session_interval: Duration,

    /// Viewers tracked one by one per session for the top-10 lists; more use Space-Saving.
    #[arg(
        long,
        env = "BILIPULSE_TOP_CAPACITY",
        default_value_t = 2048,
        help_heading = "Sessions"
    )]
    pub top_capacity: usize,

    /// How long a connected ingester counts as still connected after its last status or
    /// event (statuses come every few seconds; longer silence means unknown, not connected).
    #[arg(long, env = "BILIPULSE_STATUS_TIMEOUT", default_value = "15s", value_parser = parse_duration, help_heading = "Coverage")]
    pub status_timeout: Duration,

    /// How often each owned key group commits: releases its closed windows and writes its
    /// checkpoint in one atomic batch. Summaries wait for the next commit.
    #[arg(long, env = "BILIPULSE_CHECKPOINT_INTERVAL", default_value = "1s", value_parser = parse_duration, help_heading = "Checkpoints")]
    pub checkpoint_interval: Duration,

    /// Where a key group without any checkpoint starts reading `BILI_EVENTS`: `all` (the
    /// stream's first message: backfill what it retains) or `new` (only what arrives from now).
    #[arg(long, env = "BILIPULSE_START", value_enum, default_value_t = StartFrom::All, help_heading = "Checkpoints")]
    pub start: StartFrom,

    /// TTL of this windower's membership key; a crashed windower's key groups move after it.
    /// Default: the contract's TTL for the bucket (`bilipulse_proto::streams::WINDOWERS.key_ttl`, 6s).
    #[arg(long, env = "BILIPULSE_MEMBER_TTL", value_parser = parse_duration, help_heading = "Checkpoints")]
    pub member_ttl: Option<Duration>,

    /// Largest event message accepted; bigger ones are counted as garbage (`too_large`).
    #[arg(long, env = "BILIPULSE_MAX_EVENT_BYTES", default_value_t = 256 * 1024, help_heading = "Input")]
    pub max_event_bytes: usize,
}

/// Where a key group without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// From the first message `BILI_EVENTS` retains.
    All,
    /// From the stream's end at the time the key group is first taken.
    New,
}

impl Config {
    /// The windower id: `--id`, else POD_NAME, else HOSTNAME, else `windower-<pid>`.
    pub fn windower_id(&self) -> String {
        bilipulse_runtime::config::replica_id(self.id.as_deref(), "windower")
    }

    /// The aggregation settings these flags describe.
    pub fn settings(&self) -> Settings {
        let mut windows = self.windows.clone();
        windows.sort();
        windows.dedup();
        Settings {
            windows,
            lateness_ms: millis(self.lateness),
            revise_ms: millis(self.revise_within),
            sparse_below: self.sparse_below,
            exact_distinct: self.exact_distinct.max(1),
            sketch_from: self.sketch_from,
            merge_gap_ms: millis(self.session_merge_gap),
            session_interval_ms: millis(self.session_interval),
            top_capacity: self.top_capacity.max(10),
            status_timeout_ms: millis(self.status_timeout),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
