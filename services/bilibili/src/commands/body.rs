//! One-pass parsing of a command body: the envelope (`cmd`, `send_time`, top-level fields)
//! and the command's payload (`info` / `data`) straight into the typed struct of its command.
//!
//! Bilibili puts `cmd` first, so by the time `data` or `info` is reached the command is known
//! and its payload is deserialised directly (no JSON tree, no second pass). A body whose
//! payload precedes `cmd` is handled by keeping the payload as a borrowed raw slice and
//! parsing it once the command is known.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::audience::{AudienceData, Counter};
use super::danmaku::DanmuInfo;
use super::gift::{ComboSend, SendGift};
use super::guard::{GuardFlat, ToastV2};
use super::interact::{InteractWord, LikeClick};
use super::json::{CowStr, LooseInt, LooseStr};
use super::live::{CutOffV2, RoomChange};
use super::pb::{self, PbData};
use super::superchat::SuperChatData;

/// What a command is, after stripping any `:…` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    Danmaku,
    DanmakuMirror,
    SendGift,
    SendGiftV2,
    ComboSend,
    SuperChat,
    GuardBuy,
    UserToast,
    UserToastV2,
    InteractWord,
    InteractWordV2,
    LikeClick,
    Audience(Counter),
    Live,
    Preparing,
    RoomChange,
    CutOff,
    CutOffV2,
    Unmodelled,
}

/// Which top-level key holds a command's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Info,
    Data,
}

impl Cmd {
    pub(crate) fn classify(cmd: &str) -> Cmd {
        // `DANMU_MSG:4:0:2:2:2:0` and friends: parameters after the first colon.
        let base = cmd.split_once(':').map_or(cmd, |(b, _)| b);
        match base {
            "DANMU_MSG" => Cmd::Danmaku,
            "DANMU_MSG_MIRROR" => Cmd::DanmakuMirror,
            "SEND_GIFT" => Cmd::SendGift,
            "SEND_GIFT_V2" => Cmd::SendGiftV2,
            "COMBO_SEND" => Cmd::ComboSend,
            "SUPER_CHAT_MESSAGE" | "SUPER_CHAT_MESSAGE_JPN" => Cmd::SuperChat,
            "GUARD_BUY" => Cmd::GuardBuy,
            "USER_TOAST_MSG" => Cmd::UserToast,
            "USER_TOAST_MSG_V2" => Cmd::UserToastV2,
            "INTERACT_WORD" => Cmd::InteractWord,
            "INTERACT_WORD_V2" => Cmd::InteractWordV2,
            "LIKE_INFO_V3_CLICK" => Cmd::LikeClick,
            "WATCHED_CHANGE" => Cmd::Audience(Counter::Watched),
            "ONLINE_RANK_COUNT" => Cmd::Audience(Counter::OnlineRankCount),
            "LIKE_INFO_V3_UPDATE" => Cmd::Audience(Counter::LikeTotal),
            "ROOM_REAL_TIME_MESSAGE_UPDATE" => Cmd::Audience(Counter::RoomRealTime),
            "LIVE" => Cmd::Live,
            "PREPARING" => Cmd::Preparing,
            "ROOM_CHANGE" => Cmd::RoomChange,
            "CUT_OFF" => Cmd::CutOff,
            "CUT_OFF_V2" => Cmd::CutOffV2,
            _ => Cmd::Unmodelled,
        }
    }

    fn slot(self) -> Option<Slot> {
        match self {
            Cmd::Danmaku | Cmd::DanmakuMirror => Some(Slot::Info),
            Cmd::Live | Cmd::Preparing | Cmd::CutOff | Cmd::Unmodelled => None,
            _ => Some(Slot::Data),
        }
    }
}

/// A command's payload, typed.
#[derive(Debug)]
pub(crate) enum Data {
    Absent,
    Danmu(Box<DanmuInfo>),
    SendGift(Box<SendGift>),
    SendGiftV2(Box<pb::SendGiftV2>),
    Combo(Box<ComboSend>),
    SuperChat(Box<SuperChatData>),
    Guard(Box<GuardFlat>),
    ToastV2(Box<ToastV2>),
    Interact(Box<InteractWord>),
    InteractV2(Box<pb::InteractWordV2>),
    Like(Box<LikeClick>),
    Audience(Box<AudienceData>),
    RoomChange(Box<RoomChange>),
    CutOffV2(Box<CutOffV2>),
}

/// Top-level fields of the legacy commands that carry no `data`.
#[derive(Debug, Default)]
pub(crate) struct Top {
    /// `LIVE.live_time`, Unix seconds.
    pub(crate) live_time: Option<i64>,
    /// `PREPARING.round` (1 = rotation).
    pub(crate) round: Option<i64>,
    /// `CUT_OFF.msg`.
    pub(crate) msg: Option<String>,
}

/// A parsed body.
#[derive(Debug)]
pub(crate) struct Body<'a> {
    pub(crate) cmd: Cow<'a, str>,
    pub(crate) kind: Cmd,
    pub(crate) data: Data,
    /// Envelope `send_time`, Unix ms.
    pub(crate) send_time: Option<i64>,
    pub(crate) top: Top,
}

/// Deserialises the payload of one command.
struct DataSeed(Cmd);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Data, D::Error> {
        fn boxed<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Box<T>, D::Error> {
            T::deserialize(d).map(Box::new)
        }
        Ok(match self.0 {
            Cmd::Danmaku | Cmd::DanmakuMirror => Data::Danmu(boxed(d)?),
            Cmd::SendGift => Data::SendGift(boxed(d)?),
            Cmd::SendGiftV2 => Data::SendGiftV2(Box::new(PbData::deserialize(d)?.0)),
            Cmd::ComboSend => Data::Combo(boxed(d)?),
            Cmd::SuperChat => Data::SuperChat(boxed(d)?),
            Cmd::GuardBuy | Cmd::UserToast => Data::Guard(boxed(d)?),
            Cmd::UserToastV2 => Data::ToastV2(boxed(d)?),
            Cmd::InteractWord => Data::Interact(boxed(d)?),
            Cmd::InteractWordV2 => Data::InteractV2(Box::new(PbData::deserialize(d)?.0)),
            Cmd::LikeClick => Data::Like(boxed(d)?),
            Cmd::Audience(_) => Data::Audience(boxed(d)?),
            Cmd::RoomChange => Data::RoomChange(boxed(d)?),
            Cmd::CutOffV2 => Data::CutOffV2(boxed(d)?),
            Cmd::Live | Cmd::Preparing | Cmd::CutOff | Cmd::Unmodelled => {
                IgnoredAny::deserialize(d)?;
                Data::Absent
            }
        })
    }
}

/// The top-level keys we look at.
enum Key {
    Cmd,
    Info,
    Data,
    SendTime,
    LiveTime,
    Round,
    Msg,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "cmd" => Key::Cmd,
                    "info" => Key::Info,
                    "data" => Key::Data,
                    "send_time" => Key::SendTime,
                    "live_time" => Key::LiveTime,
                    "round" => Key::Round,
                    "msg" => Key::Msg,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

fn i64_of(v: LooseInt) -> Option<i64> {
    v.0.and_then(|i| i64::try_from(i).ok())
}

impl<'de> Deserialize<'de> for Body<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
                let mut cmd: Option<(Cow<'de, str>, Cmd)> = None;
                let mut data = Data::Absent;
                let mut pending: Vec<(Slot, &'de RawValue)> = Vec::new();
                let mut send_time = None;
                let mut top = Top::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Cmd => {
                            if cmd.is_some() {
                                return Err(de::Error::duplicate_field("cmd"));
                            }
                            let c = map.next_value::<CowStr<'de>>()?.0;
                            let kind = Cmd::classify(&c);
                            cmd = Some((c, kind));
                        }
                        Key::Info | Key::Data => {
                            let slot = if matches!(key, Key::Info) {
                                Slot::Info
                            } else {
                                Slot::Data
                            };
                            match cmd {
                                Some((_, kind)) if kind.slot() == Some(slot) => {
                                    data = map.next_value_seed(DataSeed(kind))?;
                                }
                                Some(_) => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                                None => pending.push((slot, map.next_value::<&'de RawValue>()?)),
                            }
                        }
                        Key::SendTime => send_time = i64_of(map.next_value()?),
                        Key::LiveTime => top.live_time = i64_of(map.next_value()?),
                        Key::Round => top.round = i64_of(map.next_value()?),
                        Key::Msg => top.msg = map.next_value::<LooseStr>()?.0,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let Some((cmd, kind)) = cmd else {
                    return Err(de::Error::missing_field("cmd"));
                };
                for (slot, raw) in pending {
                    if kind.slot() == Some(slot) {
                        let mut de = serde_json::Deserializer::from_str(raw.get());
                        data = DataSeed(kind)
                            .deserialize(&mut de)
                            .map_err(de::Error::custom)?;
                    }
                }
                Ok(Body {
                    cmd,
                    kind,
                    data,
                    send_time,
                    top,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// What a body that failed the typed parse still is: enough to tell a broken command (kept
/// as `other`) from bytes that are not a command at all.
pub(crate) enum Shape {
    NotObject,
    NoCmd,
    Command { cmd: String, send_time: Option<i64> },
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let (mut cmd, mut send_time) = (None, None);
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Cmd if cmd.is_none() => cmd = map.next_value::<LooseStr>()?.0,
                        Key::SendTime => send_time = i64_of(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(match cmd {
                    Some(cmd) => Shape::Command { cmd, send_time },
                    None => Shape::NoCmd,
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                super::json::drain_seq(&mut seq)?;
                Ok(Shape::NotObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
        }
        d.deserialize_any(V)
    }
}
