//! Desired rooms ([`RoomConfig`], KV `bili_rooms`) and ingester liveness ([`Member`], KV
//! `bili_members`).

use serde::{Deserialize, Serialize};

/// A room somebody wants observed. Key in `bili_rooms`: the real room id in decimal.
///
/// Decoding requires `v` and `room`; the other fields take their defaults when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomConfig {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Real (long) room id; equals the key.
    pub room: u64,
    /// The short id the room was added by (e.g. 5269), if any.
    #[serde(default)]
    pub alias: Option<u64>,
    /// Free text for people (e.g. the streamer's name).
    #[serde(default)]
    pub label: String,
    /// When the room was added, Unix milliseconds.
    #[serde(default)]
    pub added: i64,
}

/// One live ingester. Key in `bili_members`: the ingester id. The key carries a TTL
/// ([`crate::streams::MEMBERS`]); an ingester that stops renewing it is considered gone.
///
/// Decoding requires `v` and `id`; the other fields take their defaults when absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Member {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Ingester id (pod name).
    pub id: String,
    /// When the ingester started, Unix milliseconds.
    #[serde(default)]
    pub started: i64,
    /// When this record was written, Unix milliseconds.
    #[serde(default)]
    pub ts: i64,
    /// Maximum number of rooms this ingester will connect to.
    #[serde(default)]
    pub capacity: u32,
    /// True while the ingester is shutting down and handing its rooms over: it takes no rooms.
    #[serde(default)]
    pub draining: bool,
    /// Build version of the ingester.
    #[serde(default)]
    pub version: String,
}
