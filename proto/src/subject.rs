//! NATS subjects of the bus: builders and a strict parser.
//!
//! | subject | stream | payload |
//! |---|---|---|
//! | `bili.event.<room>.<kind>` | `BILI_EVENTS` | [`crate::RoomEvent`] |
//! | `bili.raw.<room>` | `BILI_RAW` | raw command body (JSON text) |
//! | `bili.rawframe.<room>` | `BILI_RAW_FRAMES` | [`crate::RawFrame`]: a frame's raw bodies |
//! | `bili.status.<room>` | `BILI_STATUS` | [`crate::RoomStatus`] |
//! | `bili.summary.<room>.<window>` | `BILI_SUMMARY` | [`crate::WindowSummary`] |
//! | `bili.session.<room>` | `BILI_SUMMARY` | [`crate::LiveSession`] |
//! | `bili.wckpt.<key group>` | `BILI_SUMMARY` | the windower's checkpoint (internal) |
//!
//! `<room>` is always Bilibili's real room id in decimal without leading zeros.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::Kind;

/// Prefix shared by every bilipulse subject.
pub const ROOT: &str = "bili";
/// Every event of every room.
pub const ALL_EVENTS: &str = "bili.event.>";
/// Every raw command body.
pub const ALL_RAW: &str = "bili.raw.>";
/// Every raw frame.
pub const ALL_RAW_FRAMES: &str = "bili.rawframe.>";
/// Every status report.
pub const ALL_STATUS: &str = "bili.status.>";
/// Every window summary.
pub const ALL_SUMMARIES: &str = "bili.summary.>";
/// Every live session.
pub const ALL_SESSIONS: &str = "bili.session.>";

/// `bili.event.<room>.<kind>`
pub fn event(room: u64, kind: Kind) -> String {
    format!("bili.event.{room}.{kind}")
}

/// `bili.event.<room>.*`: every event of one room.
pub fn room_events(room: u64) -> String {
    format!("bili.event.{room}.*")
}

/// `bili.raw.<room>`
pub fn raw(room: u64) -> String {
    format!("bili.raw.{room}")
}

/// `bili.rawframe.<room>`
pub fn raw_frame(room: u64) -> String {
    format!("bili.rawframe.{room}")
}

/// `bili.status.<room>`
pub fn status(room: u64) -> String {
    format!("bili.status.{room}")
}

/// `bili.summary.<room>.<window>`
pub fn summary(room: u64, window: Window) -> String {
    format!("bili.summary.{room}.{window}")
}

/// `bili.summary.<room>.*`: every window width of one room.
pub fn room_summaries(room: u64) -> String {
    format!("bili.summary.{room}.*")
}

/// `bili.session.<room>`
pub fn session(room: u64) -> String {
    format!("bili.session.{room}")
}

/// `bili.wckpt.<key group>`: the windower's checkpoint of one key group. Internal to the
/// windower; consumers never need it.
pub fn checkpoint(group: crate::KeyGroup) -> String {
    format!("bili.wckpt.{group}")
}

/// A parsed bilipulse subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `bili.event.<room>.<kind>`
    Event {
        /// Real room id.
        room: u64,
        /// Event kind.
        kind: Kind,
    },
    /// `bili.raw.<room>`
    Raw {
        /// Real room id.
        room: u64,
    },
    /// `bili.rawframe.<room>`
    RawFrame {
        /// Real room id.
        room: u64,
    },
    /// `bili.status.<room>`
    Status {
        /// Real room id.
        room: u64,
    },
    /// `bili.summary.<room>.<window>`
    Summary {
        /// Real room id.
        room: u64,
        /// Window width.
        window: Window,
    },
    /// `bili.session.<room>`
    Session {
        /// Real room id.
        room: u64,
    },
}

impl Subject {
    /// The room the subject is about.
    pub fn room(&self) -> u64 {
        match *self {
            Subject::Event { room, .. }
            | Subject::Raw { room }
            | Subject::RawFrame { room }
            | Subject::Status { room }
            | Subject::Summary { room, .. }
            | Subject::Session { room } => room,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Subject::Event { room, kind } => write!(f, "bili.event.{room}.{kind}"),
            Subject::Raw { room } => write!(f, "bili.raw.{room}"),
            Subject::RawFrame { room } => write!(f, "bili.rawframe.{room}"),
            Subject::Status { room } => write!(f, "bili.status.{room}"),
            Subject::Summary { room, window } => write!(f, "bili.summary.{room}.{window}"),
            Subject::Session { room } => write!(f, "bili.session.{room}"),
        }
    }
}

/// Why a string is not a bilipulse subject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubjectError {
    /// It does not start with `bili.`.
    #[error("subject {0:?} is not under `bili.`")]
    NotBilipulse(String),
    /// The second token is not `event`, `raw`, `rawframe`, `status`, `summary` or `session`.
    #[error("subject {0:?} has an unknown type token")]
    UnknownType(String),
    /// Too few or too many tokens for its type.
    #[error("subject {0:?} has the wrong number of tokens")]
    WrongShape(String),
    /// The room token is not a canonical decimal room id.
    #[error("subject {0:?}: room token {1:?} is not a room id")]
    BadRoom(String, String),
    /// The kind token is not a known kind.
    #[error("subject {0:?}: unknown event kind {1:?}")]
    UnknownKind(String, String),
    /// The window token is not a window width.
    #[error("subject {0:?}: bad window {1:?}")]
    BadWindow(String, String),
}

impl FromStr for Subject {
    type Err = SubjectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tokens: Vec<&str> = s.split('.').collect();
        if tokens.first() != Some(&ROOT) {
            return Err(SubjectError::NotBilipulse(s.to_owned()));
        }
        let room = |t: &str| parse_room(t).ok_or_else(|| SubjectError::BadRoom(s.into(), t.into()));
        match (tokens.get(1).copied(), tokens.len()) {
            (Some("event"), 4) => {
                let kind = Kind::parse(tokens[3])
                    .ok_or_else(|| SubjectError::UnknownKind(s.into(), tokens[3].into()))?;
                Ok(Subject::Event {
                    room: room(tokens[2])?,
                    kind,
                })
            }
            (Some("raw"), 3) => Ok(Subject::Raw {
                room: room(tokens[2])?,
            }),
            (Some("rawframe"), 3) => Ok(Subject::RawFrame {
                room: room(tokens[2])?,
            }),
            (Some("status"), 3) => Ok(Subject::Status {
                room: room(tokens[2])?,
            }),
            (Some("summary"), 4) => {
                let window = tokens[3]
                    .parse()
                    .map_err(|_| SubjectError::BadWindow(s.into(), tokens[3].into()))?;
                Ok(Subject::Summary {
                    room: room(tokens[2])?,
                    window,
                })
            }
            (Some("session"), 3) => Ok(Subject::Session {
                room: room(tokens[2])?,
            }),
            (Some("event" | "raw" | "rawframe" | "status" | "summary" | "session"), _) => {
                Err(SubjectError::WrongShape(s.to_owned()))
            }
            _ => Err(SubjectError::UnknownType(s.to_owned())),
        }
    }
}

/// A room token: decimal, no sign, no leading zero, non-zero.
fn parse_room(t: &str) -> Option<u64> {
    if t.is_empty() || t.starts_with('0') || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok().filter(|&r| r > 0)
}

/// A window width, written `<n>s`, `<n>m` or `<n>h` in subjects (`1s`, `10s`, `1m`, `1h`).
///
/// Widths are whole seconds; the canonical spelling uses the largest unit that divides the
/// width, so every width has exactly one subject token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    secs: u32,
}

impl Window {
    /// One second.
    pub const S1: Window = Window { secs: 1 };
    /// Ten seconds.
    pub const S10: Window = Window { secs: 10 };
    /// One minute.
    pub const M1: Window = Window { secs: 60 };
    /// One hour.
    pub const H1: Window = Window { secs: 3600 };

    /// A window of `secs` seconds; `None` for zero.
    pub fn from_secs(secs: u32) -> Option<Window> {
        (secs > 0).then_some(Window { secs })
    }

    /// Width in seconds.
    pub fn secs(self) -> u32 {
        self.secs
    }

    /// Width in milliseconds.
    pub fn millis(self) -> i64 {
        i64::from(self.secs) * 1000
    }

    /// Start of the window containing `ts_ms` (windows are aligned to the Unix epoch).
    ///
    /// Timestamps come from the network, so this never overflows: in the first partial window
    /// above `i64::MIN`, whose aligned start is not representable, it returns `i64::MIN`.
    pub fn start_of(self, ts_ms: i64) -> i64 {
        ts_ms.saturating_sub(ts_ms.rem_euclid(self.millis()))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

/// Why a string is not a window width.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a window width like 1s, 10s, 1m or 1h (canonical spelling)")]
pub struct WindowError(String);

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || WindowError(s.to_owned());
        // Split off the last character, not the last byte: the token may be any UTF-8.
        let unit_at = s
            .char_indices()
            .next_back()
            .map(|(i, _)| i)
            .ok_or_else(err)?;
        let (digits, unit) = s.split_at(unit_at);
        let n = parse_room(digits).ok_or_else(err)?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(err()),
        };
        let secs = n
            .checked_mul(mult)
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(err)?;
        let w = Window { secs };
        // Only the canonical spelling is accepted: `60s` must be written `1m`.
        if w.to_string() != s {
            return Err(err());
        }
        Ok(w)
    }
}
