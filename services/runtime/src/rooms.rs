//! The desired rooms in `bili_rooms`, written by `bilipulse rooms` and the gateway's REST API and
//! read by the ingesters: one way to add, find and list them, so both writers agree on keys and
//! aliases.

use std::time::Duration;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::kv;
use bilipulse_proto::{RoomConfig, SCHEMA_VERSION, streams};
use futures::TryStreamExt as _;
use thiserror::Error;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::clock::now_ms;
use crate::kv_mirror::decode_room;

/// How long a write keeps trying while no JetStream server answers for the bucket at all. Right
/// after the bucket is created in a cluster (its leader's interest is still travelling the
/// routes) or while its leader moves, a write can find no responder for a moment; that is worth
/// waiting out, a refusal is not.
pub const WRITE_PATIENCE: Duration = Duration::from_secs(5);

/// Why the desired rooms could not be read or written.
#[derive(Debug, Error)]
pub enum RoomsError {
    /// The room could not be encoded (never happens for a valid [`RoomConfig`]).
    #[error("cannot encode room {room}: {source}")]
    Encode {
        /// The room.
        room: u64,
        /// Why.
        source: bilipulse_proto::EncodeError,
    },
    /// The bucket refused the write or could not be reached.
    #[error("cannot write room {room} to {bucket}: {source}", bucket = streams::ROOMS.bucket)]
    Put {
        /// The room.
        room: u64,
        /// Why.
        source: kv::PutError,
    },
    /// The bucket refused the delete or could not be reached.
    #[error("cannot delete room {room} from {bucket}: {source}", bucket = streams::ROOMS.bucket)]
    Delete {
        /// The room.
        room: u64,
        /// Why.
        source: kv::DeleteError,
    },
    /// The keys could not be listed.
    #[error("cannot list {bucket}: {0}", bucket = streams::ROOMS.bucket)]
    Keys(String),
    /// An entry could not be read.
    #[error("cannot read {bucket} key {key}: {source}", bucket = streams::ROOMS.bucket)]
    Entry {
        /// The key.
        key: String,
        /// Why.
        source: kv::EntryError,
    },
}

/// The alias to keep for a room asked for by `requested` that Bilibili resolved to `real`
/// with short id `short_id` (0 when it has none): the id the user typed when it was not the
/// real one, otherwise the room's short id, if any.
pub fn alias_for(requested: u64, real: u64, short_id: u64) -> Option<u64> {
    (real != requested)
        .then_some(requested)
        .or((short_id != 0).then_some(short_id))
}

/// The room `id` names among `rooms`: a real id first, else the short id a room was added by.
pub fn find(rooms: &[RoomConfig], id: u64) -> Option<&RoomConfig> {
    rooms
        .iter()
        .find(|c| c.room == id)
        .or_else(|| rooms.iter().find(|c| c.alias == Some(id)))
}

/// Writes one desired room (replacing its label and alias if it exists) and returns it.
pub async fn put(
    store: &kv::Store,
    room: u64,
    alias: Option<u64>,
    label: &str,
) -> Result<RoomConfig, RoomsError> {
    let cfg = RoomConfig {
        v: SCHEMA_VERSION,
        room,
        alias,
        label: label.to_owned(),
        added: now_ms(),
    };
    let bytes =
        bilipulse_proto::encode(&cfg).map_err(|source| RoomsError::Encode { room, source })?;
    let bytes = bytes::Bytes::from(bytes);
    patiently(|| store.put(room.to_string(), bytes.clone()))
        .await
        .map_err(|source| RoomsError::Put { room, source })?;
    Ok(cfg)
}

/// Stops observing `room` (a real id).
pub async fn delete(store: &kv::Store, room: u64) -> Result<(), RoomsError> {
    patiently(|| store.delete(room.to_string()))
        .await
        .map_err(|source| RoomsError::Delete { room, source })
}

/// Runs `write` again, with back-off, while it fails only because no JetStream server answered
/// its publish, for at most [`WRITE_PATIENCE`]; any other outcome is returned at once.
///
/// `write` is a plain closure returning a future, not an async closure: the futures of async
/// closures that borrow are not provably `Send` yet, and the gateway's handlers need `Send`.
async fn patiently<T, E, F, Fut>(mut write: F) -> Result<T, E>
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays =
        Backoff::doubling(Duration::from_millis(50), Duration::from_millis(500)).delays();
    let give_up = Instant::now() + WRITE_PATIENCE;
    loop {
        match write().await {
            Err(e) if unanswered(&e) && Instant::now() < give_up => {
                tracing::debug!(error = %e, "no JetStream server answered the write yet; retrying");
                delays.wait().await;
            }
            outcome => return outcome,
        }
    }
}

/// Whether `e` was caused by a publish that no server answered (the client reports a missing
/// responder as "no stream found for given subject").
fn unanswered(e: &(dyn std::error::Error + 'static)) -> bool {
    e.source()
        .and_then(|s| s.downcast_ref::<PublishError>())
        .is_some_and(|p| p.kind() == PublishErrorKind::StreamNotFound)
}

/// The desired rooms, sorted by id, and the keys skipped because they do not hold a valid room
/// (key, reason).
pub async fn list(
    store: &kv::Store,
) -> Result<(Vec<RoomConfig>, Vec<(String, String)>), RoomsError> {
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| RoomsError::Keys(e.to_string()))?
        .try_collect()
        .await
        .map_err(|e| RoomsError::Keys(e.to_string()))?;
    let mut rooms = Vec::new();
    let mut invalid = Vec::new();
    for key in keys {
        let value = store.get(&key).await.map_err(|source| RoomsError::Entry {
            key: key.clone(),
            source,
        })?;
        let Some(value) = value else { continue };
        match decode_room(&key, &value) {
            Ok((_, cfg)) => rooms.push(cfg),
            Err(why) => invalid.push((key, why)),
        }
    }
    rooms.sort_by_key(|c| c.room);
    Ok((rooms, invalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_is_the_typed_short_id_or_the_rooms_own() {
        assert_eq!(alias_for(5269, 21452505, 5269), Some(5269));
        assert_eq!(alias_for(21452505, 21452505, 5269), Some(5269));
        assert_eq!(alias_for(21452505, 21452505, 0), None);
    }

    #[test]
    fn find_prefers_a_real_id_over_an_alias() {
        let room = |room, alias| RoomConfig {
            v: SCHEMA_VERSION,
            room,
            alias,
            ..RoomConfig::default()
        };
        let rooms = [room(100, Some(7)), room(7, None)];
        assert_eq!(find(&rooms, 7).map(|c| c.room), Some(7));
        let rooms = [room(100, Some(7))];
        assert_eq!(find(&rooms, 7).map(|c| c.room), Some(100));
        assert!(find(&rooms, 8).is_none());
    }
}
