//! `/x/web-interface/nav`: the WBI keys (and who we are logged in as).

use serde_json::Value;

use super::envelope;
use super::error::ResolveError;
use crate::wbi;

/// Endpoint name used in errors.
pub const NAV: &str = "nav";

/// The two WBI key halves, taken from the file names of `wbi_img.img_url` / `sub_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WbiKeys {
    /// From `img_url`.
    pub img_key: String,
    /// From `sub_url`.
    pub sub_key: String,
}

/// What `nav` tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavInfo {
    /// The WBI keys (present logged in or not).
    pub keys: WbiKeys,
    /// Whether the SESSDATA we sent is a valid login.
    pub is_login: bool,
    /// The logged-in account's uid, 0 when anonymous.
    pub mid: u64,
}

/// Parses a `nav` reply. Code -101 ("not logged in") is normal for anonymous use: the keys
/// are still there.
pub fn parse_nav(body: &[u8]) -> Result<NavInfo, ResolveError> {
    let (code, message, data) = envelope::split(NAV, body)?;
    if code != 0 && code != -101 {
        return Err(super::error::classify_code(NAV, code, &message));
    }
    let key = |field: &str| -> Result<String, ResolveError> {
        let url = data
            .get("wbi_img")
            .and_then(|w| w.get(field))
            .and_then(Value::as_str)
            .ok_or_else(|| envelope::decode(NAV, "missing data.wbi_img"))?;
        wbi::key_from_url(url)
            .map(str::to_owned)
            .ok_or_else(|| envelope::decode(NAV, "wbi_img URL has no key file name"))
    };
    let keys = WbiKeys {
        img_key: key("img_url")?,
        sub_key: key("sub_url")?,
    };
    let is_login = code == 0
        && data
            .get("isLogin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let mid = if is_login {
        data.get("mid").and_then(envelope::uint).unwrap_or(0)
    } else {
        0
    };
    Ok(NavInfo {
        keys,
        is_login,
        mid,
    })
}
