//! buvid3: the device cookie getDanmuInfo has required since 2025-06.

use super::envelope;
use super::error::ResolveError;

/// Endpoint name used in errors.
pub const FINGER_SPI: &str = "finger/spi";

/// Extracts buvid3 (`data.b_3`) from a `/x/frontend/finger/spi` reply.
pub fn parse_finger_spi(body: &[u8]) -> Result<String, ResolveError> {
    let data = envelope::data(FINGER_SPI, body)?;
    let b3 = data
        .get("b_3")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .unwrap_or_default();
    // It goes into a Cookie header and the auth JSON: refuse anything that could break either.
    let valid = !b3.is_empty()
        && b3.len() <= 128
        && b3.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(envelope::decode(
            FINGER_SPI,
            "missing or malformed data.b_3",
        ));
    }
    Ok(b3.to_owned())
}
