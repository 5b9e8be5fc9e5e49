//! `DANMU_MSG` (with any `:…` suffix) and `DANMU_MSG_MIRROR`: chat messages.
//!
//! The payload is the positional `info` array (protocol spec §5.1). It is read in one pass by
//! hand-written sequence visitors that pick the indices we use and skip the rest, so no JSON
//! tree is built for the ~2 KB of user decoration each message carries.

use std::borrow::Cow;
use std::fmt;

use bilipulse_proto::{Danmaku, Medal, Payload};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Ctx;
use super::json::{CowStr, IdText, Int, OptInt, drain_seq};
use super::medal::medal;
use super::time::Stamp;

/// The fields of `info` we use.
#[derive(Debug, Default)]
pub(crate) struct DanmuInfo {
    attrs: Attrs,
    text: String,
    uid: Option<Int>,
    uname: String,
    medal: Option<Medal>,
    user_level: Option<Int>,
    guard_level: Option<Int>,
    wealth_level: Option<Int>,
    /// `info[9].ts`, Unix seconds.
    check_ts: Option<Int>,
}

/// `info[0]`.
#[derive(Debug, Default)]
struct Attrs {
    /// [4] send time, Unix ms.
    ts_ms: Option<Int>,
    /// [5] rnd / dmid.
    rnd: Option<Int>,
    /// [7] CRC32 of the sender uid, hex.
    uid_crc32: Option<IdText>,
    /// [9] 0 normal, 2 lottery / activity.
    msg_type: Option<Int>,
    /// [12] 0 text, 1 emoticon, 2 voice.
    dm_type: Option<Int>,
    /// [13].emoticon_unique
    emoticon: Option<String>,
    /// [15].extra.id_str
    id_str: Option<String>,
}

/// Converts `info` into the danmaku event.
pub(crate) fn event(ctx: &Ctx<'_>, info: DanmuInfo, mirror: bool) -> bilipulse_proto::RoomEvent {
    let a = &info.attrs;
    let ts = ctx.ts(&[
        a.ts_ms.map(|v| Stamp::Ms(v.i64())),
        info.check_ts.map(|v| Stamp::Secs(v.i64())),
    ]);
    let native = match a.id_str.as_deref() {
        Some(id) if !id.is_empty() => format!("dm:{id}"),
        _ => format!(
            "dm:{}:{}:{}",
            a.ts_ms.unwrap_or_default().0,
            a.rnd.unwrap_or_default().0,
            a.uid_crc32.as_ref().map_or("", |c| c.0.as_str())
        ),
    };
    let uid = info.uid.u64_or0();
    let emoticon = match a.dm_type {
        Some(t) if t.0 == 1 => a.emoticon.clone().filter(|e| !e.is_empty()),
        _ => None,
    };
    let payload = Payload::Danmaku(Danmaku {
        uid,
        masked: uid == 0,
        uname: info.uname,
        uid_crc32: info.attrs.uid_crc32.map(|c| c.0).unwrap_or_default(),
        text: info.text,
        medal: info.medal,
        user_level: info.user_level.u32_or0(),
        wealth_level: info.wealth_level.u32_or0(),
        guard_level: info.guard_level.u8_or0(),
        is_lottery: info.attrs.msg_type.is_some_and(|t| t.0 == 2),
        emoticon,
        mirror,
    });
    ctx.event(ts, Some(&native), payload)
}

/// Reads elements of a sequence by index; returns `None` once the sequence is exhausted.
macro_rules! next {
    ($seq:ident, $ty:ty) => {
        $seq.next_element::<$ty>()?
    };
}

impl<'de> Deserialize<'de> for DanmuInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DanmuInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the DANMU_MSG info array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DanmuInfo, A::Error> {
                let mut out = DanmuInfo::default();
                let missing = |n| de::Error::invalid_length(n, &"at least 3 info elements");
                out.attrs = next!(seq, Attrs).ok_or_else(|| missing(0))?;
                out.text = next!(seq, String).ok_or_else(|| missing(1))?;
                let user: User = next!(seq, User).ok_or_else(|| missing(2))?;
                (out.uid, out.uname) = (user.uid, user.uname);
                let mut i = 3;
                loop {
                    let more = match i {
                        3 => next!(seq, Option<MedalArr>).map(|m| out.medal = m.and_then(|m| m.0)),
                        4 => next!(seq, FirstInt).map(|v| out.user_level = v.0),
                        7 => next!(seq, Option<Int>).map(|v| out.guard_level = v),
                        9 => next!(seq, Option<Check>).map(|v| out.check_ts = v.and_then(|c| c.ts)),
                        16 => next!(seq, FirstInt).map(|v| out.wealth_level = v.0),
                        _ => next!(seq, IgnoredAny).map(|_| ()),
                    };
                    if more.is_none() {
                        return Ok(out);
                    }
                    i += 1;
                }
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the DANMU_MSG info[0] array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attrs, A::Error> {
                let mut a = Attrs::default();
                let mut i = 0;
                loop {
                    let more = match i {
                        4 => next!(seq, Option<Int>).map(|v| a.ts_ms = v),
                        5 => next!(seq, Option<Int>).map(|v| a.rnd = v),
                        7 => next!(seq, Option<IdText>).map(|v| a.uid_crc32 = v),
                        9 => next!(seq, Option<Int>).map(|v| a.msg_type = v),
                        12 => next!(seq, Option<Int>).map(|v| a.dm_type = v),
                        13 => next!(seq, Emoticon).map(|v| a.emoticon = v.0),
                        15 => next!(seq, ModeInfo).map(|v| a.id_str = v.0),
                        _ => next!(seq, IgnoredAny).map(|_| ()),
                    };
                    if more.is_none() {
                        return Ok(a);
                    }
                    i += 1;
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// `info[2]`: `[uid, uname, …]`.
struct User {
    uid: Option<Int>,
    uname: String,
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = User;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the DANMU_MSG user array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<User, A::Error> {
                let uid = next!(seq, Option<Int>).flatten();
                let uname = next!(seq, Option<String>).flatten().unwrap_or_default();
                drain_seq(&mut seq)?;
                Ok(User { uid, uname })
            }
        }
        d.deserialize_seq(V)
    }
}

/// `info[3]`: `[level, name, anchor_uname, room, color, special, 0, border, start, end,
/// guard_level, is_lighted, anchor_uid]`, `[]` when the sender wears none.
struct MedalArr(Option<Medal>);

impl<'de> Deserialize<'de> for MedalArr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MedalArr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the DANMU_MSG medal array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MedalArr, A::Error> {
                let (mut level, mut name, mut room) = (None, None, None);
                let (mut guard, mut lit, mut ruid) = (None, None, None);
                let mut i = 0;
                loop {
                    let more = match i {
                        0 => next!(seq, Option<Int>).map(|v| level = v),
                        1 => next!(seq, Option<String>).map(|v| name = v),
                        3 => next!(seq, Option<Int>).map(|v| room = v),
                        10 => next!(seq, Option<Int>).map(|v| guard = v),
                        11 => next!(seq, Option<Int>).map(|v| lit = v),
                        12 => next!(seq, Option<Int>).map(|v| ruid = v),
                        _ => next!(seq, IgnoredAny).map(|_| ()),
                    };
                    if more.is_none() {
                        break;
                    }
                    i += 1;
                }
                Ok(MedalArr(medal(
                    level.u32_or0(),
                    name.unwrap_or_default(),
                    room.u64_or0(),
                    ruid.u64_or0(),
                    guard.u8_or0(),
                    lit.u64_or0() != 0,
                )))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The first element of an array of numbers (`info[4]` user level, `info[16]` wealth level);
/// `None` for `[]` or `null`.
struct FirstInt(Option<Int>);

impl<'de> Deserialize<'de> for FirstInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array starting with a number, or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<FirstInt, E> {
                Ok(FirstInt(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstInt, A::Error> {
                let first = next!(seq, Option<Int>).flatten();
                drain_seq(&mut seq)?;
                Ok(FirstInt(first))
            }
        }
        d.deserialize_any(V)
    }
}

/// `info[9]`: `{"ts": <unix s>, "ct": "<hex>"}`.
#[derive(Deserialize)]
struct Check {
    #[serde(default)]
    ts: Option<Int>,
}

/// `info[0][13]`: `"{}"` for text, an object with `emoticon_unique` for emoticons (older
/// captures put that object in a JSON string).
struct Emoticon(Option<String>);

#[derive(Deserialize)]
struct EmoticonObj {
    #[serde(default)]
    emoticon_unique: Option<String>,
}

impl<'de> Deserialize<'de> for Emoticon {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Emoticon;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("emoticon options")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Emoticon, A::Error> {
                let obj = EmoticonObj::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Emoticon(obj.emoticon_unique))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Emoticon, E> {
                // "{}" in nearly every message: not worth a parse.
                if v.len() <= 2 {
                    return Ok(Emoticon(None));
                }
                let obj: Option<EmoticonObj> = serde_json::from_str(v).ok();
                Ok(Emoticon(obj.and_then(|o| o.emoticon_unique)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Emoticon, E> {
                Ok(Emoticon(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Emoticon, E> {
                Ok(Emoticon(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Emoticon, E> {
                Ok(Emoticon(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `info[0][15]`: `{"extra": "<JSON string>", "mode", "user": {…}}`; we want `extra.id_str`.
/// An unreadable `extra` only costs the native id (the fallback id is used), so it is not an
/// error.
struct ModeInfo(Option<String>);

impl<'de> Deserialize<'de> for ModeInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ModeInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the mode_info object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModeInfo, A::Error> {
                let mut id = None;
                while let Some(k) = map.next_key::<CowStr<'de>>()? {
                    if k.0 == "extra" {
                        // Kept escaped: usually the id is found without unescaping ~1 KB.
                        let raw = map.next_value::<&'de RawValue>()?;
                        id = extra_id_str(raw.get());
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ModeInfo(id))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ModeInfo, E> {
                Ok(ModeInfo(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<ModeInfo, E> {
                Ok(ModeInfo(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ModeInfo, E> {
                Ok(ModeInfo(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ModeInfo, E> {
                Ok(ModeInfo(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `id_str` from the raw (still escaped) JSON value of `extra`.
///
/// Fast path: find `\"id_str\":\"` in the escaped text. A match there can only be a real key
/// in `extra` (quotes inside `extra`'s own strings are escaped twice, `\\\"`, so user text
/// cannot fake it; no nested object of `extra` has an `id_str` in any capture), and ids are
/// plain hex, so no unescaping is needed. Anything unusual
/// (spacing, escapes in the id, no match) takes the slow path: unescape and parse.
fn extra_id_str(raw: &str) -> Option<String> {
    const KEY: &str = r#"\"id_str\":\""#;
    if let Some(at) = raw.find(KEY) {
        let rest = &raw[at + KEY.len()..];
        if let Some(end) = rest.find('\\')
            && rest[end..].starts_with(r#"\""#)
            && rest[..end].bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Some(rest[..end].to_owned());
        }
    }
    let text: Option<CowStr<'_>> = serde_json::from_str(raw).ok()?;
    id_str(&text?.0)
}

/// `id_str` from the unescaped `extra` JSON text.
fn id_str(extra: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Extra<'a> {
        #[serde(borrow, default)]
        id_str: Option<CowStr<'a>>,
    }
    let e: Extra<'_> = serde_json::from_str(extra).ok()?;
    e.id_str.map(|s| match s.0 {
        Cow::Borrowed(b) => b.to_owned(),
        Cow::Owned(o) => o,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_str_fast_and_slow_paths_agree() {
        let extra = r#"{"content":"say \"id_str\":\"fake\"","id_str":"0174f43f8bf8"}"#;
        let raw = serde_json::to_string(extra).unwrap();
        assert_eq!(extra_id_str(&raw).as_deref(), Some("0174f43f8bf8"));
        assert_eq!(id_str(extra).as_deref(), Some("0174f43f8bf8"));
        // Spacing defeats the fast path; the slow path still finds it.
        let spaced = serde_json::to_string(r#"{"id_str" : "abc"}"#).unwrap();
        assert_eq!(extra_id_str(&spaced).as_deref(), Some("abc"));
        assert_eq!(extra_id_str("null"), None);
        assert_eq!(extra_id_str(r#""not json""#), None);
    }
}
