//! [`RoomEvent`]: one normalised Bilibili live-room command, as published on
//! `bili.event.<room>.<kind>`.
//!
//! On the wire an event is one flat MessagePack map: the envelope fields (`v`, `room`, `kind`,
//! `cmd`, `ts`, `recv`, `id`, `src`) followed by the fields of its kind. Optional fields are
//! always present and `nil` when unknown, so every consumer sees the same keys.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// One normalised room event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomEvent {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub v: u16,
    /// Bilibili's real (long) room id; never a short id.
    pub room: u64,
    /// The Bilibili command this event came from, exactly as received (suffixes such as
    /// `DANMU_MSG:4:0:2:2:2:0` kept), so a consumer can tell `SEND_GIFT` from `SEND_GIFT_V2`.
    pub cmd: String,
    /// Event time, Unix milliseconds, taken from Bilibili's own timestamp where the command has
    /// one, otherwise equal to `recv`.
    pub ts: i64,
    /// Time the ingester received the packet, Unix milliseconds.
    pub recv: i64,
    /// Deduplication id, also sent as `Nats-Msg-Id` (see [`crate::dedup_id`]).
    pub id: String,
    /// Id of the ingester that observed the event (pod name).
    pub src: String,
    /// The kind-specific fields; serialised flat, tagged by `kind`.
    #[serde(flatten)]
    pub payload: Payload,
}

impl RoomEvent {
    /// The kind of this event, as used in its subject.
    pub fn kind(&self) -> Kind {
        self.payload.kind()
    }
}

/// The kind-specific part of a [`RoomEvent`], tagged on the wire by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// A chat message (`DANMU_MSG`, `DANMU_MSG_MIRROR`).
    Danmaku(Danmaku),
    /// A gift (`SEND_GIFT`, `SEND_GIFT_V2` one event per gift in the batch, `COMBO_SEND`).
    Gift(Gift),
    /// A paid Super Chat (`SUPER_CHAT_MESSAGE`).
    Superchat(SuperChat),
    /// A guard (大航海) purchase (`USER_TOAST_MSG_V2`, `USER_TOAST_MSG`, `GUARD_BUY`: one
    /// purchase is one event, whichever of the three arrives first).
    Guard(Guard),
    /// Enter, follow, share (`INTERACT_WORD`, `INTERACT_WORD_V2`).
    Interact(Interact),
    /// One viewer liked the stream (`LIKE_INFO_V3_CLICK`).
    Like(Like),
    /// Audience counters (`WATCHED_CHANGE`, `ONLINE_RANK_COUNT`, `LIKE_INFO_V3_UPDATE`,
    /// `ROOM_REAL_TIME_MESSAGE_UPDATE`).
    Audience(Audience),
    /// Room state (`LIVE`, `PREPARING`, `ROOM_CHANGE`, `CUT_OFF`, `CUT_OFF_V2`).
    Live(Live),
    /// Every command not modelled above, with its raw body: nothing is dropped.
    Other(Other),
}

impl Payload {
    /// The kind tag of this payload.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Danmaku(_) => Kind::Danmaku,
            Payload::Gift(_) => Kind::Gift,
            Payload::Superchat(_) => Kind::Superchat,
            Payload::Guard(_) => Kind::Guard,
            Payload::Interact(_) => Kind::Interact,
            Payload::Like(_) => Kind::Like,
            Payload::Audience(_) => Kind::Audience,
            Payload::Live(_) => Kind::Live,
            Payload::Other(_) => Kind::Other,
        }
    }
}

/// The event kinds; the last token of `bili.event.<room>.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// See [`Danmaku`].
    Danmaku,
    /// See [`Gift`].
    Gift,
    /// See [`SuperChat`].
    Superchat,
    /// See [`Guard`].
    Guard,
    /// See [`Interact`].
    Interact,
    /// See [`Like`].
    Like,
    /// See [`Audience`].
    Audience,
    /// See [`Live`].
    Live,
    /// See [`Other`].
    Other,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 9] = [
        Kind::Danmaku,
        Kind::Gift,
        Kind::Superchat,
        Kind::Guard,
        Kind::Interact,
        Kind::Like,
        Kind::Audience,
        Kind::Live,
        Kind::Other,
    ];

    /// The wire name (`"danmaku"`, `"gift"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Danmaku => "danmaku",
            Kind::Gift => "gift",
            Kind::Superchat => "superchat",
            Kind::Guard => "guard",
            Kind::Interact => "interact",
            Kind::Like => "like",
            Kind::Audience => "audience",
            Kind::Live => "live",
            Kind::Other => "other",
        }
    }

    /// Parses a wire name; `None` for a name this version does not know.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fan medal (粉丝牌) worn by a viewer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Medal {
    /// Medal level.
    pub level: u32,
    /// Medal name (chosen by the streamer it belongs to).
    pub name: String,
    /// Real room id of the streamer the medal belongs to (0 when Bilibili omits it).
    pub room: u64,
    /// Uid of the streamer the medal belongs to (0 when Bilibili omits it).
    pub anchor_uid: u64,
    /// Guard level tied to the medal: 0 none, 1 总督, 2 提督, 3 舰长.
    pub guard_level: u8,
    /// Whether the medal is lit (worn actively).
    pub lit: bool,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Danmaku {
    /// Sender uid; 0 when Bilibili masks identities (anonymous connection).
    pub uid: u64,
    /// Sender name; masked like `折***` when identities are masked.
    pub uname: String,
    /// Bilibili's CRC32 of the sender uid, hex (`info[0][7]`). Present even when identities are
    /// masked, so distinct chatters can still be counted (with CRC32's collision rate).
    pub uid_crc32: String,
    /// The message text (for emoticon danmaku, the emoticon's name).
    pub text: String,
    /// The fan medal the sender wears, if any.
    pub medal: Option<Medal>,
    /// Sender's user level (UL).
    pub user_level: u32,
    /// Sender's wealth (荣耀) level.
    pub wealth_level: u32,
    /// Sender's guard level in this room: 0 none, 1 总督, 2 提督, 3 舰长.
    pub guard_level: u8,
    /// True for lottery / activity danmaku (auto-sent by 天选 and similar), which statistics
    /// count separately from real chat.
    pub is_lottery: bool,
    /// Emoticon id (`emoticon_unique`) when the message is an emoticon.
    pub emoticon: Option<String>,
    /// True when the sender's identity was masked by Bilibili (uid 0 and `*` in the name).
    pub masked: bool,
    /// True for `DANMU_MSG_MIRROR`: a message mirrored from a linked room.
    pub mirror: bool,
}

/// Currency of a gift's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinType {
    /// 金瓜子: paid; 1000 gold coins = ¥1.
    #[default]
    Gold,
    /// 银瓜子: free; never revenue.
    Silver,
}

/// The blind box (盲盒) a gift came out of.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BlindBox {
    /// Gift id of the box that was bought.
    pub gift_id: u64,
    /// Name of the box.
    pub gift_name: String,
    /// Unit price of the box, gold coins.
    pub price: u64,
}

/// A gift.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Gift {
    /// Sender uid (0 when masked).
    pub uid: u64,
    /// Sender name.
    pub uname: String,
    /// Bilibili gift id.
    pub gift_id: u64,
    /// Gift name.
    pub gift_name: String,
    /// Number of gifts in this event.
    pub num: u64,
    /// Unit price, in `coin_type` coins.
    pub price: u64,
    /// Gold (paid) or silver (free).
    pub coin_type: CoinType,
    /// What this event is worth, in `coin_type` coins: for gold 1000 = ¥1. For blind boxes this
    /// is the amount paid for the boxes, not the value of what came out.
    pub total_coin: u64,
    /// Set when the gift came out of a blind box.
    pub blind_box: Option<BlindBox>,
    /// Bilibili's batch/combo id grouping repeated sends ("" when none).
    pub combo_id: String,
    /// Sender's guard level in this room.
    pub guard_level: u8,
    /// The fan medal the sender wears, if any.
    pub medal: Option<Medal>,
    /// True for `COMBO_SEND`: a summary of gifts that were already reported one by one.
    /// Never add it to revenue.
    pub combo_summary: bool,
    /// True when the sender's identity was masked.
    pub masked: bool,
}

/// A Super Chat (醒目留言).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SuperChat {
    /// Bilibili's Super Chat id (named `sc_id` because `id` is the envelope's dedup id).
    pub sc_id: u64,
    /// Sender uid.
    pub uid: u64,
    /// Sender name.
    pub uname: String,
    /// Price in CNY (whole yuan, as Bilibili states it).
    pub price_cny: u64,
    /// The message.
    pub message: String,
    /// How long it stays pinned, seconds.
    pub duration_s: u64,
    /// Sender's guard level in this room.
    pub guard_level: u8,
    /// The fan medal the sender wears, if any.
    pub medal: Option<Medal>,
}

/// A guard (大航海) purchase or renewal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Guard {
    /// Buyer uid.
    pub uid: u64,
    /// Buyer name.
    pub uname: String,
    /// 1 总督, 2 提督, 3 舰长.
    pub level: u8,
    /// Number of `unit`s bought.
    pub num: u32,
    /// Unit of `num`, as Bilibili states it (normally `月`).
    pub unit: String,
    /// Price in gold coins (1000 = ¥1): the amount actually paid when it comes from a toast
    /// (`USER_TOAST_MSG*`), the list price when it comes from `GUARD_BUY`.
    pub price_gold: u64,
    /// Bilibili's payment id ("" for `GUARD_BUY`, which carries none).
    pub payflow_id: String,
}

/// What an [`Interact`] viewer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractAction {
    /// Entered the room (msg_type 1).
    #[default]
    Enter,
    /// Followed the streamer (2).
    Follow,
    /// Shared the room (3).
    Share,
    /// Special follow (特别关注, 4).
    SpecialFollow,
    /// Mutual follow (互粉, 5).
    MutualFollow,
    /// Like (6).
    Like,
    /// A msg_type this version does not know (kept in `msg_type`).
    #[serde(other)]
    Unknown,
}

impl InteractAction {
    /// Maps Bilibili's `msg_type`.
    pub fn from_msg_type(t: u64) -> InteractAction {
        match t {
            1 => InteractAction::Enter,
            2 => InteractAction::Follow,
            3 => InteractAction::Share,
            4 => InteractAction::SpecialFollow,
            5 => InteractAction::MutualFollow,
            6 => InteractAction::Like,
            _ => InteractAction::Unknown,
        }
    }
}

/// A viewer entered, followed or shared.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Interact {
    /// Viewer uid (0 when masked).
    pub uid: u64,
    /// Viewer name.
    pub uname: String,
    /// What the viewer did.
    pub action: InteractAction,
    /// Bilibili's raw `msg_type`.
    pub msg_type: u32,
    /// The fan medal the viewer wears, if any.
    pub medal: Option<Medal>,
    /// True when the viewer's identity was masked.
    pub masked: bool,
}

/// One viewer's like (点赞).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Like {
    /// Viewer uid (0 when masked).
    pub uid: u64,
    /// Viewer name.
    pub uname: String,
    /// True when the viewer's identity was masked.
    pub masked: bool,
}

/// Audience counters. Each command carries some of them; the others are `nil`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Audience {
    /// People who watched this session, cumulative (`WATCHED_CHANGE.num`).
    pub watched: Option<u64>,
    /// High-energy (高能) users (`ONLINE_RANK_COUNT.count`); capped by Bilibili.
    pub online_rank: Option<u64>,
    /// Online users (`ONLINE_RANK_COUNT.online_count`); capped by Bilibili.
    pub online_count: Option<u64>,
    /// Likes this session, cumulative (`LIKE_INFO_V3_UPDATE.click_count`).
    pub likes: Option<u64>,
    /// Followers of the streamer (`ROOM_REAL_TIME_MESSAGE_UPDATE.fans`).
    pub fans: Option<u64>,
    /// Fan-club size (`ROOM_REAL_TIME_MESSAGE_UPDATE.fans_club`).
    pub fans_club: Option<u64>,
}

/// What happened to the room's broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// The stream started (`LIVE`).
    #[default]
    Live,
    /// The stream ended (`PREPARING`).
    Preparing,
    /// The stream ended and rotation (轮播) began (`PREPARING` with `round: 1`).
    Rotation,
    /// The stream was cut by Bilibili's moderators (`CUT_OFF`, `CUT_OFF_V2`).
    CutOff,
    /// Title or area changed (`ROOM_CHANGE`); the broadcast state itself is unchanged.
    RoomChange,
    /// A state this version does not know.
    #[serde(other)]
    Unknown,
}

/// A room state change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Live {
    /// What happened.
    pub state: LiveState,
    /// When the stream started, Unix seconds (`LIVE.live_time`), if known.
    pub live_time: Option<i64>,
    /// Room title (`ROOM_CHANGE`), if given.
    pub title: Option<String>,
    /// Area name (`ROOM_CHANGE`), if given.
    pub area: Option<String>,
    /// Bilibili's message (cut-off reason), if given.
    pub message: Option<String>,
}

/// A command bilibili does not model (yet), kept whole.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Other {
    /// The command body exactly as received: JSON text.
    pub raw: String,
    /// Set only by decoders: the `kind` of an event written by a newer schema that this
    /// version does not know. Never written by the ingester.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_kind: Option<String>,
}

// === impl Deserialize for RoomEvent ===
//
// Hand-written rather than derived: the derive for an internally tagged, flattened enum fails on
// a kind it does not know, and the contract promises that unknown kinds decode as `Other`.

impl<'de> Deserialize<'de> for RoomEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = rmpv::Value::deserialize(deserializer)?;
        let rmpv::Value::Map(entries) = value else {
            return Err(de::Error::invalid_type(
                de::Unexpected::Other("a non-map value"),
                &"a map of event fields",
            ));
        };
        let mut fields: BTreeMap<String, rmpv::Value> = BTreeMap::new();
        for (k, v) in entries {
            if let rmpv::Value::String(s) = k
                && let Some(s) = s.into_str()
            {
                fields.insert(s, v);
            }
        }
        fn take<T: de::DeserializeOwned, E: de::Error>(
            fields: &mut BTreeMap<String, rmpv::Value>,
            name: &'static str,
        ) -> Result<T, E> {
            let v = fields.remove(name).ok_or_else(|| E::missing_field(name))?;
            rmpv::ext::from_value(v).map_err(|e| E::custom(format_args!("field `{name}`: {e}")))
        }
        let v: u16 = take(&mut fields, "v")?;
        let room: u64 = take(&mut fields, "room")?;
        let kind: String = take(&mut fields, "kind")?;
        let cmd: String = fields
            .remove("cmd")
            .map(rmpv::ext::from_value)
            .transpose()
            .map_err(|e| D::Error::custom(format_args!("field `cmd`: {e}")))?
            .unwrap_or_default();
        let ts: i64 = take(&mut fields, "ts")?;
        let recv: i64 = take(&mut fields, "recv")?;
        let id: String = take(&mut fields, "id")?;
        let src: String = take(&mut fields, "src")?;
        let rest = rmpv::Value::Map(
            fields
                .into_iter()
                .map(|(k, v)| (rmpv::Value::from(k), v))
                .collect(),
        );
        // The kind's fields go back through rmp-serde rather than `rmpv::ext::from_value`:
        // rmpv's value deserializer cannot read enums written as strings (`"share"`, `"gold"`),
        // which is how every unit variant of the contract is encoded.
        fn body<T: de::DeserializeOwned, E: de::Error>(
            rest: &rmpv::Value,
            kind: &str,
        ) -> Result<T, E> {
            let mut buf = Vec::new();
            rmpv::encode::write_value(&mut buf, rest)
                .map_err(|e| E::custom(format_args!("{kind} fields: {e}")))?;
            crate::codec::from_slice(&buf)
                .map_err(|e| E::custom(format_args!("{kind} fields: {e}")))
        }
        let payload = match Kind::parse(&kind) {
            Some(Kind::Danmaku) => Payload::Danmaku(body(&rest, &kind)?),
            Some(Kind::Gift) => Payload::Gift(body(&rest, &kind)?),
            Some(Kind::Superchat) => Payload::Superchat(body(&rest, &kind)?),
            Some(Kind::Guard) => Payload::Guard(body(&rest, &kind)?),
            Some(Kind::Interact) => Payload::Interact(body(&rest, &kind)?),
            Some(Kind::Like) => Payload::Like(body(&rest, &kind)?),
            Some(Kind::Audience) => Payload::Audience(body(&rest, &kind)?),
            Some(Kind::Live) => Payload::Live(body(&rest, &kind)?),
            Some(Kind::Other) => Payload::Other(body(&rest, &kind)?),
            None => {
                // A newer kind's fields are not ours to judge: keep what fits `Other`.
                let mut other: Other = body::<Other, D::Error>(&rest, &kind).unwrap_or_default();
                other.unknown_kind = Some(kind);
                Payload::Other(other)
            }
        };
        Ok(RoomEvent {
            v,
            room,
            cmd,
            ts,
            recv,
            id,
            src,
            payload,
        })
    }
}
