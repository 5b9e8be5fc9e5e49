//! [`WindowAgg`]: the running totals of one room over one window, folded event by event and
//! turned into a [`WindowSummary`] when the window is released.
//!
//! The definitions of every field are those of `proto/README.md` ("WindowSummary: how each
//! field is counted"); `bilipulse recount` implements them a second time, independently.

use bilipulse_proto::{
    CoinType, Coverage, InteractAction, Payload, RoomEvent, SCHEMA_VERSION, WindowSummary,
    mcny_to_cny, subject::Window,
};
use opentelemetry::trace::SpanContext;
use serde::{Deserialize, Serialize};

use crate::distinct::Distinct;

/// The last value of an audience counter in event-time order: `(ts, stream sequence, value)`.
pub type Latest = Option<(i64, u64, u64)>;

/// Keeps the value with the greatest `(ts, seq)`.
pub fn keep_latest(slot: &mut Latest, ts: i64, seq: u64, value: Option<u64>) {
    if let Some(v) = value
        && slot.is_none_or(|(t, s, _)| (ts, seq) > (t, s))
    {
        *slot = Some((ts, seq, v));
    }
}

/// Running totals of one window.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowAgg {
    /// Events counted, every kind.
    pub events: u64,
    /// Non-lottery danmaku.
    pub danmaku: u64,
    /// Lottery danmaku.
    pub lottery: u64,
    /// Distinct uids of non-lottery danmaku.
    pub uids: Distinct,
    /// Distinct uid CRC32s of non-lottery danmaku (used once any is masked).
    pub crcs: Distinct,
    /// True once a non-lottery danmaku of the window was masked.
    pub any_masked: bool,
    /// Gold gift events.
    pub gifts: u64,
    /// Gold gift value, mcny.
    pub gift_mcny: u64,
    /// Silver gift events.
    pub free_gifts: u64,
    /// Super Chats.
    pub superchats: u64,
    /// Super Chat value, mcny.
    pub superchat_mcny: u64,
    /// Guard purchases.
    pub guards: u64,
    /// Guard value, mcny.
    pub guard_mcny: u64,
    /// Enters.
    pub enters: u64,
    /// Follows of any kind.
    pub follows: u64,
    /// Shares.
    pub shares: u64,
    /// Likes.
    pub likes: u64,
    /// Last `watched`.
    pub watched: Latest,
    /// Last `online_rank`.
    pub online_rank: Latest,
    /// Last `online_count`.
    pub online_count: Latest,
    /// Last cumulative likes.
    pub like_total: Latest,
    /// Last follower count.
    pub fans: Latest,
    /// Gift commands that arrived undecoded.
    pub undecoded_gifts: u64,
    /// Events beyond the revision horizon of their own window, reported here.
    pub late_events: u64,
    /// Trace contexts of the sampled events counted since the window was last published.
    /// Not checkpointed: a trace is a diagnostic, and a window taken over or reloaded from its
    /// checkpoint just publishes without one.
    #[serde(skip)]
    pub sampled: SampledEvents,
}

/// The trace contexts (W3C `traceparent` of the ingester's `ingest.event` spans) of sampled
/// events a window counted, so its summary's `window.close` span can continue their trace.
///
/// Bounded to [`SampledEvents::MAX`]: a busy window at a high sample ratio must not grow
/// without limit, and a span with a handful of links says as much as one with thousands.
/// Events past the bound are counted in [`SampledEvents::overflow`], not remembered. Empty
/// (the common case) it holds no allocation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SampledEvents {
    contexts: Vec<SpanContext>,
    overflow: u64,
}

impl SampledEvents {
    /// Most contexts remembered per window.
    pub const MAX: usize = 8;

    /// Remembers `cx` if there is room; the first one stays first (it becomes the parent).
    pub fn remember(&mut self, cx: &SpanContext) {
        if self.contexts.len() < Self::MAX {
            self.contexts.push(cx.clone());
        } else {
            self.overflow += 1;
        }
    }

    /// The remembered contexts, in the order the events were counted.
    pub fn contexts(&self) -> &[SpanContext] {
        &self.contexts
    }

    /// Sampled events counted but not remembered (past [`SampledEvents::MAX`]).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// True when no sampled event was counted.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }
}

/// The viewer key of a danmaku's sender in the CRC32 space: Bilibili's hex CRC parsed, or a
/// hash of whatever string came instead.
pub fn crc_key(crc: &str) -> u64 {
    u32::from_str_radix(crc, 16)
        .map(u64::from)
        .unwrap_or_else(|_| xxhash_rust::xxh3::xxh3_64(crc.as_bytes()) | (1 << 63))
}

/// True for an `other` event that is a gift command the ingester could not decode.
pub fn is_undecoded_gift(ev: &RoomEvent) -> bool {
    if !matches!(ev.payload, Payload::Other(_)) || !ev.cmd.starts_with("SEND_GIFT") {
        return false;
    }
    let base = ev.cmd.split_once(':').map_or(ev.cmd.as_str(), |(b, _)| b);
    matches!(base, "SEND_GIFT" | "SEND_GIFT_V2")
}

/// What folding needs from an event beyond its fields, computed once per event rather than
/// once per window width.
#[derive(Debug, Clone, Copy)]
pub struct Derived {
    /// [`crc_key`] of a danmaku's `uid_crc32` (0 for other kinds).
    pub crc: u64,
    /// [`is_undecoded_gift`].
    pub undecoded_gift: bool,
}

impl Derived {
    /// Derives from `ev`.
    pub fn of(ev: &RoomEvent) -> Derived {
        Derived {
            crc: match &ev.payload {
                Payload::Danmaku(d) => crc_key(&d.uid_crc32),
                _ => 0,
            },
            undecoded_gift: is_undecoded_gift(ev),
        }
    }
}

impl WindowAgg {
    /// Folds one event in. `limit` is the exact distinct-set limit for this window's width.
    pub fn fold(&mut self, ev: &RoomEvent, seq: u64, limit: Option<usize>, derived: Derived) {
        self.events += 1;
        match &ev.payload {
            Payload::Danmaku(d) if d.is_lottery => self.lottery += 1,
            Payload::Danmaku(d) => {
                self.danmaku += 1;
                self.uids.insert(d.uid, limit);
                self.crcs.insert(derived.crc, limit);
                self.any_masked |= d.masked;
            }
            Payload::Gift(g) if g.combo_summary => {}
            Payload::Gift(g) => match g.coin_type {
                CoinType::Gold => {
                    self.gifts += 1;
                    self.gift_mcny += g.total_coin;
                }
                CoinType::Silver => self.free_gifts += 1,
            },
            Payload::Superchat(s) => {
                self.superchats += 1;
                self.superchat_mcny += s.price_cny.saturating_mul(1000);
            }
            Payload::Guard(g) => {
                self.guards += 1;
                self.guard_mcny += g.price_gold;
            }
            Payload::Interact(i) => match i.action {
                InteractAction::Enter => self.enters += 1,
                InteractAction::Follow
                | InteractAction::SpecialFollow
                | InteractAction::MutualFollow => self.follows += 1,
                InteractAction::Share => self.shares += 1,
                InteractAction::Like | InteractAction::Unknown => {}
            },
            Payload::Like(_) => self.likes += 1,
            Payload::Audience(a) => {
                keep_latest(&mut self.watched, ev.ts, seq, a.watched);
                keep_latest(&mut self.online_rank, ev.ts, seq, a.online_rank);
                keep_latest(&mut self.online_count, ev.ts, seq, a.online_count);
                keep_latest(&mut self.like_total, ev.ts, seq, a.likes);
                keep_latest(&mut self.fans, ev.ts, seq, a.fans);
            }
            Payload::Live(_) => {}
            Payload::Other(_) => {
                if derived.undecoded_gift {
                    self.undecoded_gifts += 1;
                }
            }
        }
    }

    /// True when anything at all was counted (events or late events).
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.late_events == 0
    }

    /// The summary of this window, given what the coverage tracker and the live-state timeline
    /// say about it.
    pub fn summary(
        &self,
        room: u64,
        window: Window,
        start: i64,
        rev: u32,
        live: Option<bool>,
        mut coverage: Coverage,
    ) -> WindowSummary {
        let chatters = if self.any_masked {
            &self.crcs
        } else {
            &self.uids
        };
        let total = self.gift_mcny + self.superchat_mcny + self.guard_mcny;
        coverage.late_events = self.late_events;
        coverage.undecoded_gifts = self.undecoded_gifts;
        coverage.complete = coverage.connected_ms >= window.millis() as u64
            && coverage.lost_events == 0
            && coverage.undecoded_gifts == 0;
        WindowSummary {
            v: SCHEMA_VERSION,
            room,
            window: window.to_string(),
            start,
            end: start.saturating_add(window.millis()),
            rev,
            events: self.events,
            danmaku: self.danmaku,
            lottery_danmaku: self.lottery,
            chatters: chatters.count(),
            chatters_reliable: !self.any_masked,
            chatters_estimated: chatters.is_estimate(),
            chatters_error: chatters.error(),
            gifts: self.gifts,
            gift_cny: mcny_to_cny(self.gift_mcny),
            gift_mcny: self.gift_mcny,
            free_gifts: self.free_gifts,
            superchats: self.superchats,
            superchat_cny: mcny_to_cny(self.superchat_mcny),
            superchat_mcny: self.superchat_mcny,
            guards: self.guards,
            guard_cny: mcny_to_cny(self.guard_mcny),
            guard_mcny: self.guard_mcny,
            total_cny: mcny_to_cny(total),
            total_mcny: total,
            enters: self.enters,
            follows: self.follows,
            shares: self.shares,
            likes: self.likes,
            watched: self.watched.map(|l| l.2),
            online_rank: self.online_rank.map(|l| l.2),
            online_count: self.online_count.map(|l| l.2),
            like_total: self.like_total.map(|l| l.2),
            fans: self.fans.map(|l| l.2),
            live,
            coverage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::span_context as cx;

    #[test]
    fn at_most_eight_contexts_are_remembered_and_the_first_stays_first() {
        let mut m = SampledEvents::default();
        assert!(m.is_empty());
        for n in 1..=20 {
            m.remember(&cx(n));
        }
        assert_eq!(m.contexts().len(), SampledEvents::MAX);
        assert_eq!(m.contexts()[0], cx(1), "the first event becomes the parent");
        assert_eq!(m.contexts()[7], cx(8));
        assert_eq!(m.overflow(), 12, "the rest are counted, not kept");
    }

    #[test]
    fn sampled_contexts_are_not_checkpointed() {
        let mut agg = WindowAgg {
            events: 3,
            ..WindowAgg::default()
        };
        agg.sampled.remember(&cx(1));
        let bytes = rmp_serde::to_vec_named(&agg).expect("encodes");
        let back: WindowAgg = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back.events, 3);
        assert!(back.sampled.is_empty());
        let without = rmp_serde::to_vec_named(&WindowAgg {
            events: 3,
            ..WindowAgg::default()
        })
        .expect("encodes");
        assert_eq!(
            bytes, without,
            "the checkpoint bytes do not change with traces"
        );
    }
}
