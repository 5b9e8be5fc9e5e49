//! JetStream streams and KV buckets of the bus, with their settings, defined once.
//!
//! Services create these idempotently at start-up from these definitions
//! (`bilipulse-runtime`'s `ensure_*`), so every service agrees on them. Retention (`max_age`)
//! is the default; deployments may override it, everything else is part of the contract.

use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Definition of a JetStream stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    /// Stream name.
    pub name: &'static str,
    /// Subjects captured by the stream.
    pub subjects: &'static [&'static str],
    /// Default retention.
    pub max_age: Duration,
    /// Window during which a repeated `Nats-Msg-Id` is dropped. Must cover the longest
    /// hand-over overlap between two ingesters.
    pub duplicate_window: Duration,
    /// Messages kept per subject (`-1` = unlimited). `BILI_STATUS` keeps the latest per room.
    pub max_msgs_per_subject: i64,
    /// Atomic batch publish (NATS 2.12) allowed: the windower commits summaries, sessions and
    /// its checkpoint in one batch, so they are stored all together or not at all.
    pub allow_atomic: bool,
}

/// `BILI_EVENTS`: every normalised room event.
pub const EVENTS: StreamSpec = StreamSpec {
    name: "BILI_EVENTS",
    subjects: &["bili.event.>"],
    max_age: Duration::from_secs(7 * 24 * 3600),
    duplicate_window: Duration::from_secs(120),
    max_msgs_per_subject: -1,
    allow_atomic: false,
};

/// `BILI_RAW`: raw command bodies for replay and re-parsing.
pub const RAW: StreamSpec = StreamSpec {
    name: "BILI_RAW",
    subjects: &["bili.raw.>"],
    max_age: DAY,
    duplicate_window: Duration::from_secs(120),
    max_msgs_per_subject: -1,
    allow_atomic: false,
};

/// `BILI_RAW_FRAMES`: raw command bodies, one message per Bilibili frame ([`crate::RawFrame`]),
/// for replay and re-parsing at about one stored message per frame instead of one per command.
pub const RAW_FRAMES: StreamSpec = StreamSpec {
    name: "BILI_RAW_FRAMES",
    subjects: &["bili.rawframe.>"],
    max_age: DAY,
    duplicate_window: Duration::from_secs(120),
    max_msgs_per_subject: -1,
    allow_atomic: false,
};

/// `BILI_STATUS`: the latest coverage report per room.
pub const STATUS: StreamSpec = StreamSpec {
    name: "BILI_STATUS",
    subjects: &["bili.status.>"],
    max_age: DAY,
    duplicate_window: Duration::from_secs(60),
    max_msgs_per_subject: 1,
    allow_atomic: false,
};

/// `BILI_SUMMARY`: window summaries and live sessions, kept for history and backfill, and the
/// windower's checkpoints (`bili.wckpt.<key group>`), which must live in the same stream as the
/// summaries because an atomic batch covers one stream only.
pub const SUMMARY: StreamSpec = StreamSpec {
    name: "BILI_SUMMARY",
    subjects: &["bili.summary.>", "bili.session.>", "bili.wckpt.>"],
    max_age: Duration::from_secs(30 * 24 * 3600),
    duplicate_window: Duration::from_secs(120),
    max_msgs_per_subject: -1,
    allow_atomic: true,
};

/// Every stream of the bus.
pub const ALL_STREAMS: [StreamSpec; 5] = [EVENTS, RAW, RAW_FRAMES, STATUS, SUMMARY];

/// Definition of a JetStream KV bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvSpec {
    /// Bucket name.
    pub bucket: &'static str,
    /// Revisions kept per key.
    pub history: i64,
    /// Per-key TTL support: when set, keys may be written with a TTL and expired keys leave a
    /// delete marker kept for this long (NATS 2.11 `limit_markers`), so watchers see them go.
    pub limit_markers: Option<Duration>,
    /// TTL an ingester gives its membership key, renewed well before it runs out.
    pub key_ttl: Option<Duration>,
}

/// `bili_rooms`: desired rooms ([`crate::RoomConfig`]), keyed by real room id.
pub const ROOMS: KvSpec = KvSpec {
    bucket: "bili_rooms",
    history: 5,
    limit_markers: None,
    key_ttl: None,
};

/// `bili_members`: live ingesters ([`crate::Member`]), keyed by ingester id, each key with a TTL.
pub const MEMBERS: KvSpec = KvSpec {
    bucket: "bili_members",
    history: 1,
    limit_markers: Some(Duration::from_secs(60)),
    key_ttl: Some(Duration::from_secs(6)),
};

/// `bili_windowers`: live windower replicas ([`crate::Member`]), keyed by windower id, each key
/// with a TTL; key groups are placed over them by rendezvous hashing.
pub const WINDOWERS: KvSpec = KvSpec {
    bucket: "bili_windowers",
    history: 1,
    limit_markers: Some(Duration::from_secs(60)),
    key_ttl: Some(Duration::from_secs(6)),
};

/// Every KV bucket of the bus.
pub const ALL_BUCKETS: [KvSpec; 3] = [ROOMS, MEMBERS, WINDOWERS];
