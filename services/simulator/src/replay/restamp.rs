//! Fresh ids and times for recorded command bodies, so that load mode can feed a whole
//! pipeline, not only a decoder.
//!
//! A recorded body carries its command's own ids (a danmaku's `id_str`, a gift's `tid`, a
//! Super Chat's `id`, a toast's `payflow_id` …) and the times of its capture. Sent again and
//! again, its copies are one event to anything that deduplicates, and an old one to anything
//! that windows by event time. A [`Template`] finds, once, where in a body those values are;
//! [`Template::render`] writes a sequence number into every id and a time into every timestamp,
//! each in the width of what it replaces, so the body keeps its size and stays the same JSON.
//!
//! What is an id and what is a time comes from the protocol notes
//! (`../shared/bilibili-protocol.md`), not from the client's normaliser: ids are the values of
//! the keys in [`ID_KEYS`] (also inside the JSON strings that some commands nest, where the
//! quotes are escaped); times are 13-digit millisecond and 19-digit nanosecond numbers anywhere,
//! and 10-digit second numbers under the keys in [`SECOND_KEYS`]. Bodies with neither (counters
//! such as `WATCHED_CHANGE`) stay as recorded, and so does what is inside a base64 protobuf
//! (`SEND_GIFT_V2`, `INTERACT_WORD_V2`): their copies repeat.

use std::ops::Range;

/// Keys whose value identifies the event.
pub(crate) const ID_KEYS: [&str; 7] = [
    "id_str",
    "tid",
    "id",
    "payflow_id",
    "batch_combo_id",
    "combo_id",
    "msg_id",
];

/// Keys whose value is a time in Unix seconds.
pub(crate) const SECOND_KEYS: [&str; 6] = [
    "ts",
    "timestamp",
    "send_time",
    "start_time",
    "end_time",
    "live_time",
];

/// At most this many characters of an id are rewritten (its right end): 10^12 decimal or 16^12
/// hexadecimal sequence numbers before one repeats.
const ID_WIDTH: usize = 12;

/// Plausible Unix seconds (2014 … 2036) and milliseconds, to tell a time from another number.
const SECONDS: Range<u64> = 1_400_000_000..2_100_000_000;
const MILLIS: Range<u64> = 1_400_000_000_000..2_100_000_000_000;
const NANOS: Range<u64> = 1_400_000_000_000_000_000..2_100_000_000_000_000_000;

/// What a slot of a body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotKind {
    /// An id in decimal digits.
    DecimalId,
    /// An id in hexadecimal digits (lower case).
    HexId,
    /// Unix seconds, 10 digits.
    Seconds,
    /// Unix milliseconds, 13 digits.
    Millis,
    /// Unix nanoseconds, 19 digits.
    Nanos,
}

/// A run of bytes of a body that [`Template::render`] rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    at: Range<usize>,
    kind: SlotKind,
}

/// A recorded body and the places in it that a fresh copy changes.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    body: Vec<u8>,
    slots: Vec<Slot>,
}

impl Template {
    /// Finds the ids and times of `body`.
    pub(crate) fn new(body: Vec<u8>) -> Template {
        let mut slots = id_slots(&body);
        for t in time_slots(&body) {
            if !slots.iter().any(|s| overlaps(&s.at, &t.at)) {
                slots.push(t);
            }
        }
        slots.sort_by_key(|s| s.at.start);
        Template { body, slots }
    }

    /// Whether a copy differs from the recording at all.
    pub(crate) fn is_restamped(&self) -> bool {
        !self.slots.is_empty()
    }

    /// The body with every id replaced by `seq` (modulo its width) and every time by `now_ms`.
    pub(crate) fn render(&self, seq: u64, now_ms: u64) -> Vec<u8> {
        let mut out = self.body.clone();
        for slot in &self.slots {
            let dst = &mut out[slot.at.clone()];
            let width = dst.len();
            let text = match slot.kind {
                SlotKind::DecimalId => format!("{:0width$}", seq % 10u64.pow(width as u32)),
                SlotKind::HexId => format!("{:0width$x}", seq % 16u64.pow(width as u32)),
                SlotKind::Seconds => format!("{:010}", now_ms / 1000),
                SlotKind::Millis => format!("{:013}", now_ms),
                SlotKind::Nanos => format!("{:019}", now_ms.saturating_mul(1_000_000)),
            };
            dst.copy_from_slice(&text.as_bytes()[text.len() - width..]);
        }
        out
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The value positions of `key` in `body`, plain (`"key":`) or inside a nested JSON string
/// (`\"key\":`): the index just after the colon and any spaces.
fn values_of<'a>(body: &'a [u8], key: &'a str) -> impl Iterator<Item = usize> + 'a {
    let plain = format!("\"{key}\":");
    let escaped = format!("\\\"{key}\\\":");
    [plain, escaped].into_iter().flat_map(move |pattern| {
        let len = pattern.len();
        memchr::memmem::find_iter(body, pattern.as_bytes())
            .map(|at| {
                let mut i = at + len;
                while body.get(i) == Some(&b' ') {
                    i += 1;
                }
                i
            })
            .collect::<Vec<_>>()
    })
}

/// The digits of an id value.
struct IdDigits {
    at: Range<usize>,
    /// A string, not a number.
    quoted: bool,
    /// Has a hexadecimal letter.
    hex: bool,
}

/// The digits of the value starting at `i`: a number, or a string (`"…"` or `\"…\"`) of
/// hexadecimal digits. `None` for anything else (empty, null, text).
fn id_digits(body: &[u8], mut i: usize) -> Option<IdDigits> {
    let quoted = if body[i..].starts_with(b"\\\"") {
        i += 2;
        true
    } else if body.get(i) == Some(&b'"') {
        i += 1;
        true
    } else {
        false
    };
    let start = i;
    while body.get(i).is_some_and(|b| {
        if quoted {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit()
        }
    }) {
        i += 1;
    }
    let closed = if quoted {
        matches!(body.get(i), Some(b'"') | Some(b'\\'))
    } else {
        true
    };
    (i > start && closed).then(|| IdDigits {
        at: start..i,
        quoted,
        hex: body[start..i].iter().any(|b| b.is_ascii_alphabetic()),
    })
}

fn id_slots(body: &[u8]) -> Vec<Slot> {
    let mut slots = Vec::new();
    for key in ID_KEYS {
        for i in values_of(body, key) {
            let Some(digits) = id_digits(body, i) else {
                continue;
            };
            let hex = digits.hex || key == "id_str";
            // A JSON number keeps its first digit: a leading zero would not be JSON.
            let first = digits.at.start + usize::from(!digits.quoted);
            let at = digits.at.end.saturating_sub(ID_WIDTH).max(first)..digits.at.end;
            if at.is_empty() {
                continue;
            }
            let kind = if hex {
                SlotKind::HexId
            } else {
                SlotKind::DecimalId
            };
            slots.push(Slot { at, kind });
        }
    }
    slots
}

/// Runs of digits that are whole numbers (no digit, letter, `.` or `-` on either side).
fn numbers(body: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let boundary = |b: Option<&u8>| !b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.');
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < body.len() {
            if body[i].is_ascii_digit() && boundary(i.checked_sub(1).and_then(|p| body.get(p))) {
                let start = i;
                while body.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if boundary(body.get(i)) {
                    return Some(start..i);
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

fn value_of(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |v, d| {
        v.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

fn time_slots(body: &[u8]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = numbers(body)
        .filter_map(|at| {
            let v = value_of(&body[at.clone()]);
            let kind = match at.len() {
                13 if MILLIS.contains(&v) => SlotKind::Millis,
                19 if NANOS.contains(&v) => SlotKind::Nanos,
                _ => return None,
            };
            Some(Slot { at, kind })
        })
        .collect();
    for key in SECOND_KEYS {
        for i in values_of(body, key) {
            let end = body[i..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(body.len(), |n| i + n);
            if end - i == 10 && SECONDS.contains(&value_of(&body[i..end])) {
                slots.push(Slot {
                    at: i..end,
                    kind: SlotKind::Seconds,
                });
            }
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_300_000_123;

    fn render(body: &str, seq: u64) -> String {
        String::from_utf8(Template::new(body.as_bytes().to_vec()).render(seq, NOW)).unwrap()
    }

    #[test]
    fn ids_take_the_sequence_number_in_their_own_width_and_radix() {
        let body = r#"{"cmd":"SUPER_CHAT_MESSAGE","data":{"id":8123456,"tid":"1700000000123456789","uid":42}}"#;
        // The last 12 characters of a long id; all of a short one but a number's first digit;
        // other keys untouched.
        assert_eq!(
            render(body, 7),
            r#"{"cmd":"SUPER_CHAT_MESSAGE","data":{"id":8000007,"tid":"1700000000000000007","uid":42}}"#
        );
        let _: serde_json::Value = serde_json::from_str(&render(body, 7)).expect("still JSON");
    }

    #[test]
    fn a_nested_id_str_is_rewritten_in_hex_and_the_string_stays_escaped() {
        let body = r#"{"cmd":"DANMU_MSG","info":[[0,1,25,16777215,1700000000123,0,0,"ab",0,0,0,"",0,"{}","{}",{"extra":"{\"id_str\":\"9f3ac0ffee\",\"x\":1}"}]]}"#;
        let out = render(body, 0x1b);
        assert!(out.contains(r#"\"id_str\":\"000000001b\""#), "{out}");
        assert!(
            out.contains(&NOW.to_string()),
            "the danmaku's ms time: {out}"
        );
        assert_eq!(out.len(), body.len());
        let _: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    }

    #[test]
    fn times_are_millis_and_nanos_anywhere_and_seconds_only_under_time_keys() {
        let body = r#"{"cmd":"X","data":{"uid":1700000001,"start_time":1700000002,"ts":1700000003,"n":1700000000999,"trigger_time":1644563947876475000}}"#;
        assert_eq!(
            render(body, 1),
            r#"{"cmd":"X","data":{"uid":1700000001,"start_time":1796300000,"ts":1796300000,"n":1796300000123,"trigger_time":1796300000123000000}}"#
        );
    }

    #[test]
    fn bodies_without_ids_or_times_are_left_as_they_are() {
        let body = r#"{"cmd":"WATCHED_CHANGE","data":{"num":2417,"text_small":"2417"}}"#;
        let t = Template::new(body.as_bytes().to_vec());
        assert!(!t.is_restamped());
        assert_eq!(render(body, 99), body);
        // Not ids: empty, null and text values.
        let body = r#"{"cmd":"X","data":{"id":null,"tid":"","msg_id":"abc-def"}}"#;
        assert_eq!(render(body, 5), body);
    }
}
