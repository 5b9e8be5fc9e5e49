//! Bilibili's side of WBI signing, written from the documented algorithm
//! (`bilibili-protocol.md` §1.3) and not from the client's `wbi` module: the simulator checks
//! the client's signatures, so a signing bug shared by both ends would pass unseen.
//!
//! The server's view: the mixin key is derived from the keys it published in `nav`; a request
//! is genuine when `w_rid` equals the MD5 of every other parameter of the request (as decoded
//! from its query string), sorted by name, with `!'()*` removed from the values, encoded like
//! JavaScript's `encodeURIComponent` and joined by `&`, followed by the mixin key.

use md5::{Digest, Md5};

/// The positions in `img_key + sub_key` that make the mixin key, in order.
const PERMUTATION: [usize; 32] = [
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29,
    28, 14, 39, 12, 38, 41, 13,
];

/// Why a request's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// No `w_rid` parameter.
    #[error("no w_rid")]
    Unsigned,
    /// No `wts` parameter, or one that is not a number.
    #[error("no numeric wts")]
    NoTimestamp,
    /// The keys are not 64 ASCII characters together.
    #[error("unusable WBI keys")]
    BadKeys,
    /// `w_rid` is not the signature of the other parameters.
    #[error("w_rid {got} is not {want}")]
    Forged {
        /// What the request carried.
        got: String,
        /// What it should have been.
        want: String,
    },
}

/// The mixin key of the published keys, or `None` when they are not 64 ASCII characters.
pub(crate) fn mixin(img_key: &str, sub_key: &str) -> Option<String> {
    let joined = format!("{img_key}{sub_key}");
    if joined.len() != 64 || !joined.is_ascii() {
        return None;
    }
    let bytes = joined.as_bytes();
    Some(PERMUTATION.iter().map(|&i| char::from(bytes[i])).collect())
}

/// Checks the signature of a request whose query string decoded to `params`.
pub(crate) fn check(params: &[(String, String)], mixin_key: &str) -> Result<(), SignatureError> {
    let got = value(params, "w_rid").ok_or(SignatureError::Unsigned)?;
    value(params, "wts")
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(SignatureError::NoTimestamp)?;
    let mut signed: Vec<(&str, String)> = params
        .iter()
        .filter(|(k, _)| k != "w_rid")
        .map(|(k, v)| {
            (
                k.as_str(),
                v.chars().filter(|c| !"!'()*".contains(*c)).collect(),
            )
        })
        .collect();
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut text = String::new();
    for (i, (k, v)) in signed.iter().enumerate() {
        if i > 0 {
            text.push('&');
        }
        uri_component(k, &mut text);
        text.push('=');
        uri_component(v, &mut text);
    }
    text.push_str(mixin_key);
    let want = hex(&Md5::digest(text.as_bytes()));
    if got == want {
        Ok(())
    } else {
        Err(SignatureError::Forged {
            got: got.to_owned(),
            want,
        })
    }
}

fn value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Appends `s` as `encodeURIComponent` would write it: `A-Z a-z 0-9 - _ . ~` as they are,
/// every other UTF-8 byte as `%XX` in upper case.
fn uri_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the anonymous `nav` reply in the fixtures and the documented vectors.
    const IMG: &str = "7cd084941338484aae1ad9425b84077c";
    const SUB: &str = "4932caff0ff746eab6f01bf08b70ac45";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_documented_vectors_hold() {
        let key = mixin(IMG, SUB).unwrap();
        assert_eq!(key, "ea1db124af3c7062474693fa704f4ff8");
        let signed = params(&[
            ("foo", "114"),
            ("bar", "514"),
            ("zab", "1919810"),
            ("wts", "1702204169"),
            ("w_rid", "8f6f2b5b3d485fe1886cec6a0be8c5d4"),
        ]);
        assert_eq!(check(&signed, &key), Ok(()));
    }

    #[test]
    fn values_are_encoded_like_encode_uri_component() {
        let mut out = String::new();
        uri_component("one one four", &mut out);
        out.push('&');
        uri_component("五一四", &mut out);
        out.push('&');
        uri_component("a+b/c~d", &mut out);
        assert_eq!(
            out,
            "one%20one%20four&%E4%BA%94%E4%B8%80%E5%9B%9B&a%2Bb%2Fc~d"
        );
    }

    #[test]
    fn forged_unsigned_and_untimed_requests_are_refused() {
        let key = mixin(IMG, SUB).unwrap();
        let mut forged = params(&[
            ("foo", "114"),
            ("bar", "514"),
            ("zab", "1919810"),
            ("wts", "1702204169"),
            ("w_rid", "8f6f2b5b3d485fe1886cec6a0be8c5d4"),
        ]);
        forged[0].1 = "115".into();
        assert!(matches!(
            check(&forged, &key),
            Err(SignatureError::Forged { .. })
        ));
        assert_eq!(
            check(&params(&[("wts", "1")]), &key),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            check(&params(&[("w_rid", "x"), ("wts", "soon")]), &key),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(mixin("short", SUB), None);
    }

    #[test]
    fn the_captured_nav_keys_give_the_recorded_mixin_key() {
        let Some(dir) = bilipulse_testkit::fixtures::dir() else {
            return;
        };
        let path = dir.join("http/x_web-interface_nav.anonymous.json");
        let nav: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("nav fixture")).expect("JSON");
        // The key is the file name of each URL, without its extension.
        let key = |field: &str| -> String {
            let url = nav["data"]["wbi_img"][field].as_str().expect(field);
            let file = url.rsplit('/').next().unwrap();
            file.split('.').next().unwrap().to_owned()
        };
        let (img, sub) = (key("img_url"), key("sub_url"));
        assert_eq!((img.as_str(), sub.as_str()), (IMG, SUB));
        // SOURCES.md records the mixin key of these captured keys.
        assert_eq!(
            mixin(&img, &sub).as_deref(),
            Some("ea1db124af3c7062474693fa704f4ff8")
        );
    }

    #[test]
    fn signatures_of_the_client_library_verify_here() {
        // The two implementations only meet here: a request the client signs must pass.
        let key = mixin(IMG, SUB).unwrap();
        let signed = bilipulse_bilibili::wbi::sign(
            &[
                ("id", "21452505"),
                ("type", "0"),
                ("web_location", "444.8"),
                ("q", "a b!*"),
            ],
            &key,
            1_702_204_169,
        );
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(signed.query().as_bytes())
            .into_owned()
            .collect();
        assert_eq!(check(&pairs, &key), Ok(()));
    }

    #[test]
    fn the_characters_bilibili_strips_do_not_count() {
        // The same signature with and without `!'()*` in a value.
        let key = mixin(IMG, SUB).unwrap();
        let plain = params(&[
            ("foo", "114"),
            ("bar", "514"),
            ("zab", "1919810"),
            ("wts", "1702204169"),
            ("w_rid", "8f6f2b5b3d485fe1886cec6a0be8c5d4"),
        ]);
        let mut decorated = plain.clone();
        decorated[0].1 = "1(1)4!*'".into();
        assert_eq!(check(&decorated, &key), Ok(()));
    }
}
