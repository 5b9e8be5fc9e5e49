//! Reading `BILI_EVENTS` and `BILI_SUMMARY` from the start to their current end.
//!
//! Each read is one ordered consumer (ephemeral, no acks, delivers every stored message once,
//! in stream order) filtered on one subject. The end is where the consumer reports nothing
//! pending: a recount never decides on a timer that the stream has ended, so a slow server
//! makes it slower, never wrong.

use std::collections::BTreeMap;

use async_nats::jetstream::{self, consumer};
use bilipulse_proto::{Window, WindowSummary, streams, subject};
use futures::StreamExt;

use super::{Range, RecountError, Tally, tally::Recount};

/// One message as the counting code needs it.
#[derive(Debug, Clone, Copy)]
pub struct Delivered<'a> {
    /// The subject it was published to.
    pub subject: &'a str,
    /// Its bytes.
    pub payload: &'a [u8],
    /// When JetStream stored it, Unix milliseconds.
    pub published_ms: i64,
    /// Its stream sequence.
    pub seq: u64,
}

/// Hands every message of `stream` on `filter` to `each`, oldest first, and returns how many
/// there were. Reads until the consumer has nothing pending.
pub async fn read_all(
    js: &jetstream::Context,
    stream: &'static str,
    filter: String,
    mut each: impl FnMut(Delivered<'_>),
) -> Result<u64, RecountError> {
    let read_err =
        |source: Box<dyn std::error::Error + Send + Sync>| RecountError::Read { stream, source };
    let handle = js
        .get_stream(stream)
        .await
        .map_err(|e| RecountError::NoStream {
            stream,
            source: e.into(),
        })?;
    let consumer = handle
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: filter,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| read_err(e.into()))?;
    if consumer.cached_info().num_pending == 0 {
        return Ok(0);
    }
    let mut messages = consumer.messages().await.map_err(|e| read_err(e.into()))?;
    let mut n = 0;
    loop {
        let msg = messages
            .next()
            .await
            .ok_or(RecountError::Ended { stream })?
            .map_err(|e| read_err(e.into()))?;
        let info = msg.info().map_err(read_err)?;
        let published_ms = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
        each(Delivered {
            subject: msg.subject.as_str(),
            payload: &msg.payload,
            published_ms,
            seq: info.stream_sequence,
        });
        n += 1;
        if info.pending == 0 {
            return Ok(n);
        }
    }
}

/// Recounts the windows of `room` whose start lies in `range`, from every event of the room
/// in `BILI_EVENTS` (events before `range` still decide `live`).
///
/// This is the in-process entry point, for tests of other services too: it does exactly what
/// `bilipulse recount` prints, independently of the windower.
pub async fn recount(
    js: &jetstream::Context,
    room: u64,
    window: Window,
    range: Range,
) -> Result<Recount, RecountError> {
    range.check()?;
    let mut tally = Tally::new(room, window, range);
    read_all(js, streams::EVENTS.name, subject::room_events(room), |m| {
        tally.offer(m.subject, m.payload, m.published_ms, m.seq)
    })
    .await?;
    Ok(tally.finish())
}

/// The summaries stored in `BILI_SUMMARY` for one room and window width: the current (highest
/// `rev`) summary per window start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stored {
    /// Current summary per window start, for starts in the range asked for.
    pub summaries: BTreeMap<i64, WindowSummary>,
    /// Messages read.
    pub read: u64,
    /// Messages that did not decode as a `WindowSummary` of this room and width.
    pub skipped: u64,
}

impl Stored {
    /// Takes one stored message into account: a summary of `room`/`window` replaces the one
    /// held for its start unless that has a higher `rev` (on equal `rev`, the later one wins).
    pub fn offer(&mut self, room: u64, window: Window, range: Range, payload: &[u8]) {
        self.read += 1;
        let s = match bilipulse_proto::decode::<WindowSummary>(payload) {
            Ok(s) if s.room == room && s.window == window.to_string() => s,
            _ => {
                self.skipped += 1;
                return;
            }
        };
        if !range.contains(s.start) {
            return;
        }
        if self
            .summaries
            .get(&s.start)
            .is_none_or(|held| s.rev >= held.rev)
        {
            self.summaries.insert(s.start, s);
        }
    }
}

/// Reads the current stored summaries of `room` in windows of `window` with start in `range`
/// from `BILI_SUMMARY` (`bili.summary.<room>.<window>`).
pub async fn stored_summaries(
    js: &jetstream::Context,
    room: u64,
    window: Window,
    range: Range,
) -> Result<Stored, RecountError> {
    range.check()?;
    let mut stored = Stored::default();
    read_all(
        js,
        streams::SUMMARY.name,
        subject::summary(room, window),
        |m| stored.offer(room, window, range, m.payload),
    )
    .await?;
    Ok(stored)
}
