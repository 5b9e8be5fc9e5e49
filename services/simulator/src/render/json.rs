//! A minimal JSON writer. Commands are written straight into a byte buffer: at 100 k commands
//! per second, building `serde_json::Value` trees would cost more than everything else.

/// Appends raw bytes (a literal JSON fragment).
#[inline]
pub(crate) fn raw(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
}

/// Appends a quoted, escaped JSON string. Non-ASCII stays UTF-8, as Bilibili sends it.
pub(crate) fn q(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    esc(b, s.as_bytes());
    b.push(b'"');
}

/// Appends the escaped content of UTF-8 text without quotes. Works bytewise: multi-byte UTF-8
/// sequences never contain bytes below 0x80.
pub(crate) fn esc(b: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let rep: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                b.extend_from_slice(&bytes[start..i]);
                b.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        b.extend_from_slice(rep);
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
}

/// Appends an unsigned integer.
#[inline]
pub(crate) fn u(b: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.extend_from_slice(&buf[i..]);
}

/// Appends a signed integer.
#[inline]
pub(crate) fn i(b: &mut Vec<u8>, v: i64) {
    if v < 0 {
        b.push(b'-');
    }
    u(b, v.unsigned_abs());
}

/// Appends `true`/`false`.
#[inline]
pub(crate) fn bool(b: &mut Vec<u8>, v: bool) {
    raw(b, if v { "true" } else { "false" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_serde() {
        let tricky = "a\"b\\c\nd\u{1}e 五一四 \u{7f}";
        let mut b = Vec::new();
        q(&mut b, tricky);
        let back: String = serde_json::from_slice(&b).unwrap();
        assert_eq!(back, tricky);
    }

    #[test]
    fn integers_round_trip() {
        for v in [0i64, 7, -1, i64::MIN, i64::MAX, 3_745_805_152_027_139_263] {
            let mut b = Vec::new();
            i(&mut b, v);
            assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
        }
    }
}
