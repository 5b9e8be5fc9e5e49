//! WBI request signing (spec §1.3), which getDanmuInfo has required since 2025-05.
//!
//! The signing side is used by the resolver; [`verify`] lets the simulator check requests
//! exactly the way the real API does.

use md5::{Digest, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The fixed permutation that scrambles `img_key + sub_key` into the mixin key.
pub const MIXIN_KEY_ENC_TAB: [u8; 64] = [
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29,
    28, 14, 39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25,
    54, 21, 56, 59, 6, 63, 57, 62, 11, 36, 20, 34, 44, 52,
];

/// Length of a mixin key: only the first 32 permuted characters are used.
pub const MIXIN_KEY_LEN: usize = 32;

/// Characters removed from every value before signing (the API does the same server-side).
const FILTERED: [char; 5] = ['!', '\'', '(', ')', '*'];

/// What JS `encodeURIComponent` escapes: everything except `A-Za-z0-9 - _ . ! ~ * ' ( )`.
/// `! * ' ( )` never reach the encoder in values (filtered), but keys keep them.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Why a request's WBI signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WbiError {
    /// No `wts` parameter.
    #[error("missing wts parameter")]
    MissingWts,
    /// `wts` is not an integer number of seconds.
    #[error("wts {0:?} is not an integer")]
    BadWts(String),
    /// No `w_rid` parameter.
    #[error("missing w_rid parameter")]
    MissingWRid,
    /// `w_rid` does not match the signature of the other parameters.
    #[error("w_rid {got} does not match the expected {expected}")]
    Mismatch {
        /// What the request carried.
        got: String,
        /// What the parameters sign to.
        expected: String,
    },
}

/// Scrambles the two nav keys into the 32-character key that salts every signature.
/// Short or odd input gives a shorter key rather than a panic.
pub fn mixin_key(img_key: &str, sub_key: &str) -> String {
    let raw: Vec<char> = img_key.chars().chain(sub_key.chars()).collect();
    MIXIN_KEY_ENC_TAB
        .iter()
        .filter_map(|&i| raw.get(usize::from(i)))
        .take(MIXIN_KEY_LEN)
        .collect()
}

/// The key inside a nav `wbi_img` URL: the file name without its extension
/// (`…/bfs/wbi/7cd0…077c.png` → `7cd0…077c`). The URL itself is never fetched.
pub fn key_from_url(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    (!stem.is_empty()).then_some(stem)
}

/// A signed parameter set: the filtered parameters sorted by key, then `wts` in its place,
/// then `w_rid` last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuery {
    pairs: Vec<(String, String)>,
    query: String,
    wts: i64,
    w_rid: String,
}

impl SignedQuery {
    /// The signature, 32 lower-case hex digits.
    pub fn w_rid(&self) -> &str {
        &self.w_rid
    }

    /// The timestamp that was signed, unix seconds.
    pub fn wts(&self) -> i64 {
        self.wts
    }

    /// The parameters to send (values already filtered), `wts` and `w_rid` included, for
    /// callers that build the URL with their own encoder.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.pairs.clone()
    }

    /// The percent-encoded query string, `w_rid` included, ready to follow `?`.
    pub fn query(&self) -> &str {
        &self.query
    }
}

impl std::fmt::Display for SignedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.query)
    }
}

/// Signs `params` at time `wts` (unix seconds; any integer type, saturating past `i64`).
/// Any `wts`/`w_rid` already in `params` is replaced.
pub fn sign<V: AsRef<str>, T: TryInto<i64>>(
    params: &[(&str, V)],
    mixin_key: &str,
    wts: T,
) -> SignedQuery {
    let wts = wts.try_into().unwrap_or(i64::MAX);
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| *k != "wts" && *k != "w_rid")
        .map(|(k, v)| ((*k).to_owned(), filter_value(v.as_ref())))
        .collect();
    pairs.push(("wts".to_owned(), wts.to_string()));
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut query = encode_sorted(&pairs);
    let w_rid = digest(&query, mixin_key);
    query.push_str("&w_rid=");
    query.push_str(&w_rid);
    pairs.push(("w_rid".to_owned(), w_rid.clone()));
    SignedQuery {
        pairs,
        query,
        wts,
        w_rid,
    }
}

/// Checks a request's decoded query parameters the way the API does: recompute `w_rid`
/// over every parameter except `w_rid` and compare.
pub fn verify(query_pairs: &[(String, String)], mixin_key: &str) -> Result<(), WbiError> {
    let got = find(query_pairs, "w_rid").ok_or(WbiError::MissingWRid)?;
    let wts = find(query_pairs, "wts").ok_or(WbiError::MissingWts)?;
    if wts.parse::<i64>().is_err() {
        return Err(WbiError::BadWts(wts.to_owned()));
    }
    let mut pairs: Vec<(String, String)> = query_pairs
        .iter()
        .filter(|(k, _)| k != "w_rid")
        .map(|(k, v)| (k.clone(), filter_value(v)))
        .collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let expected = digest(&encode_sorted(&pairs), mixin_key);
    if got == expected {
        Ok(())
    } else {
        Err(WbiError::Mismatch {
            got: got.to_owned(),
            expected,
        })
    }
}

fn find<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn filter_value(v: &str) -> String {
    v.chars().filter(|c| !FILTERED.contains(c)).collect()
}

fn encode_sorted(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, URI_COMPONENT));
        out.push('=');
        out.extend(utf8_percent_encode(v, URI_COMPONENT));
    }
    out
}

fn digest(query: &str, mixin_key: &str) -> String {
    let mut h = Md5::new();
    h.update(query.as_bytes());
    h.update(mixin_key.as_bytes());
    hex::encode(h.finalize())
}
