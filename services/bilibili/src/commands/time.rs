//! Event time: Bilibili's own timestamps, converted to Unix milliseconds and sanity-checked.
//!
//! A timestamp is used only when it is plausible: not before 2009-01-01 (Bilibili did not
//! exist; also catches 0, negatives and second/millisecond mix-ups such as the `9999999999`
//! placeholders of redacted samples read as ms) and not more than [`MAX_AHEAD_MS`] after the
//! receive time (far-future values, seconds misread as ms). Otherwise the next candidate, and
//! finally the receive time, is used.

/// 2009-01-01T00:00:00Z in Unix ms.
pub(crate) const MIN_TS_MS: i64 = 1_230_768_000_000;
/// How far Bilibili's clock may run ahead of ours before its timestamp is distrusted.
pub(crate) const MAX_AHEAD_MS: i64 = 3_600_000;

/// A candidate timestamp in its source unit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stamp {
    Ms(i64),
    Secs(i64),
    Nanos(i64),
}

impl Stamp {
    fn to_ms(self) -> Option<i64> {
        match self {
            Stamp::Ms(v) => Some(v),
            Stamp::Secs(v) => v.checked_mul(1000),
            Stamp::Nanos(v) => Some(v / 1_000_000),
        }
    }
}

/// The first plausible candidate in ms, else `recv_ms`.
#[cfg(test)]
fn pick(candidates: &[Option<Stamp>], recv_ms: i64) -> i64 {
    first_plausible(candidates, recv_ms).unwrap_or(recv_ms)
}

/// The first plausible candidate in ms.
pub(crate) fn first_plausible(candidates: &[Option<Stamp>], recv_ms: i64) -> Option<i64> {
    candidates
        .iter()
        .flatten()
        .filter_map(|s| s.to_ms())
        .find(|&ms| plausible(ms, recv_ms))
}

fn plausible(ms: i64, recv_ms: i64) -> bool {
    ms >= MIN_TS_MS && ms <= recv_ms.saturating_add(MAX_AHEAD_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECV: i64 = 1_743_186_488_900;

    #[test]
    fn first_plausible_candidate_wins() {
        let ts = pick(
            &[None, Some(Stamp::Ms(0)), Some(Stamp::Secs(1_743_186_488))],
            RECV,
        );
        assert_eq!(ts, 1_743_186_488_000);
    }

    #[test]
    fn absurd_values_fall_back_to_receive_time() {
        for s in [
            Stamp::Ms(-5),
            Stamp::Ms(9_999_999_999),
            Stamp::Secs(9_999_999_999),
            Stamp::Secs(i64::MAX),
            Stamp::Ms(RECV + MAX_AHEAD_MS + 1),
        ] {
            assert_eq!(pick(&[Some(s)], RECV), RECV, "{s:?}");
        }
    }

    #[test]
    fn units_are_converted() {
        assert_eq!(
            pick(&[Some(Stamp::Nanos(1_743_190_068_756_264_000))], RECV),
            1_743_190_068_756
        );
        assert_eq!(pick(&[Some(Stamp::Ms(RECV - 10))], RECV), RECV - 10);
    }
}
