//! The protobuf payloads inside `*_V2` commands, as prost types generated from
//! `proto/bilibili_live.proto` (field numbers from the protocol spec, checked against real
//! payloads).
//!
//! Public so that the simulator can build byte-faithful `SEND_GIFT_V2` / `INTERACT_WORD_V2`
//! bodies with [`to_base64`] instead of a second hand-written encoder.

pub use generated::*;

/// prost's output for `proto/bilibili_live.proto`; lints are for our code, not generated code.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/bilibili.live.rs"));
}

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::de::{Deserialize, Deserializer, Error as _};

use super::json::CowStr;

/// Standard alphabet; padding optional, since one missing `=` should not cost a gift.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes a message the way Bilibili ships it in `data.pb`: standard base64 with padding.
pub fn to_base64<M: prost::Message>(msg: &M) -> String {
    base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec())
}

/// Why a `data.pb` payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PbError {
    /// `pb` is not base64.
    #[error("data.pb is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not the expected protobuf message.
    #[error("data.pb is not a valid {msg}: {source}")]
    Decode {
        /// The message type that was expected.
        msg: &'static str,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
}

/// Decodes a base64 `data.pb` into `M`.
pub fn from_base64<M: prost::Message + Default>(b64: &str) -> Result<M, PbError> {
    let bytes = B64.decode(b64)?;
    M::decode(bytes.as_slice()).map_err(|source| PbError::Decode {
        msg: std::any::type_name::<M>()
            .rsplit("::")
            .next()
            .unwrap_or("message"),
        source,
    })
}

/// A command's `data` object whose `pb` is decoded into `M` while parsing; `dmscore` and any
/// other keys are skipped.
#[derive(Debug)]
pub(crate) struct PbData<M>(pub M);

impl<'de, M: prost::Message + Default> Deserialize<'de> for PbData<M> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            pb: CowStr<'a>,
        }
        let raw = Raw::deserialize(d)?;
        from_base64(&raw.pb.0).map(PbData).map_err(D::Error::custom)
    }
}
