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
    #[derive(serde::Deserialize)]
    struct Version {
        #[serde(default)]
        v: u16,
    }
    let Version { v } = rmp_serde::from_slice(bytes)?;
    if v > SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: v });
    }
    Ok(rmp_serde::from_slice(bytes)?)
}
