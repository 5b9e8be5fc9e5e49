//! Lenient JSON primitives for Bilibili's loosely typed fields.
//!
//! Bilibili sends the same field as a number in one command and a string in another (`uid`,
//! `roomid`, Super Chat `id`), uses `null` for "none", and ships integers beyond 2^53. These
//! types accept every form seen in real captures and refuse anything else, so a changed shape
//! surfaces as a parse error (and the body is kept as an `other` event) instead of a wrong value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// An integer sent as a JSON number or as a string of digits.
///
/// Stored as `i128` so every JSON integer (negative `rnd`, uids above `i64::MAX`) fits; the
/// accessors saturate when narrowing because a value out of range is a placeholder
/// (`9999999999` in redacted samples), not something to fail the whole command over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Int(pub i128);

impl Int {
    pub(crate) fn u64(self) -> u64 {
        self.0.clamp(0, u64::MAX as i128) as u64
    }
    pub(crate) fn i64(self) -> i64 {
        self.0.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
    pub(crate) fn u32(self) -> u32 {
        self.0.clamp(0, u32::MAX as i128) as u32
    }
    pub(crate) fn u8(self) -> u8 {
        self.0.clamp(0, u8::MAX as i128) as u8
    }
}

/// `Option<Int>` helpers, since nearly every number is optional.
pub(crate) trait OptInt {
    fn u64_or0(self) -> u64;
    fn u32_or0(self) -> u32;
    fn u8_or0(self) -> u8;
}

impl OptInt for Option<Int> {
    fn u64_or0(self) -> u64 {
        self.map_or(0, Int::u64)
    }
    fn u32_or0(self) -> u32 {
        self.map_or(0, Int::u32)
    }
    fn u8_or0(self) -> u8 {
        self.map_or(0, Int::u8)
    }
}

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = Int;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string of digits")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
        Ok(Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
        Ok(Int(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
        // serde_json hands integers beyond u64 over as floats; accept whole numbers only.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e30 {
            Ok(Int(v as i128))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
        v.trim()
            .parse::<i128>()
            .map(Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Int, E> {
        // Flags such as `is_lighted` are 0/1 in most commands and true/false in a few.
        Ok(Int(v.into()))
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}

/// An identifier sent as a string or as a number, kept as text (`tid`, `payflow_id`, crc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdText(pub String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IdText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdText, E> {
                Ok(IdText(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<IdText, E> {
                Ok(IdText(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string borrowed from the body when it has no escapes, owned otherwise.
#[derive(Debug, Clone)]
pub(crate) struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// An integer if the value is one, `None` for anything else (which is skipped, never an
/// error). For envelope fields that no command depends on for its kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LooseInt(pub Option<i128>);

impl<'de> Deserialize<'de> for LooseInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseInt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LooseInt, E> {
                Ok(LooseInt(Some(v.into())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LooseInt, E> {
                Ok(LooseInt(Some(v.into())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LooseInt, E> {
                Ok(LooseInt(IntVisitor.visit_f64::<E>(v).ok().map(|i| i.0)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseInt, E> {
                Ok(LooseInt(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseInt, E> {
                Ok(LooseInt(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseInt, E> {
                Ok(LooseInt(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseInt, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LooseInt(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseInt, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LooseInt(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string if the value is one, `None` for anything else (skipped, never an error).
#[derive(Debug, Clone, Default)]
pub(crate) struct LooseStr(pub Option<String>);

impl<'de> Deserialize<'de> for LooseStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseStr, E> {
                Ok(LooseStr(Some(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseStr, E> {
                Ok(LooseStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseStr, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LooseStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseStr, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LooseStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `T` if the value is an object that fits it, `None` for any other value (skipped).
#[derive(Debug, Default)]
pub(crate) struct LooseObj<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LooseObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = LooseObj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LooseObj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| LooseObj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseObj<T>, A::Error> {
                drain_seq(&mut seq)?;
                Ok(LooseObj(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseObj<T>, E> {
                Ok(LooseObj(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Skips the rest of a JSON array; visitors that read only the first elements must consume
/// the remainder or serde_json reports the array as too long.
pub(crate) fn drain_seq<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Narrows a protobuf varint; out-of-range values are placeholders, not errors.
pub(crate) fn sat_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Narrows a protobuf varint; out-of-range values are placeholders, not errors.
pub(crate) fn sat_u8(v: u64) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}
