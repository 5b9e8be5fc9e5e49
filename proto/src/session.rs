//! [`LiveSession`]: one broadcast of a room from `LIVE` to its end, as published on
//! `bili.session.<room>` by the windower.

use serde::{Deserialize, Serialize};

/// A viewer among a session's most active chatters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TopChatter {
    /// Uid (0 when masked; then `uid_crc32` tells viewers apart).
    pub uid: u64,
    /// Bilibili's CRC32 of the uid, hex, as in [`crate::Danmaku::uid_crc32`].
    pub uid_crc32: String,
    /// Name as last seen (masked like `折***` when identities were masked).
    pub uname: String,
    /// Danmaku sent in the session (lottery danmaku excluded).
    pub count: u64,
}

/// A viewer among a session's biggest spenders.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TopSpender {
    /// Uid (0 when masked).
    pub uid: u64,
    /// Name as last seen.
    pub uname: String,
    /// Spent in the session on gifts, Super Chats and guards, milli-yuan (exact).
    pub mcny: u64,
    /// The same in CNY.
    pub cny: f64,
}

/// One live session of a room: from a `LIVE` until `PREPARING`, rotation or a cut-off, with an
/// end and a restart less than the windower's merge gap apart counted as one session.
///
/// Published while the session runs (at least every minute, `rev` counting up) and once more
/// when it ends (`end` set, `running` false). The message with the highest `rev` for an `id` is
/// the current one.
///
/// Decoding requires `v`, `room`, `id` and `start`; every other field takes its default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LiveSession {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Real room id.
    pub room: u64,
    /// Session id: `<room>:<start>`; stable across updates and windower restarts.
    pub id: String,
    /// Update number: 0 for the first publication, +1 for each later one.
    #[serde(default)]
    pub rev: u32,
    /// Start, Unix milliseconds (Bilibili's `live_time` where given, else the `LIVE` event).
    pub start: i64,
    /// End, Unix milliseconds, once the session has ended.
    #[serde(default)]
    pub end: Option<i64>,
    /// True while the session runs.
    #[serde(default)]
    pub running: bool,
    /// Event time covered so far (`end` or the latest event) minus `start`, milliseconds.
    #[serde(default)]
    pub duration_ms: i64,
    /// Ends followed by a restart within the merge gap, folded into this session.
    #[serde(default)]
    pub restarts: u32,
    /// Title, when a `ROOM_CHANGE` during the session gave one.
    #[serde(default)]
    pub title: Option<String>,
    /// Chat messages, lottery danmaku excluded.
    #[serde(default)]
    pub danmaku: u64,
    /// Distinct chatters (see [`crate::WindowSummary::chatters`] for masking).
    #[serde(default)]
    pub chatters: u64,
    /// False when identities were masked during the session.
    #[serde(default)]
    pub chatters_reliable: bool,
    /// True when `chatters` is a HyperLogLog estimate.
    #[serde(default)]
    pub chatters_estimated: bool,
    /// Relative standard error of `chatters` (0 when exact).
    #[serde(default)]
    pub chatters_error: f64,
    /// Paid gift events.
    #[serde(default)]
    pub gifts: u64,
    /// Paid gifts, milli-yuan (exact).
    #[serde(default)]
    pub gift_mcny: u64,
    /// Paid gifts, CNY.
    #[serde(default)]
    pub gift_cny: f64,
    /// Super Chats.
    #[serde(default)]
    pub superchats: u64,
    /// Super Chats, milli-yuan (exact).
    #[serde(default)]
    pub superchat_mcny: u64,
    /// Super Chats, CNY.
    #[serde(default)]
    pub superchat_cny: f64,
    /// Guard purchases.
    #[serde(default)]
    pub guards: u64,
    /// Guard purchases, milli-yuan (exact).
    #[serde(default)]
    pub guard_mcny: u64,
    /// Guard purchases, CNY.
    #[serde(default)]
    pub guard_cny: f64,
    /// All revenue, milli-yuan (exact).
    #[serde(default)]
    pub total_mcny: u64,
    /// All revenue, CNY.
    #[serde(default)]
    pub total_cny: f64,
    /// Highest `online_count` seen.
    #[serde(default)]
    pub peak_online_count: Option<u64>,
    /// Highest `online_rank` seen.
    #[serde(default)]
    pub peak_online_rank: Option<u64>,
    /// Last `watched` figure seen.
    #[serde(default)]
    pub watched: Option<u64>,
    /// The 10 most active chatters, most messages first.
    #[serde(default)]
    pub top_chatters: Vec<TopChatter>,
    /// The 10 biggest spenders, most money first.
    #[serde(default)]
    pub top_spenders: Vec<TopSpender>,
    /// True when the top lists are exact; false once more distinct viewers took part than the
    /// windower tracks one by one (then the lists come from a Space-Saving summary: every
    /// listed count is within `top_error` of the truth).
    #[serde(default)]
    pub top_exact: bool,
    /// Upper bound of the over-count of any listed chatter's `count` (0 when exact).
    #[serde(default)]
    pub top_error: u64,
}
