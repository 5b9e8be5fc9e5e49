//! Bilibili's JSON envelope `{"code", "message"|"msg", "ttl", "data"}`, read tolerantly.

use serde_json::Value;

use super::error::{ResolveError, classify_code};

/// Parses a reply body and returns its `data` when `code` is 0.
///
/// Extra fields are ignored; a non-zero code becomes a classified error (risk control or API).
pub fn data(endpoint: &'static str, body: &[u8]) -> Result<Value, ResolveError> {
    let (code, message, data) = split(endpoint, body)?;
    if code != 0 {
        return Err(classify_code(endpoint, code, &message));
    }
    Ok(data)
}

/// Parses a reply body into `(code, message, data)` without judging the code, for endpoints
/// whose useful data also comes with a non-zero code (`nav` answers -101 when anonymous).
pub fn split(endpoint: &'static str, body: &[u8]) -> Result<(i64, String, Value), ResolveError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ResolveError::Decode {
        endpoint,
        reason: format!("not JSON ({e}); starts with {:?}", preview(body)),
    })?;
    let Value::Object(mut map) = value else {
        return Err(decode(endpoint, "reply is not a JSON object"));
    };
    let code = map
        .get("code")
        .and_then(int)
        .ok_or_else(|| decode(endpoint, "no integer `code`"))?;
    let message = ["message", "msg"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let data = map.remove("data").unwrap_or(Value::Null);
    Ok((code, message, data))
}

/// A `Decode` error with a fixed reason.
pub fn decode(endpoint: &'static str, reason: &str) -> ResolveError {
    ResolveError::Decode {
        endpoint,
        reason: reason.to_owned(),
    }
}

/// An integer given as a JSON number or a numeric string (Bilibili uses both).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative integer given as a number or numeric string.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first bytes of a body, lossily decoded, so an HTML error page is recognisable in a log
/// without dumping it whole.
fn preview(body: &[u8]) -> String {
    let end = body.len().min(64);
    String::from_utf8_lossy(&body[..end]).into_owned()
}
