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
    /// Events the ingesters had to drop (buffer overflow during a NATS outage).
    pub lost_events: u64,
}

/// Counts for one room over one tumbling event-time window `[start, end)`.
///
/// Money is in CNY (yuan, fractional) here: the windower converts Bilibili's gold coins
/// (1000 = ¥1) once, so no consumer has to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// Chat messages, lottery danmaku excluded.
    pub danmaku: u64,
    /// Lottery / activity danmaku.
    pub lottery_danmaku: u64,
    /// Distinct chatters (exact).
    pub chatters: u64,
    /// False when identities were masked during the window, so `chatters` counts CRC32s of
    /// uids rather than uids.
    pub chatters_reliable: bool,
    /// Paid (gold) gift events.
    pub gifts: u64,
    /// Value of paid gifts, CNY.
    pub gift_cny: f64,
    /// Free (silver) gift events.
    pub free_gifts: u64,
    /// Super Chats.
    pub superchats: u64,
    /// Value of Super Chats, CNY.
    pub superchat_cny: f64,
    /// Guard purchases.
    pub guards: u64,
    /// Value of guard purchases, CNY.
    pub guard_cny: f64,
    /// `gift_cny + superchat_cny + guard_cny`.
    pub total_cny: f64,
    /// Viewers who entered.
    pub enters: u64,
    /// New followers (follow, special follow, mutual follow).
    pub follows: u64,
    /// Shares.
    pub shares: u64,
    /// Likes (individual clicks reported).
    pub likes: u64,
    /// Last `watched` figure seen in the window, if any.
    pub watched: Option<u64>,
    /// Last `online_rank` figure seen in the window, if any.
    pub online_rank: Option<u64>,
    /// Last `online_count` figure seen in the window, if any.
    pub online_count: Option<u64>,
    /// Last cumulative like count seen in the window, if any.
    pub like_total: Option<u64>,
    /// Last follower count seen in the window, if any.
    pub fans: Option<u64>,
    /// Whether the room was live at the end of the window, if known.
    pub live: Option<bool>,
    /// How well the window was observed.
    pub coverage: Coverage,
}
