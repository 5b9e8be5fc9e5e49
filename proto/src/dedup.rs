//! The deduplication-id rule.

use xxhash_rust::xxh3::xxh3_64;

/// The id of an event: the `id` field and the `Nats-Msg-Id` header it is published with.
///
/// Two ingesters that observe the same room during a hand-over receive the same command and must
/// produce the same id, so JetStream's duplicate window drops the second copy. Therefore the id
/// is built only from what Bilibili sent, never from local time or state:
///
/// * `native` is Bilibili's own identifier for the event, prefixed by its kind, when the command
///   has one (`dm:<id_str>`, `gift:<tid>`, `sc:<id>`, `guard:<uid>:<start_time>` …; the
///   ingester's command table lists them). The id is then `<room>:<native>`.
/// * Otherwise the id is `<room>:x<16 hex digits>`, the XXH3-64 hash (seed 0) of the raw
///   command body bytes. Identical bodies within the duplicate window are thereby one event,
///   which is right for repeated deliveries and harmless for counters such as `WATCHED_CHANGE`.
///
/// Ids are unique per room only together with the room prefix, which is always present.
pub fn dedup_id(room: u64, native: Option<&str>, raw: &[u8]) -> String {
    match native {
        Some(n) => format!("{room}:{n}"),
        None => format!("{room}:x{:016x}", xxh3_64(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_ids_are_prefixed_by_room() {
        assert_eq!(dedup_id(5269, Some("dm:abc"), b"ignored"), "5269:dm:abc");
    }

    #[test]
    fn hashed_ids_are_stable_and_body_sensitive() {
        let a = dedup_id(1, None, br#"{"cmd":"WATCHED_CHANGE","data":{"num":1}}"#);
        let b = dedup_id(1, None, br#"{"cmd":"WATCHED_CHANGE","data":{"num":1}}"#);
        let c = dedup_id(1, None, br#"{"cmd":"WATCHED_CHANGE","data":{"num":2}}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // The hash is XXH3-64 with seed 0: a published algorithm, so other languages can
        // recompute it. This pins the value for one input.
        assert_eq!(
            dedup_id(7, None, b""),
            format!("7:x{:016x}", 0x2d06800538d394c2_u64)
        );
    }
}
