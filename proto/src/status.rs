//! [`RoomStatus`]: the coverage report an ingester publishes on `bili.status.<room>` on every
//! connection state change and every few seconds.

use serde::{Deserialize, Serialize};

/// State of the ingester's connection to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// Resolving the room or opening the WebSocket.
    #[default]
    Connecting,
    /// Authenticated: events are flowing.
    Connected,
    /// The connection dropped; a reconnect is scheduled.
    Disconnected,
    /// The ingester stopped observing the room (hand-over, removal or shutdown).
    Stopped,
    /// A state this version does not know.
    #[serde(other)]
    Unknown,
}

/// Coverage of one room by one ingester.
///
/// Decoding requires `v`, `room`, `src`, `ts` and `state`; every other field takes its default
/// when absent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoomStatus {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Real room id.
    pub room: u64,
    /// Ingester id.
    pub src: String,
    /// When this status was published, Unix milliseconds.
    pub ts: i64,
    /// Connection state.
    pub state: ConnState,
    /// Since when the connection is in `state`, Unix milliseconds.
    #[serde(default)]
    pub since: i64,
    /// True while Bilibili masks identities on this connection (anonymous: `LOG_IN_NOTICE`
    /// received or uid 0 seen).
    #[serde(default)]
    pub masked: bool,
    /// The Bilibili host the connection uses ("" while none).
    #[serde(default)]
    pub host: String,
    /// Reconnects since the ingester took the room.
    #[serde(default)]
    pub reconnects: u64,
    /// Time of the last message from Bilibili, Unix milliseconds, if any.
    #[serde(default)]
    pub last_msg: Option<i64>,
    /// Events published for this room since the ingester took it.
    #[serde(default)]
    pub events_published: u64,
    /// Events dropped for this room (buffer overflow) since the ingester took it.
    #[serde(default)]
    pub events_lost: u64,
    /// Commands of this room shed unparsed since the ingester took it: while its publish
    /// buffer is nearly full (NATS slower than Bilibili, or the machine out of CPU), an
    /// ingester drops whole frames (read and decompressed) before parsing them, so that what
    /// it cannot publish does not take the CPU publishing needs. A shed command may have
    /// become zero, one or several events; its raw body is not archived either. Added in
    /// schema 1 without a version change (absent = 0).
    #[serde(default)]
    pub commands_shed: u64,
    /// The last error, if the connection is not healthy.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl RoomStatus {
    /// Everything the ingester could not publish for this room: events dropped plus commands
    /// shed. Consumers that report losses (a summary's `lost_events`) count both.
    pub fn lost(&self) -> u64 {
        self.events_lost.saturating_add(self.commands_shed)
    }
}
