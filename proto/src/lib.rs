//! The bilipulse bus contract.
//!
//! Everything another tool needs to consume bilipulse from NATS lives here and nowhere else:
//! the subjects ([`subject`]), the JetStream streams and KV buckets with their settings
//! ([`streams`]), the message types ([`RoomEvent`], [`WindowSummary`], [`LiveSession`],
//! [`RoomStatus`], [`RoomConfig`], [`Member`], [`RawFrame`]), the windower's key groups ([`keygroup`]), the MessagePack encoding ([`codec`]) and the rule that gives
//! every event its deduplication id ([`dedup`]).
//!
//! The types *are* the documentation: each field says its unit. `proto/README.md` shows the
//! same contract from a consumer's point of view, with examples in Python and JavaScript.
//!
//! Compatibility: fields and kinds are only ever added. A decoder built from this crate ignores
//! fields it does not know and turns kinds it does not know into [`Payload::Other`]. The schema
//! version `v` changes only on a breaking change, and decoders refuse versions newer than
//! [`SCHEMA_VERSION`] with a typed error instead of misreading them.

pub mod codec;
pub mod dedup;
pub mod event;
pub mod keygroup;
pub mod raw;
pub mod rooms;
pub mod session;
pub mod status;
pub mod streams;
pub mod subject;
pub mod summary;

pub use codec::{DecodeError, EncodeError, decode, decode_event, encode};
pub use dedup::dedup_id;
pub use event::{
    Audience, BlindBox, CoinType, Danmaku, Gift, Guard, Interact, InteractAction, Kind, Like, Live,
    LiveState, Medal, Other, Payload, RoomEvent, SuperChat,
};
pub use keygroup::KeyGroup;
pub use raw::{RawFrame, encode_raw_frame};
pub use rooms::{Member, RoomConfig};
pub use session::{LiveSession, TopChatter, TopSpender};
pub use status::{ConnState, RoomStatus};
pub use subject::{Subject, SubjectError, Window};
pub use summary::{Coverage, WindowSummary, mcny_to_cny};

/// Version of the schema written into the `v` field of every message.
///
/// Bumped only on a breaking change; additive changes (new fields, new kinds) keep it.
pub const SCHEMA_VERSION: u16 = 1;
