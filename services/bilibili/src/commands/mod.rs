//! Command bodies (the JSON of one op-5 packet) → [`RoomEvent`]s.
//!
//! [`normalize`] turns one body into events: usually one, one per gift for a `SEND_GIFT_V2`
//! batch. Nothing is dropped: a command that is not modelled becomes an `other` event with its
//! raw body, and so does a modelled command whose fields have an unexpected shape (logged at
//! debug and reported by [`normalize_detailed`], for the caller's metric). Only bytes
//! that are not a JSON object with a string `cmd` are an error ([`CommandError`]); the caller
//! still keeps those bytes on the raw stream.
//!
//! Parsing is one pass with borrowed, typed visitors per command (see `body`); no JSON tree is
//! built. Command suffixes are stripped for dispatch (`DANMU_MSG:4:0:2:2:2:0` is a danmaku) but
//! [`RoomEvent::cmd`] keeps the command exactly as received. Money stays in Bilibili's units:
//! gold coins (1000 = ¥1) for gifts and guards, whole yuan for Super Chats.
//!
//! # Commands
//!
//! | cmd | kind | notes |
//! |---|---|---|
//! | `DANMU_MSG[:…]`, `DANMU_MSG_MIRROR` | danmaku | `info` array; mirror sets `mirror` |
//! | `SEND_GIFT` | gift | JSON |
//! | `SEND_GIFT_V2` | gift | `data.pb`; one event per `gift_list` item |
//! | `COMBO_SEND` | gift | `combo_summary: true`, never revenue; `price` = total / num |
//! | `SUPER_CHAT_MESSAGE`, `SUPER_CHAT_MESSAGE_JPN` | superchat | the JPN copy dedups with it |
//! | `GUARD_BUY`, `USER_TOAST_MSG`, `USER_TOAST_MSG_V2` | guard | one purchase = one id |
//! | `INTERACT_WORD`, `INTERACT_WORD_V2` | interact | V2 from `data.pb` |
//! | `LIKE_INFO_V3_CLICK` | like | |
//! | `WATCHED_CHANGE`, `ONLINE_RANK_COUNT`, `LIKE_INFO_V3_UPDATE`, `ROOM_REAL_TIME_MESSAGE_UPDATE` | audience | only that command's counters are set |
//! | `LIVE`, `PREPARING`, `ROOM_CHANGE`, `CUT_OFF`, `CUT_OFF_V2` | live | `PREPARING` with `round: 1` = rotation |
//! | `ONLINE_RANK_V3` | other | its protobuf is only the top list ([`pb::OnlineRankV3`]), no count |
//! | `LOG_IN_NOTICE` | other | the client watches for it ([`peek_cmd`]) to flag the connection as identity-masked |
//! | anything else | other | raw body kept |
//!
//! Across kinds: `masked` is `uid == 0` (Bilibili zeroes uids on anonymous connections and
//! masks names with `*`; no account has uid 0). `medal` is the medal the user *wears*
//! (`info[3]`, `medal_info`, `fans_medal`, `SEND_GIFT_V2` field 8); a zeroed medal is `None`.
//! Numbers beyond the target type saturate (redacted samples use `9999999999`).
//!
//! # Event time (`ts`, Unix ms)
//!
//! The command's own timestamp, when plausible (see `time`: not before 2009, not more than an
//! hour after receipt); otherwise the envelope's `send_time` (ms, present on 2025+ pushes);
//! otherwise the receive time.
//!
//! | cmd | own timestamp, in order of preference |
//! |---|---|
//! | danmaku | `info[0][4]` (ms), `info[9].ts` (s) |
//! | `SEND_GIFT` | `data.timestamp` (s) |
//! | `SEND_GIFT_V2` | item field 10 `timestamp` (s) |
//! | superchat | `data.start_time` (s), `data.ts` (s) |
//! | `GUARD_BUY`, `USER_TOAST_MSG` | `data.start_time` (s), which is the purchase second |
//! | `USER_TOAST_MSG_V2` | `data.guard_info.start_time` (s) |
//! | `INTERACT_WORD` | `data.trigger_time` (ns), `data.timestamp` (s) (`score` is not a time) |
//! | `INTERACT_WORD_V2` | field 15 `trigger_time` (ns), field 7 `timestamp` (s) |
//! | `LIVE` | `live_time` (s) |
//! | `CUT_OFF_V2` | `data.timestamp` (s) |
//! | all others | none: `send_time`, else receive time |
//!
//! # Dedup ids
//!
//! Built with [`bilipulse_proto::dedup_id`] from Bilibili's own identifiers where a command
//! has one, so two ingesters (or a repeated delivery) produce the same id:
//!
//! | kind | native id |
//! |---|---|
//! | danmaku | `dm:<id_str>` (`info[0][15].extra`, a JSON string), else `dm:<info[0][4]>:<info[0][5]>:<info[0][7]>` (send ms, rnd, uid crc) |
//! | gift (`SEND_GIFT`, V2 item) | `gift:<tid>`, else `gift:<batch_combo_id>:<gift_id>:<super_batch_gift_num>:<timestamp>`; in a V2 message with several items, `#<index>` is appended unless the item's tid is unique in the message (and a body hash stands in for a missing id), so items never collapse into one |
//! | gift (`COMBO_SEND`) | `combo:<batch_combo_id>:<batch_combo_num>` |
//! | superchat | `sc:<id>` (number or string id, same text) |
//! | guard | `guard:<uid>:<start_time>` for all three messages of a purchase (needs a uid; masked buyers fall back to the hash) |
//! | everything else | none: the XXH3 hash of the body |
//!
//! Within one connection [`RecentIds`] drops repeats before publishing, so even core-NATS
//! subscribers see a purchase or Super Chat once.

mod audience;
mod body;
mod danmaku;
mod gift;
mod guard;
mod interact;
mod json;
mod live;
mod medal;
pub mod pb;
mod recent;
mod superchat;
mod time;
mod uinfo;

use bilipulse_proto::{Other, Payload, RoomEvent, SCHEMA_VERSION, dedup_id};
use serde::Deserialize;

use body::{Body, Cmd, Data, Shape};
pub use recent::{MAX_RECENT_IDS, RecentIds};
use time::Stamp;

/// Why a body is not a command at all. Bodies that are commands never fail: unknown or
/// malformed ones become `other` events.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The bytes are not valid JSON.
    #[error("command body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("command body is not a JSON object")]
    NotObject,
    /// An object without a string `cmd`.
    #[error("command body has no string `cmd`")]
    NoCmd,
}

/// The outcome of [`normalize_detailed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The events; never empty.
    pub events: Vec<RoomEvent>,
    /// Set when the command is modelled but its fields had an unexpected shape, so it was kept
    /// as an `other` event instead: the reason, for logs and tests.
    pub malformed: Option<String>,
}

/// Normalises one command body into room events (see the module docs for the rules).
///
/// `recv_ms` is the receive time (Unix ms), `src` the ingester id written into each event.
pub fn normalize(
    room: u64,
    body: &[u8],
    recv_ms: i64,
    src: &str,
) -> Result<Vec<RoomEvent>, CommandError> {
    normalize_detailed(room, body, recv_ms, src).map(|n| n.events)
}

/// [`normalize`], also saying whether a modelled command had to be kept as `other`: a rising
/// count of those means Bilibili changed a command, so callers export it as a metric (the
/// ingester's `commands_reshaped_total`).
pub fn normalize_detailed(
    room: u64,
    body: &[u8],
    recv_ms: i64,
    src: &str,
) -> Result<Normalized, CommandError> {
    let (cmd, send_time, reason) = match serde_json::from_slice::<Body<'_>>(body) {
        Ok(parsed) => {
            let ctx = Ctx {
                room,
                body,
                recv_ms,
                src,
                cmd: &parsed.cmd,
                send_time: parsed.send_time,
            };
            match build(&ctx, parsed.kind, parsed.data, &parsed.top) {
                Ok(events) => {
                    return Ok(Normalized {
                        events,
                        malformed: None,
                    });
                }
                Err(m) => (parsed.cmd.into_owned(), parsed.send_time, m.0),
            }
        }
        // Not a well-typed command: find out whether it is a command at all.
        Err(typed) => match serde_json::from_slice::<Shape>(body) {
            Err(e) => return Err(CommandError::NotJson(e)),
            Ok(Shape::NotObject) => return Err(CommandError::NotObject),
            Ok(Shape::NoCmd) => return Err(CommandError::NoCmd),
            Ok(Shape::Command { cmd, send_time }) => (cmd, send_time, typed.to_string()),
        },
    };
    tracing::debug!(room, cmd = %cmd, reason = %reason, "modelled command kept as other");
    let ctx = Ctx {
        room,
        body,
        recv_ms,
        src,
        cmd: &cmd,
        send_time,
    };
    Ok(Normalized {
        events: vec![ctx.other()],
        malformed: Some(reason),
    })
}

/// A modelled command whose content does not fit its model.
#[derive(Debug)]
pub(crate) struct Malformed(String);

impl Malformed {
    pub(crate) fn new(reason: String) -> Self {
        Malformed(reason)
    }
}

fn build(
    ctx: &Ctx<'_>,
    kind: Cmd,
    data: Data,
    top: &body::Top,
) -> Result<Vec<RoomEvent>, Malformed> {
    let one = |e: RoomEvent| Ok(vec![e]);
    match (kind, data) {
        (Cmd::Danmaku, Data::Danmu(i)) => one(danmaku::event(ctx, *i, false)),
        (Cmd::DanmakuMirror, Data::Danmu(i)) => one(danmaku::event(ctx, *i, true)),
        (Cmd::SendGift, Data::SendGift(d)) => one(gift::send_gift(ctx, *d)?),
        (Cmd::SendGiftV2, Data::SendGiftV2(m)) => gift::send_gift_v2(ctx, *m),
        (Cmd::ComboSend, Data::Combo(d)) => one(gift::combo_send(ctx, *d)?),
        (Cmd::SuperChat, Data::SuperChat(d)) => one(superchat::event(ctx, *d)?),
        (Cmd::GuardBuy | Cmd::UserToast, Data::Guard(d)) => one(guard::flat(ctx, *d)?),
        (Cmd::UserToastV2, Data::ToastV2(d)) => one(guard::toast_v2(ctx, *d)?),
        (Cmd::InteractWord, Data::Interact(d)) => one(interact::interact_word(ctx, *d)),
        (Cmd::InteractWordV2, Data::InteractV2(m)) => one(interact::interact_word_v2(ctx, *m)),
        (Cmd::LikeClick, Data::Like(d)) => one(interact::like_click(ctx, *d)),
        (Cmd::Audience(which), Data::Audience(d)) => one(audience::event(ctx, which, *d)?),
        (Cmd::Live, _) => one(live::live(ctx, top)),
        (Cmd::Preparing, _) => one(live::preparing(ctx, top)),
        (Cmd::RoomChange, Data::RoomChange(d)) => one(live::room_change(ctx, *d)),
        (Cmd::CutOff, _) => one(live::cut_off(ctx, top)),
        (Cmd::CutOffV2, Data::CutOffV2(d)) => one(live::cut_off_v2(ctx, *d)),
        (Cmd::Unmodelled, _) => one(ctx.other()),
        (kind, _) => Err(Malformed::new(format!("{kind:?} body has no payload"))),
    }
}

/// What every event of one body shares.
pub(crate) struct Ctx<'a> {
    room: u64,
    body: &'a [u8],
    recv_ms: i64,
    src: &'a str,
    cmd: &'a str,
    send_time: Option<i64>,
}

impl Ctx<'_> {
    /// Event time from the command's own candidates, then `send_time`, then receipt.
    pub(crate) fn ts(&self, own: &[Option<Stamp>]) -> i64 {
        time::first_plausible(own, self.recv_ms)
            .or_else(|| time::first_plausible(&[self.send_time.map(Stamp::Ms)], self.recv_ms))
            .unwrap_or(self.recv_ms)
    }

    pub(crate) fn event(&self, ts: i64, native: Option<&str>, payload: Payload) -> RoomEvent {
        RoomEvent {
            v: SCHEMA_VERSION,
            room: self.room,
            cmd: self.cmd.to_owned(),
            ts,
            recv: self.recv_ms,
            id: dedup_id(self.room, native, self.body),
            src: self.src.to_owned(),
            payload,
        }
    }

    /// The body-hash part of a hashed dedup id (`x<16 hex>`), for composing per-item ids.
    pub(crate) fn hash_id(&self) -> String {
        let full = dedup_id(self.room, None, self.body);
        match full.split_once(':') {
            Some((_, h)) => h.to_owned(),
            None => full,
        }
    }

    fn other(&self) -> RoomEvent {
        // Valid UTF-8 in practice: `from_utf8` checks it word by word, the lossy
        // conversion only runs for a body that is not.
        let raw = match std::str::from_utf8(self.body) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(self.body).into_owned(),
        };
        self.event(
            self.ts(&[]),
            None,
            Payload::Other(Other {
                raw,
                unknown_kind: None,
            }),
        )
    }
}

/// The `cmd` of a body without parsing the rest, e.g. to spot `LOG_IN_NOTICE` (identities
/// masked from now on) before normalising.
///
/// Fast path for the usual `{"cmd":"…"` prefix; otherwise a skim of the top-level keys.
/// `None` when the body is not an object with a plain string `cmd`.
pub fn peek_cmd(body: &[u8]) -> Option<&str> {
    const PREFIX: &[u8] = br#"{"cmd":""#;
    if let Some(rest) = body.strip_prefix(PREFIX)
        && let Some(end) = rest.iter().position(|&b| b == b'"' || b == b'\\')
        && rest[end] == b'"'
    {
        return std::str::from_utf8(&rest[..end]).ok();
    }
    #[derive(Deserialize)]
    struct Peek<'a> {
        cmd: &'a str,
    }
    serde_json::from_slice::<Peek<'_>>(body).ok().map(|p| p.cmd)
}

/// The room id a body names itself (`roomid` / `room_id`, at the top level or in `data`,
/// number or string), for bodies that arrive without a connection context. `None` when it
/// names none or the value is not a number (redacted `"xxx"`).
pub fn room_hint(body: &[u8]) -> Option<u64> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Hint {
        roomid: json::LooseInt,
        room_id: json::LooseInt,
        data: json::LooseObj<Ids>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Ids {
        roomid: json::LooseInt,
        room_id: json::LooseInt,
    }
    let h: Hint = serde_json::from_slice(body).ok()?;
    let data = h.data.0.unwrap_or_default();
    [h.roomid, h.room_id, data.roomid, data.room_id]
        .into_iter()
        .filter_map(|v| v.0)
        .find_map(|v| u64::try_from(v).ok().filter(|&r| r > 0))
}
