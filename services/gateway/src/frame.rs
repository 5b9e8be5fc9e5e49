//! The server's frames (`docs/websocket.md`, "Server → client"), as JSON text built once.
//!
//! A [`Frame`] is immutable shared text: a message read from NATS becomes one frame, and every
//! client subscribed to its topic gets a clone of the same bytes (a reference count, not a
//! copy). Only history chunks are assembled per client, by concatenating shared frames.

use std::fmt::Write as _;

use axum::extract::ws::Utf8Bytes;
use bilipulse_proto::{DecodeError, LiveSession, RoomStatus, WindowSummary};
use serde::Serialize;
use serde_json::Value;

use crate::channel::{Channel, Topic};

/// One JSON text frame, shared among clients.
pub type Frame = Utf8Bytes;

/// Protocol version announced in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// At most this many messages per `history` frame: tungstenite keeps a connection's write
/// buffer at the size of the largest frame it ever wrote, so chunks stay small.
pub const HISTORY_CHUNK: usize = 100;

/// Why a NATS message could not become a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The payload is not the channel's contract type.
    #[error("payload does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The decoded value could not be written as JSON (non-finite float).
    #[error("payload cannot be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The JSON of a message's `data` (the payload decoded as its channel's contract type) and the
/// time it is about, Unix milliseconds: a window's start, an event's time, a report's time.
pub fn data_json(channel: Channel, payload: &[u8]) -> Result<(String, i64), FrameError> {
    use bilipulse_proto::decode;
    Ok(match channel {
        Channel::Window(_) => {
            let s: WindowSummary = decode(payload)?;
            (serde_json::to_string(&s)?, s.start)
        }
        Channel::Session => {
            let s: LiveSession = decode(payload)?;
            (serde_json::to_string(&s)?, s.start)
        }
        Channel::Status => {
            let s: RoomStatus = decode(payload)?;
            (serde_json::to_string(&s)?, s.ts)
        }
        Channel::Event(_) => {
            let e = bilipulse_proto::decode_event(payload)?;
            (serde_json::to_string(&e)?, e.ts)
        }
    })
}

/// A `message` frame: `{"type":"message","room":…,"channel":…,"seq":…,"data":…}`.
pub fn message(topic: Topic, seq: u64, data: &str) -> Frame {
    let mut s = String::with_capacity(data.len() + 80);
    let _ = write!(
        s,
        r#"{{"type":"message","room":{},"channel":"{}","seq":{},"data":"#,
        topic.room, topic.channel, seq
    );
    s.push_str(data);
    s.push('}');
    Frame::from(s)
}

/// The `history` frames for `messages` (oldest first), in chunks of [`HISTORY_CHUNK`]; the
/// last has `"done":true`. An empty history is one empty, done chunk.
pub fn history<'a>(topic: Topic, messages: impl ExactSizeIterator<Item = &'a Frame>) -> Vec<Frame> {
    let n = messages.len();
    let mut frames = Vec::with_capacity(n / HISTORY_CHUNK + 1);
    let mut current = String::new();
    let mut in_chunk = 0usize;
    let mut seen = 0usize;
    let open = |s: &mut String| {
        s.clear();
        let _ = write!(
            s,
            r#"{{"type":"history","room":{},"channel":"{}","messages":["#,
            topic.room, topic.channel
        );
    };
    open(&mut current);
    for m in messages {
        if in_chunk > 0 {
            current.push(',');
        }
        current.push_str(m.as_str());
        in_chunk += 1;
        seen += 1;
        if in_chunk == HISTORY_CHUNK && seen < n {
            current.push_str(r#"],"done":false}"#);
            frames.push(Frame::from(std::mem::take(&mut current)));
            open(&mut current);
            in_chunk = 0;
        }
    }
    current.push_str(r#"],"done":true}"#);
    frames.push(Frame::from(current));
    frames
}

/// The closed set of `error` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not an object.
    BadJson,
    /// A field is missing or of the wrong type.
    BadRequest,
    /// `op` is unknown.
    UnknownOp,
    /// Not a desired room.
    UnknownRoom,
    /// No such channel.
    UnknownChannel,
    /// Over the per-client room limit.
    TooManyRooms,
    /// Over the per-client message rate.
    RateLimited,
    /// A binary frame.
    BinaryFrame,
    /// NATS could not be read.
    Unavailable,
}

impl ErrorCode {
    /// The code as written in frames and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::UnknownChannel => "unknown_channel",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

/// Limits announced in `hello`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AnnouncedLimits {
    /// Rooms one client may subscribe to.
    pub max_rooms: usize,
    /// Largest client frame, bytes.
    pub max_frame_bytes: usize,
    /// Client frames per second.
    pub max_msgs_per_sec: u32,
}

/// How many messages of one topic a `lag` drops.
#[derive(Debug, Clone, Serialize)]
pub struct TopicDrops {
    /// Real room id.
    pub room: u64,
    /// Channel name.
    pub channel: String,
    /// Messages dropped.
    pub dropped: u64,
}

/// The control frames: everything except `message` and `history`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control<'a> {
    /// First frame on a connection.
    Hello {
        /// [`PROTOCOL_VERSION`].
        version: u32,
        /// The connection's limits.
        limits: AnnouncedLimits,
    },
    /// A topic of a `subscribe` is now subscribed.
    Subscribed {
        /// Echoed request id.
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        /// Real room id.
        room: u64,
        /// Channel name.
        channel: String,
        /// True when the client was already subscribed (no second history).
        already: bool,
    },
    /// A topic was unsubscribed.
    Unsubscribed {
        /// Echoed request id.
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        /// Real room id.
        room: u64,
        /// Channel name.
        channel: String,
    },
    /// Answer to `ping`.
    Pong {
        /// Echoed request id.
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
    },
    /// Messages were dropped because the client was too slow.
    Lag {
        /// Total dropped since the last `lag`.
        dropped: u64,
        /// By topic.
        topics: Vec<TopicDrops>,
    },
    /// A request was refused.
    Error {
        /// Echoed request id.
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        /// What went wrong, from a closed set.
        code: ErrorCode,
        /// For people.
        message: String,
    },
}

impl Control<'_> {
    /// The frame's `type`, also the SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Control::Hello { .. } => "hello",
            Control::Subscribed { .. } => "subscribed",
            Control::Unsubscribed { .. } => "unsubscribed",
            Control::Pong { .. } => "pong",
            Control::Lag { .. } => "lag",
            Control::Error { .. } => "error",
        }
    }

    /// The frame's JSON text.
    pub fn to_frame(&self) -> Frame {
        // Serialising these plain structs cannot fail.
        Frame::from(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The `type` of a frame built by this module, read back from its first bytes (for SSE event
/// names); `None` for text not made here.
pub fn kind_of(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix(r#"{"type":""#)?;
    rest.split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_proto::subject::Window;

    fn topic() -> Topic {
        Topic {
            room: 21452505,
            channel: Channel::Window(Window::S1),
        }
    }

    #[test]
    fn message_frames_are_json_with_the_data_inside() {
        let f = message(topic(), 42, r#"{"a":1}"#);
        let v: Value = serde_json::from_str(&f).expect("valid JSON");
        assert_eq!(v["type"], "message");
        assert_eq!(v["room"], 21452505);
        assert_eq!(v["channel"], "1s");
        assert_eq!(v["seq"], 42);
        assert_eq!(v["data"]["a"], 1);
        assert_eq!(kind_of(&f), Some("message"));
    }

    #[test]
    fn history_is_chunked_and_the_last_chunk_is_done() {
        let msgs: Vec<Frame> = (0..HISTORY_CHUNK as u64 * 2 + 1)
            .map(|i| message(topic(), i, "{}"))
            .collect();
        let chunks = history(topic(), msgs.iter());
        assert_eq!(chunks.len(), 3);
        let mut seqs = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let v: Value = serde_json::from_str(c).expect("valid JSON");
            assert_eq!(v["type"], "history");
            assert_eq!(v["done"], i == 2);
            for m in v["messages"].as_array().expect("array") {
                seqs.push(m["seq"].as_u64().expect("seq"));
            }
        }
        assert_eq!(seqs, (0..HISTORY_CHUNK as u64 * 2 + 1).collect::<Vec<_>>());

        let exact: Vec<Frame> = msgs[..HISTORY_CHUNK].to_vec();
        assert_eq!(
            history(topic(), exact.iter()).len(),
            1,
            "no empty trailing chunk"
        );
        let empty: Vec<Frame> = Vec::new();
        let only = history(topic(), empty.iter());
        let v: Value = serde_json::from_str(&only[0]).expect("valid JSON");
        assert_eq!(v["messages"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["done"], true);
    }

    #[test]
    fn control_frames_name_their_type() {
        let req = Value::from(7);
        let f = Control::Error {
            req: Some(&req),
            code: ErrorCode::UnknownChannel,
            message: "no".into(),
        };
        let text = f.to_frame();
        let v: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "unknown_channel");
        assert_eq!(v["req"], 7);
        assert_eq!(kind_of(&text), Some(f.kind()));
    }
}
