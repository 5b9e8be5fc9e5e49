//! [`WindowSummary`]: what happened in one room during one event-time window, as published on
//! `bili.summary.<room>.<window>` by the windower.

use serde::{Deserialize, Serialize};

/// How well the ingesters observed the room during a window. Statistics over a window whose
/// coverage is incomplete are lower bounds, and dashboards say so.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Coverage {
    /// Milliseconds of the window during which an ingester was connected and authenticated.
    pub connected_ms: u64,
    /// Milliseconds of the window during which identities were masked (anonymous connection).
    pub masked_ms: u64,
    /// Reconnects observed during the window.
    pub reconnects: u64,
    /// Events that arrived after the window had closed and were therefore not counted in it.
    pub late_events: u64,
    /// Events the ingesters had to drop (buffer overflow during a NATS outage), from the
    /// growth of `events_lost` in the room's status reports during the window.
    pub lost_events: u64,
    /// Gift commands that reached the bus undecoded (kept as `other` events with a gift `cmd`,
    /// e.g. a `SEND_GIFT_V2` form an anonymous connection cannot read). While non-zero, the
    /// window's gift figures and `total_cny` are lower bounds.
    pub undecoded_gifts: u64,
    /// True when the window was observed in full: connected for all of it, nothing lost and
    /// no gift left undecoded. A false here means the counts are lower bounds.
    pub complete: bool,
}

/// Counts for one room over one tumbling event-time window `[start, end)`.
///
/// Money is given twice: in CNY (yuan, `f64`, for display) and exactly in milli-yuan (`*_mcny`,
/// integers; 1 mcny = 1 Bilibili gold coin, 1000 = ¥1). Sums are made from the integers, so they
/// are exact to the fen; the `f64`s are those integers divided by 1000.
///
/// A window is published again with a higher `rev` when late events change it; the summary with
/// the highest `rev` for a `(room, window, start)` is the current one.
///
/// Decoding requires `v`, `room`, `window`, `start` and `end`, which say what the summary is
/// about; every other field takes its default when absent, so messages from older writers
/// still decode.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WindowSummary {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Real room id.
    pub room: u64,
    /// Window width as in the subject (`"1s"`, `"10s"`, `"1m"` …).
    pub window: String,
    /// Window start, Unix milliseconds (aligned to the epoch).
    pub start: i64,
    /// Window end (exclusive), Unix milliseconds.
    pub end: i64,
    /// Revision: 0 for the first publication, +1 for each re-publication caused by late events.
    #[serde(default)]
    pub rev: u32,
    /// Events of the room counted in this window, every kind.
    #[serde(default)]
    pub events: u64,
    /// Chat messages, lottery danmaku excluded.
    #[serde(default)]
    pub danmaku: u64,
    /// Lottery / activity danmaku.
    #[serde(default)]
    pub lottery_danmaku: u64,
    /// Distinct chatters (exact).
    #[serde(default)]
    pub chatters: u64,
    /// False when identities were masked during the window, so `chatters` counts CRC32s of
    /// uids rather than uids.
    #[serde(default)]
    pub chatters_reliable: bool,
    /// True when `chatters` is a HyperLogLog estimate rather than an exact count (only for wide
    /// windows whose set of chatters grew past the windower's exact-set limit).
    #[serde(default)]
    pub chatters_estimated: bool,
    /// Relative standard error of `chatters` (0 when exact; about 0.016 when estimated).
    #[serde(default)]
    pub chatters_error: f64,
    /// Paid (gold) gift events.
    #[serde(default)]
    pub gifts: u64,
    /// Value of paid gifts, CNY.
    #[serde(default)]
    pub gift_cny: f64,
    /// Value of paid gifts, milli-yuan (exact).
    #[serde(default)]
    pub gift_mcny: u64,
    /// Free (silver) gift events.
    #[serde(default)]
    pub free_gifts: u64,
    /// Super Chats.
    #[serde(default)]
    pub superchats: u64,
    /// Value of Super Chats, CNY.
    #[serde(default)]
    pub superchat_cny: f64,
    /// Value of Super Chats, milli-yuan (exact).
    #[serde(default)]
    pub superchat_mcny: u64,
    /// Guard purchases.
    #[serde(default)]
    pub guards: u64,
    /// Value of guard purchases, CNY.
    #[serde(default)]
    pub guard_cny: f64,
    /// Value of guard purchases, milli-yuan (exact).
    #[serde(default)]
    pub guard_mcny: u64,
    /// `gift_cny + superchat_cny + guard_cny`.
    #[serde(default)]
    pub total_cny: f64,
    /// `gift_mcny + superchat_mcny + guard_mcny`.
    #[serde(default)]
    pub total_mcny: u64,
    /// Viewers who entered.
    #[serde(default)]
    pub enters: u64,
    /// New followers (follow, special follow, mutual follow).
    #[serde(default)]
    pub follows: u64,
    /// Shares.
    #[serde(default)]
    pub shares: u64,
    /// Likes (individual clicks reported).
    #[serde(default)]
    pub likes: u64,
    /// Last `watched` figure seen in the window, if any.
    #[serde(default)]
    pub watched: Option<u64>,
    /// Last `online_rank` figure seen in the window, if any.
    #[serde(default)]
    pub online_rank: Option<u64>,
    /// Last `online_count` figure seen in the window, if any.
    #[serde(default)]
    pub online_count: Option<u64>,
    /// Last cumulative like count seen in the window, if any.
    #[serde(default)]
    pub like_total: Option<u64>,
    /// Last follower count seen in the window, if any.
    #[serde(default)]
    pub fans: Option<u64>,
    /// Whether the room was live at the end of the window, if known.
    #[serde(default)]
    pub live: Option<bool>,
    /// How well the window was observed.
    #[serde(default)]
    pub coverage: Coverage,
}

/// Milli-yuan (Bilibili gold coins) as CNY for display.
pub fn mcny_to_cny(mcny: u64) -> f64 {
    mcny as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mcny` as the exact decimal of yuan, the way Rust prints an `f64` (`52`, `15.5`).
    fn decimal(mcny: u64) -> String {
        let (yuan, frac) = (mcny / 1000, mcny % 1000);
        let frac = format!("{frac:03}");
        match frac.trim_end_matches('0') {
            "" => yuan.to_string(),
            f => format!("{yuan}.{f}"),
        }
    }

    /// The CNY figures are for display, but displayed they must be the exact amount: every
    /// milli-yuan value a room can plausibly reach prints as its decimal and converts back.
    #[test]
    fn mcny_to_cny_prints_exactly_and_converts_back() {
        let small = 0..=1_000_000_u64;
        let large = (0..=6).flat_map(|e| {
            let base = 10_u64.pow(9 + e);
            [base - 1, base, base + 1, base + 500, base * 7 + 123]
        });
        for mcny in small.chain(large) {
            let cny = mcny_to_cny(mcny);
            assert_eq!(cny.to_string(), decimal(mcny), "{mcny} mcny");
            assert_eq!((cny * 1000.0).round() as u64, mcny, "{mcny} mcny");
        }
        assert_eq!(mcny_to_cny(52_000), 52.0);
        assert_eq!(mcny_to_cny(15_500), 15.5);
        assert_eq!(mcny_to_cny(100), 0.1);
    }

    #[test]
    fn a_summary_without_its_new_fields_is_not_known_complete() {
        let c = Coverage::default();
        assert!(
            !c.complete,
            "absent `complete` must not claim a full observation"
        );
        assert_eq!(c.undecoded_gifts, 0);
    }
}
