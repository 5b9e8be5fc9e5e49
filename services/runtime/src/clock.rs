//! The wall clock, as the bus records it.
//!
//! Every timestamp in the bus's messages and KV records (`ts`, `started`, `since`, `added`) is
//! Unix milliseconds; one function produces them so every service and tool agrees on the unit
//! and on what happens to a clock set before 1970.

/// Wall-clock Unix milliseconds, for the timestamps the bus carries. A clock set before the
/// epoch reads 0 rather than failing: a timestamp is informational, never worth an error.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_unix_milliseconds() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let now = now_ms();
        // 2020-09-13 in ms; seconds or microseconds would be far off either way.
        assert!(now >= before && now > 1_600_000_000_000 && now < 10_000_000_000_000);
    }
}
