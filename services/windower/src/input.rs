//! Turning a `BILI_EVENTS` message into a [`RoomEvent`] the windows may count, or a
//! [`Garbage`] cause.
//!
//! The checks are the contract's, and `bilipulse recount` applies the same ones: the subject
//! must be `bili.event.<room>.<kind>`, the body must decode, name the same room and kind, and
//! carry a plausible event time (not before 2009, not more than an hour after JetStream stored
//! the message). A message failing any of them is never counted, never blocks the consumer,
//! and is counted by cause.

use std::fmt;

use bilipulse_proto::{DecodeError, RoomEvent, Subject};

/// 2009-01-01T00:00:00Z, Unix ms: nothing on Bilibili live is older.
pub const EARLIEST_TS: i64 = 1_230_768_000_000;
/// How far past its storage time an event time may lie.
pub const MAX_AHEAD_MS: i64 = 3_600_000;

/// Why a message on `bili.event.>` was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Garbage {
    /// The subject is not `bili.event.<room>.<kind>` with a known kind.
    BadSubject,
    /// Bigger than `--max-event-bytes`.
    TooLarge,
    /// Not MessagePack, or not a map with the event's fields.
    Malformed,
    /// Written by a newer schema version.
    UnsupportedVersion,
    /// A kind this version does not know.
    UnknownKind,
    /// Body and subject disagree on room or kind.
    SubjectMismatch,
    /// Event time before 2009 or over an hour after storage.
    AbsurdTimestamp,
}

impl Garbage {
    /// Every cause, for metrics.
    pub const ALL: [Garbage; 7] = [
        Garbage::BadSubject,
        Garbage::TooLarge,
        Garbage::Malformed,
        Garbage::UnsupportedVersion,
        Garbage::UnknownKind,
        Garbage::SubjectMismatch,
        Garbage::AbsurdTimestamp,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Garbage::BadSubject => "bad_subject",
            Garbage::TooLarge => "too_large",
            Garbage::Malformed => "malformed",
            Garbage::UnsupportedVersion => "unsupported_version",
            Garbage::UnknownKind => "unknown_kind",
            Garbage::SubjectMismatch => "subject_mismatch",
            Garbage::AbsurdTimestamp => "absurd_timestamp",
        }
    }
}

impl fmt::Display for Garbage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The room a subject is about, if it is an event subject; `Err` for any other subject.
pub fn room_of(subject: &str) -> Result<(u64, bilipulse_proto::Kind), Garbage> {
    match subject.parse::<Subject>() {
        Ok(Subject::Event { room, kind }) => Ok((room, kind)),
        Err(bilipulse_proto::SubjectError::UnknownKind(..)) => Err(Garbage::UnknownKind),
        _ => Err(Garbage::BadSubject),
    }
}

/// Decodes and checks an event message of `room`/`kind` stored at `stored_ms`.
pub fn decode(
    room: u64,
    kind: bilipulse_proto::Kind,
    payload: &[u8],
    stored_ms: i64,
    max_bytes: usize,
) -> Result<RoomEvent, Garbage> {
    if payload.len() > max_bytes {
        return Err(Garbage::TooLarge);
    }
    let ev: RoomEvent = bilipulse_proto::decode_event(payload).map_err(|e| match e {
        DecodeError::UnsupportedVersion { .. } => Garbage::UnsupportedVersion,
        DecodeError::Malformed(_) => Garbage::Malformed,
    })?;
    if let bilipulse_proto::Payload::Other(o) = &ev.payload
        && o.unknown_kind.is_some()
    {
        return Err(Garbage::UnknownKind);
    }
    if ev.room != room || ev.kind() != kind {
        return Err(Garbage::SubjectMismatch);
    }
    if ev.ts < EARLIEST_TS || ev.ts > stored_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(Garbage::AbsurdTimestamp);
    }
    Ok(ev)
}
