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
    /// Paid (gold) gift events.
    #[serde(default)]
    pub gifts: u64,
    /// Value of paid gifts, CNY.
    #[serde(default)]
    pub gift_cny: f64,
    /// Free (silver) gift events.
    #[serde(default)]
    pub free_gifts: u64,
    /// Super Chats.
    #[serde(default)]
    pub superchats: u64,
    /// Value of Super Chats, CNY.
    #[serde(default)]
    pub superchat_cny: f64,
    /// Guard purchases.
    #[serde(default)]
    pub guards: u64,
    /// Value of guard purchases, CNY.
    #[serde(default)]
    pub guard_cny: f64,
    /// `gift_cny + superchat_cny + guard_cny`.
    #[serde(default)]
    pub total_cny: f64,
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
