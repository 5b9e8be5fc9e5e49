//! The recount proper: which messages of `BILI_EVENTS` count, and what each adds to its window.
//!
//! Pure (no I/O, no clock), so every rule can be tested message by message and checked by
//! reading. Written deliberately plainly (one accumulator per window, `BTreeMap`/`BTreeSet`,
//! exact sets, no sketches) and sharing no code with the windower, so that when the two agree
//! it means something.

use std::collections::{BTreeMap, BTreeSet};

use bilipulse_proto::{
    CoinType, DecodeError, InteractAction, LiveState, Payload, RoomEvent, SCHEMA_VERSION, Subject,
    Window, WindowSummary, mcny_to_cny,
};
use serde::Serialize;

use super::Range;

/// Earliest plausible event time (2009-01-01T00:00:00Z, before Bilibili existed): anything
/// earlier is a broken clock or a broken parser, not an event.
pub const MIN_TS: i64 = 1_230_768_000_000;

/// How far an event's `ts` may lie ahead of the moment JetStream stored it: Bilibili's and the
/// ingesters' clocks drift, but not by more than an hour.
pub const MAX_AHEAD_MS: i64 = 3_600_000;

/// Why one message of `BILI_EVENTS` was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not a `RoomEvent` (not MessagePack, not a map, a required field missing or mistyped).
    Undecodable,
    /// Written by a newer schema version than this build understands.
    NewerVersion,
    /// The subject is not `bili.event.<room>.<kind>` of the room being recounted.
    BadSubject,
    /// The body's `room` or kind differs from the subject's.
    SubjectMismatch,
    /// `ts` before [`MIN_TS`] or more than [`MAX_AHEAD_MS`] after the message was stored.
    ImplausibleTs,
}

/// Messages that were not counted, by cause; printed at the end so nothing is skipped silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// See [`Skip::Undecodable`].
    pub undecodable: u64,
    /// See [`Skip::NewerVersion`].
    pub newer_version: u64,
    /// See [`Skip::BadSubject`].
    pub bad_subject: u64,
    /// See [`Skip::SubjectMismatch`].
    pub subject_mismatch: u64,
    /// See [`Skip::ImplausibleTs`].
    pub implausible_ts: u64,
}

impl Skipped {
    /// Counts one skipped message under its cause.
    pub fn note(&mut self, skip: Skip) {
        let n = match skip {
            Skip::Undecodable => &mut self.undecodable,
            Skip::NewerVersion => &mut self.newer_version,
            Skip::BadSubject => &mut self.bad_subject,
            Skip::SubjectMismatch => &mut self.subject_mismatch,
            Skip::ImplausibleTs => &mut self.implausible_ts,
        };
        *n += 1;
    }

    /// All skipped messages, whatever the cause.
    pub fn total(&self) -> u64 {
        self.undecodable
            + self.newer_version
            + self.bad_subject
            + self.subject_mismatch
            + self.implausible_ts
    }
}

/// What a recount found: the windows (ascending `start`) and what it read to find them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recount {
    /// One summary per window with at least one counted event, ascending `start`.
    pub windows: Vec<WindowSummary>,
    /// Messages read from the stream, counted or not.
    pub read: u64,
    /// Messages not counted, by cause.
    pub skipped: Skipped,
}

/// Checks one message of `BILI_EVENTS` against the counting rules and returns its event if it
/// counts: it decodes, its subject is `bili.event.<room>.<kind>` with the body's room and kind,
/// and `MIN_TS <= ts <= published_ms + MAX_AHEAD_MS` (`published_ms`: JetStream's timestamp).
pub fn admit(
    room: u64,
    subject: &str,
    payload: &[u8],
    published_ms: i64,
) -> Result<RoomEvent, Skip> {
    let ev = match bilipulse_proto::decode::<RoomEvent>(payload) {
        Ok(ev) => ev,
        Err(DecodeError::UnsupportedVersion { .. }) => return Err(Skip::NewerVersion),
        Err(DecodeError::Malformed(_)) => return Err(Skip::Undecodable),
    };
    let Ok(Subject::Event {
        room: subject_room,
        kind,
    }) = subject.parse::<Subject>()
    else {
        return Err(Skip::BadSubject);
    };
    if subject_room != room {
        return Err(Skip::BadSubject);
    }
    if ev.room != subject_room || ev.kind() != kind {
        return Err(Skip::SubjectMismatch);
    }
    if ev.ts < MIN_TS || ev.ts > published_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(Skip::ImplausibleTs);
    }
    Ok(ev)
}

/// Orders events that share a field: by event time, then by stream sequence.
type Key = (i64, u64);

/// The recount in progress: feed it every message (or every admitted event), then
/// [`Tally::finish`].
#[derive(Debug)]
pub struct Tally {
    room: u64,
    window: Window,
    range: Range,
    windows: BTreeMap<i64, Acc>,
    /// Every state-changing `live` event of the whole read, whatever its window: `live` of a
    /// window is the state after the last of these before the window's end.
    live: Vec<(Key, bool)>,
    read: u64,
    skipped: Skipped,
}

impl Tally {
    /// An empty recount of `room` in windows of `window`, keeping windows whose start is in
    /// `range`.
    pub fn new(room: u64, window: Window, range: Range) -> Tally {
        Tally {
            room,
            window,
            range,
            windows: BTreeMap::new(),
            live: Vec::new(),
            read: 0,
            skipped: Skipped::default(),
        }
    }

    /// One message as read from the stream: checked with [`admit`], then counted or skipped.
    pub fn offer(&mut self, subject: &str, payload: &[u8], published_ms: i64, seq: u64) {
        self.read += 1;
        match admit(self.room, subject, payload, published_ms) {
            Ok(ev) => self.add(&ev, seq),
            Err(skip) => self.skipped.note(skip),
        }
    }

    /// Counts one event already admitted; `seq` is its stream sequence (breaks `ts` ties).
    pub fn add(&mut self, ev: &RoomEvent, seq: u64) {
        let key = (ev.ts, seq);
        if let Payload::Live(l) = &ev.payload {
            match l.state {
                LiveState::Live => self.live.push((key, true)),
                LiveState::Preparing | LiveState::Rotation | LiveState::CutOff => {
                    self.live.push((key, false))
                }
                LiveState::RoomChange | LiveState::Unknown => {}
            }
        }
        let start = self.window.start_of(ev.ts);
        if self.range.contains(start) {
            self.windows.entry(start).or_default().add(ev, key);
        }
    }

    /// The finished recount: one summary per window that saw a counted event.
    pub fn finish(self) -> Recount {
        let Tally {
            room,
            window,
            windows,
            live,
            read,
            skipped,
            ..
        } = self;
        let windows = windows
            .into_iter()
            .map(|(start, acc)| acc.summary(room, window, start, &live))
            .collect();
        Recount {
            windows,
            read,
            skipped,
        }
    }
}

/// The latest value of each audience counter in a window, with the key it came with.
#[derive(Debug, Default)]
struct Latest {
    watched: Option<(Key, u64)>,
    online_rank: Option<(Key, u64)>,
    online_count: Option<(Key, u64)>,
    like_total: Option<(Key, u64)>,
    fans: Option<(Key, u64)>,
}

/// Keeps `value` in `slot` if it is present and comes later than what the slot holds.
fn keep_latest(slot: &mut Option<(Key, u64)>, key: Key, value: Option<u64>) {
    if let Some(v) = value
        && slot.is_none_or(|(held, _)| key > held)
    {
        *slot = Some((key, v));
    }
}

/// One window being counted: the plain counters go straight into a summary; chatters and
/// audience counters need the sets and keys below until the window is finished.
#[derive(Debug, Default)]
struct Acc {
    sum: WindowSummary,
    uids: BTreeSet<u64>,
    crcs: BTreeSet<String>,
    masked: bool,
    latest: Latest,
}

impl Acc {
    fn add(&mut self, ev: &RoomEvent, key: Key) {
        let s = &mut self.sum;
        s.events += 1;
        match &ev.payload {
            Payload::Danmaku(d) if d.is_lottery => s.lottery_danmaku += 1,
            Payload::Danmaku(d) => {
                s.danmaku += 1;
                self.uids.insert(d.uid);
                self.crcs.insert(d.uid_crc32.clone());
                self.masked |= d.masked;
            }
            Payload::Gift(g) if g.combo_summary => {}
            Payload::Gift(g) => match g.coin_type {
                CoinType::Gold => {
                    s.gifts += 1;
                    s.gift_mcny = s.gift_mcny.saturating_add(g.total_coin);
                }
                CoinType::Silver => s.free_gifts += 1,
            },
            Payload::Superchat(sc) => {
                s.superchats += 1;
                let mcny = sc.price_cny.saturating_mul(1000);
                s.superchat_mcny = s.superchat_mcny.saturating_add(mcny);
            }
            Payload::Guard(g) => {
                s.guards += 1;
                s.guard_mcny = s.guard_mcny.saturating_add(g.price_gold);
            }
            Payload::Interact(i) => match i.action {
                InteractAction::Enter => s.enters += 1,
                InteractAction::Follow
                | InteractAction::SpecialFollow
                | InteractAction::MutualFollow => s.follows += 1,
                InteractAction::Share => s.shares += 1,
                InteractAction::Like | InteractAction::Unknown => {}
            },
            Payload::Like(_) => s.likes += 1,
            Payload::Audience(a) => {
                let l = &mut self.latest;
                keep_latest(&mut l.watched, key, a.watched);
                keep_latest(&mut l.online_rank, key, a.online_rank);
                keep_latest(&mut l.online_count, key, a.online_count);
                keep_latest(&mut l.like_total, key, a.likes);
                keep_latest(&mut l.fans, key, a.fans);
            }
            // `live` depends on events before the window too; see `Tally::live`.
            Payload::Live(_) => {}
            Payload::Other(_) if is_gift_cmd(&ev.cmd) => s.coverage.undecoded_gifts += 1,
            Payload::Other(_) => {}
        }
    }

    fn summary(self, room: u64, window: Window, start: i64, live: &[(Key, bool)]) -> WindowSummary {
        let mut s = self.sum;
        s.v = SCHEMA_VERSION;
        s.room = room;
        s.window = window.to_string();
        s.start = start;
        s.end = start.saturating_add(window.millis());
        if self.masked {
            s.chatters = self.crcs.len() as u64;
            s.chatters_reliable = false;
        } else {
            s.chatters = self.uids.len() as u64;
            s.chatters_reliable = true;
        }
        s.chatters_estimated = false;
        s.chatters_error = 0.0;
        s.total_mcny = s
            .gift_mcny
            .saturating_add(s.superchat_mcny)
            .saturating_add(s.guard_mcny);
        s.gift_cny = mcny_to_cny(s.gift_mcny);
        s.superchat_cny = mcny_to_cny(s.superchat_mcny);
        s.guard_cny = mcny_to_cny(s.guard_mcny);
        s.total_cny = mcny_to_cny(s.total_mcny);
        let value = |slot: Option<(Key, u64)>| slot.map(|(_, v)| v);
        s.watched = value(self.latest.watched);
        s.online_rank = value(self.latest.online_rank);
        s.online_count = value(self.latest.online_count);
        s.like_total = value(self.latest.like_total);
        s.fans = value(self.latest.fans);
        s.live = live_before(live, s.end);
        s
    }
}

/// The live state after the last state-changing `live` event (by `(ts, seq)`) with `ts < end`.
fn live_before(live: &[(Key, bool)], end: i64) -> Option<bool> {
    let mut last: Option<(Key, bool)> = None;
    for &(key, state) in live {
        if key.0 < end && last.is_none_or(|(held, _)| key > held) {
            last = Some((key, state));
        }
    }
    last.map(|(_, state)| state)
}

/// `SEND_GIFT` or `SEND_GIFT_V2`, with or without a `:…` suffix.
fn is_gift_cmd(cmd: &str) -> bool {
    let base = cmd.split(':').next().unwrap_or("");
    base == "SEND_GIFT" || base == "SEND_GIFT_V2"
}
