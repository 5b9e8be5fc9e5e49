//! MessagePack encoding of every bus message.
//!
//! Messages are MessagePack maps with named fields (`rmp_serde::to_vec_named`), so consumers in
//! any language decode them without our types. Integers are written in the smallest MessagePack
//! form; room ids and uids fit in 64 bits and may exceed 2^53 (JavaScript consumers need
//! `useBigInt64`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::SCHEMA_VERSION;

/// The deepest nesting of maps and arrays a message may have, counting its top-level map as
/// one level; deeper input is malformed.
///
/// The contract itself nests two levels (an event map holding a medal map); the rest is room for
/// fields added later. The limit bounds the decoder's recursion: rmp-serde's own default of 1024
/// levels overflows a 2 MiB thread stack in debug builds.
pub const MAX_DEPTH: usize = 32;

/// Encoding failed. Only possible for values serde cannot represent; never for our types.
#[derive(Debug, Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(#[from] rmp_serde::encode::Error);

/// Why bytes could not be decoded as the expected message.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The bytes are not MessagePack, or not a map with the required fields and types.
    #[error("malformed message: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
    /// The message says it was written by a schema version newer than this decoder.
    #[error("message has schema version {found}, this decoder understands up to {SCHEMA_VERSION}")]
    UnsupportedVersion {
        /// The `v` found in the message.
        found: u16,
    },
}

/// Encodes a message as a named-field MessagePack map.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, EncodeError> {
    Ok(rmp_serde::to_vec_named(msg)?)
}

/// Decodes a message, checking its schema version.
///
/// Unknown fields are ignored; an event of a kind this version does not know decodes as
/// [`crate::Payload::Other`]. Never panics, whatever the input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // Every message is a named map. rmp-serde would also accept a positional array for a struct
    // and fill it by field order, which silently misreads a compact or foreign encoding.
    if !bytes.first().is_some_and(|&b| is_map_marker(b)) {
        return Err(DecodeError::Malformed(serde::de::Error::custom(
            "expected a MessagePack map at the top level",
        )));
    }
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(default)]
        v: u16,
    }
    let Version { v } = from_slice(bytes)?;
    if v > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: v });
    }
    Ok(from_slice(bytes)?)
}

/// Decodes a [`RoomEvent`](crate::RoomEvent) the fast way: the same result as
/// `decode::<RoomEvent>` for every message the contract allows, in two typed passes over the
/// bytes (the envelope, then the kind's fields) instead of building a generic value tree and
/// re-encoding it. Consumers reading the event stream at volume (the windower) use this.
///
/// A kind this version does not know decodes as [`crate::Payload::Other`] with
/// `unknown_kind`, as with [`decode`]. Never panics, whatever the input.
pub fn decode_event(bytes: &[u8]) -> Result<crate::RoomEvent, DecodeError> {
    use crate::event::{Kind, Payload};
    if !bytes.first().is_some_and(|&b| is_map_marker(b)) {
        return Err(DecodeError::Malformed(serde::de::Error::custom(
            "expected a MessagePack map at the top level",
        )));
    }
    #[derive(serde::Deserialize)]
    struct Envelope {
        v: u16,
        room: u64,
        kind: String,
        #[serde(default)]
        cmd: Option<String>,
        ts: i64,
        recv: i64,
        id: String,
        src: String,
    }
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(default)]
        v: u16,
    }
    let Version { v } = from_slice(bytes)?;
    if v > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: v });
    }
    // serde's derived field matching takes an integer key as a field's position; the generic
    // decoder ignores integer keys, as the contract only has named ones. Such a map (foreign or
    // garbage) is decoded the generic way, so both decoders always agree (found by fuzzing).
    if !top_level_keys_are_strings(bytes) {
        return decode(bytes);
    }
    let env: Envelope = from_slice(bytes)?;
    // No kind has a field named like an envelope field, so each pass ignores the other's.
    let payload = match Kind::parse(&env.kind) {
        Some(Kind::Danmaku) => Payload::Danmaku(from_slice(bytes)?),
        Some(Kind::Gift) => Payload::Gift(from_slice(bytes)?),
        Some(Kind::Superchat) => Payload::Superchat(from_slice(bytes)?),
        Some(Kind::Guard) => Payload::Guard(from_slice(bytes)?),
        Some(Kind::Interact) => Payload::Interact(from_slice(bytes)?),
        Some(Kind::Like) => Payload::Like(from_slice(bytes)?),
        Some(Kind::Audience) => Payload::Audience(from_slice(bytes)?),
        Some(Kind::Live) => Payload::Live(from_slice(bytes)?),
        Some(Kind::Other) => Payload::Other(from_slice(bytes)?),
        None => {
            let mut other: crate::Other = from_slice(bytes).unwrap_or_default();
            other.unknown_kind = Some(env.kind);
            Payload::Other(other)
        }
    };
    Ok(crate::RoomEvent {
        v: env.v,
        room: env.room,
        cmd: env.cmd.unwrap_or_default(),
        ts: env.ts,
        recv: env.recv,
        id: env.id,
        src: env.src,
        payload,
    })
}

/// Whether every key of the top-level map is a string. Reads the map's keys and skips its
/// values without building them (a value's nested maps and arrays are walked, not allocated
/// beyond rmpv's borrowed view). Malformed input answers `false`: the caller's generic decode
/// then reports the error.
fn top_level_keys_are_strings(bytes: &[u8]) -> bool {
    let mut rd = bytes;
    let Ok(entries) = rmp::decode::read_map_len(&mut rd) else {
        return false;
    };
    for _ in 0..entries {
        let Ok(len) = rmp::decode::read_str_len(&mut rd) else {
            return false;
        };
        let Some(rest) = rd.get(len as usize..) else {
            return false;
        };
        rd = rest;
        if rmpv::decode::read_value_ref_with_max_depth(&mut rd, MAX_DEPTH).is_err() {
            return false;
        }
    }
    true
}

/// `rmp_serde::from_slice` with the nesting limited to [`MAX_DEPTH`].
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    // rmp-serde refuses input once its counter reaches the limit, i.e. at `limit` levels.
    de.set_max_depth(MAX_DEPTH + 1);
    T::deserialize(&mut de)
}

/// True for the MessagePack map markers: fixmap (0x80..=0x8f), map 16 (0xde) and map 32 (0xdf).
fn is_map_marker(b: u8) -> bool {
    matches!(b, 0x80..=0x8f | 0xde | 0xdf)
}
