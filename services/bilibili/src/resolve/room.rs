//! Short id → real room id (`room_init`, `get_info`).

use super::envelope;
use super::error::ResolveError;

/// Endpoint name used in errors.
pub const ROOM_INIT: &str = "room_init";
/// Endpoint name used in errors.
pub const GET_INFO: &str = "get_info";

/// What the WebSocket needs to know about a room: its real id (auth must use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The real (long) room id.
    pub room: u64,
    /// The short id, 0 when the room has none.
    pub short_id: u64,
    /// The streamer's uid.
    pub uid: u64,
    /// 0 offline, 1 live, 2 rotation (轮播).
    pub live_status: u8,
}

/// Parses a `/room/v1/Room/room_init?id=` reply for `id`; code 60004 means no such room.
pub fn parse_room_init(id: u64, body: &[u8]) -> Result<RoomInfo, ResolveError> {
    parse(ROOM_INIT, id, body, 60004)
}

/// Parses a `/room/v1/Room/get_info?room_id=` reply for `id`; code 1 means no such room.
pub fn parse_get_info(id: u64, body: &[u8]) -> Result<RoomInfo, ResolveError> {
    parse(GET_INFO, id, body, 1)
}

fn parse(
    endpoint: &'static str,
    id: u64,
    body: &[u8],
    not_found: i64,
) -> Result<RoomInfo, ResolveError> {
    let data = match envelope::data(endpoint, body) {
        Err(ResolveError::Api { code, .. }) if code == not_found => {
            return Err(ResolveError::NotFound { id });
        }
        other => other?,
    };
    let field = |k: &str| data.get(k).and_then(envelope::uint);
    let room = field("room_id")
        .filter(|r| *r != 0)
        .ok_or_else(|| envelope::decode(endpoint, "missing data.room_id"))?;
    let live_status = data
        .get("live_status")
        .and_then(envelope::uint)
        .and_then(|s| u8::try_from(s).ok())
        .unwrap_or(0);
    Ok(RoomInfo {
        room,
        short_id: field("short_id").unwrap_or(0),
        uid: field("uid").unwrap_or(0),
        live_status,
    })
}
