//! Desired rooms ([`RoomConfig`], KV `bili_rooms`) and ingester liveness ([`Member`], KV
//! `bili_members`).

use serde::{Deserialize, Serialize};

/// A room somebody wants observed. Key in `bili_rooms`: the real room id in decimal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomConfig {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Real (long) room id; equals the key.
    pub room: u64,
    /// The short id the room was added by (e.g. 5269), if any.
    pub alias: Option<u64>,
    /// Free text for people (e.g. the streamer's name).
    pub label: String,
    /// When the room was added, Unix milliseconds.
    pub added: i64,
}

/// One live ingester. Key in `bili_members`: the ingester id. The key carries a TTL
/// ([`crate::streams::MEMBERS`]); an ingester that stops renewing it is considered gone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Ingester id (pod name).
    pub id: String,
    /// When the ingester started, Unix milliseconds.
    pub started: i64,
    /// When this record was written, Unix milliseconds.
    pub ts: i64,
    /// Maximum number of rooms this ingester will connect to.
    pub capacity: u32,
    /// True while the ingester is shutting down and handing its rooms over: it takes no rooms.
    pub draining: bool,
    /// Build version of the ingester.
    pub version: String,
}
