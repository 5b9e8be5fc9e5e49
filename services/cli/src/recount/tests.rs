//! Unit tests of the pure parts: admission, counting, stored-summary selection, comparison and
//! time parsing. Expected values are worked out by hand next to each case.

use std::collections::BTreeMap;

use bilipulse_proto::{
    Audience, CoinType, Guard, InteractAction, Kind, Like, LiveState, Other, Payload, RoomEvent,
    SCHEMA_VERSION, SuperChat, Window, WindowSummary, subject,
};

use super::*;

const ROOM: u64 = 21_452_505;
/// 2025-11-24T16:00:00Z, a minute boundary.
const T0: i64 = 1_764_000_000_000;
const M: i64 = 60_000;

#[path = "../../tests/common/events.rs"]
mod events;
use events::{dm, gift, interact, live};

fn ev(ts: i64, payload: Payload) -> RoomEvent {
    events::ev(ROOM, ts, payload)
}

fn other(cmd: &str, ts: i64) -> RoomEvent {
    RoomEvent {
        cmd: cmd.into(),
        ..ev(ts, Payload::Other(Other::default()))
    }
}

/// Counts `events` in stream order, sequence numbers from 1.
fn tally(events: &[RoomEvent], range: Range) -> Recount {
    let mut t = Tally::new(ROOM, Window::M1, range);
    for (i, e) in events.iter().enumerate() {
        t.add(e, i as u64 + 1);
    }
    t.finish()
}

/// An empty summary of the minute starting at `start`.
fn minute(start: i64) -> WindowSummary {
    WindowSummary {
        v: SCHEMA_VERSION,
        room: ROOM,
        window: "1m".into(),
        start,
        end: start + M,
        chatters_reliable: true,
        ..Default::default()
    }
}

#[test]
fn every_kind_adds_to_its_own_counters() {
    let events = vec![
        ev(T0 + 1, dm(1, "c1", false, false)),
        ev(T0 + 2, dm(2, "c2", false, false)),
        ev(T0 + 3, dm(1, "c1", false, false)),
        ev(T0 + 4, dm(3, "c3", false, true)),
        ev(T0 + 5, gift(1_500, CoinType::Gold, false)),
        ev(T0 + 6, gift(100_000, CoinType::Gold, true)),
        ev(T0 + 7, gift(900, CoinType::Silver, false)),
        ev(
            T0 + 8,
            Payload::Superchat(SuperChat {
                price_cny: 30,
                ..Default::default()
            }),
        ),
        ev(
            T0 + 9,
            Payload::Guard(Guard {
                price_gold: 198_000,
                ..Default::default()
            }),
        ),
        ev(T0 + 10, interact(InteractAction::Enter)),
        ev(T0 + 11, interact(InteractAction::Follow)),
        ev(T0 + 12, interact(InteractAction::SpecialFollow)),
        ev(T0 + 13, interact(InteractAction::MutualFollow)),
        ev(T0 + 14, interact(InteractAction::Share)),
        ev(T0 + 15, interact(InteractAction::Like)),
        ev(T0 + 16, Payload::Like(Like::default())),
        other("SEND_GIFT_V2", T0 + 17),
        other("SEND_GIFT:1", T0 + 18),
        other("SEND_GIFTS", T0 + 19),
        other("WIDGET_BANNER", T0 + 20),
    ];
    let got = tally(&events, Range::ALL);
    let want = WindowSummary {
        events: 20,
        danmaku: 3,
        lottery_danmaku: 1,
        chatters: 2,
        gifts: 1,
        gift_mcny: 1_500,
        gift_cny: 1.5,
        free_gifts: 1,
        superchats: 1,
        superchat_mcny: 30_000,
        superchat_cny: 30.0,
        guards: 1,
        guard_mcny: 198_000,
        guard_cny: 198.0,
        total_mcny: 229_500,
        total_cny: 229.5,
        enters: 1,
        follows: 3,
        shares: 1,
        likes: 1,
        coverage: bilipulse_proto::Coverage {
            undecoded_gifts: 2,
            ..Default::default()
        },
        ..minute(T0)
    };
    assert_eq!(got.windows, vec![want]);
}

#[test]
fn chatters_count_crc32s_once_anyone_is_masked() {
    let events = vec![
        // Minute 0: one masked message, so CRC32s are counted: c1, c2 (lottery ignored).
        ev(T0, dm(1, "c1", false, false)),
        ev(T0 + 1, dm(0, "c2", true, false)),
        ev(T0 + 2, dm(0, "c1", true, false)),
        ev(T0 + 3, dm(0, "c9", true, true)),
        // Minute 1: unmasked, uids counted (two uids share a CRC32).
        ev(T0 + M, dm(7, "cc", false, false)),
        ev(T0 + M + 1, dm(8, "cc", false, false)),
        // Minute 2: only lottery danmaku, masked: nothing to count, reliable.
        ev(T0 + 2 * M, dm(0, "c5", true, true)),
    ];
    let got = tally(&events, Range::ALL);
    let w: Vec<_> = got
        .windows
        .iter()
        .map(|w| (w.danmaku, w.chatters, w.chatters_reliable))
        .collect();
    assert_eq!(w, vec![(3, 2, false), (2, 2, true), (0, 0, true)]);
}

#[test]
fn audience_takes_the_latest_value_of_each_field_by_ts_then_seq() {
    let aud = |watched, fans, likes| {
        Payload::Audience(Audience {
            watched,
            fans,
            likes,
            ..Default::default()
        })
    };
    let events = vec![
        ev(T0 + 500, aud(Some(10), None, Some(5))),
        // Earlier ts, later in the stream: loses to ts 500.
        ev(T0 + 100, aud(Some(99), Some(1), None)),
        // Same ts as the first, later seq: wins for watched; fans None leaves fans alone.
        ev(T0 + 500, aud(Some(11), None, None)),
    ];
    let w = &tally(&events, Range::ALL).windows[0];
    assert_eq!(
        (
            w.watched,
            w.fans,
            w.like_total,
            w.online_rank,
            w.online_count
        ),
        (Some(11), Some(1), Some(5), None, None)
    );
    assert_eq!(w.events, 3);
}

#[test]
fn live_is_the_state_after_the_last_live_event_before_the_end_even_outside_the_range() {
    let events = vec![
        ev(T0 + 10, live(LiveState::Live)),
        ev(T0 + M + 5, dm(1, "c1", false, false)),
        // Exactly at minute 2's end: not before it, so it first counts for minute 3.
        ev(T0 + 3 * M, live(LiveState::Preparing)),
        ev(T0 + 2 * M + 1, live(LiveState::RoomChange)),
        ev(T0 + 3 * M + 9, dm(2, "c2", false, false)),
        ev(T0 + 5 * M + 1, dm(3, "c3", false, false)),
        // Out of order: the LIVE stored last is older than the CUT_OFF, which decides.
        ev(T0 + 4 * M + 30, live(LiveState::CutOff)),
        ev(T0 + 4 * M + 10, live(LiveState::Live)),
        // Same ts: the later stream sequence decides.
        ev(T0 + 6 * M + 5, live(LiveState::Preparing)),
        ev(T0 + 6 * M + 5, live(LiveState::Live)),
    ];
    let range = Range {
        from: Some(T0 + M),
        to: Some(T0 + 10 * M),
    };
    let got = tally(&events, range);
    let w: Vec<_> = got
        .windows
        .iter()
        .map(|w| ((w.start - T0) / M, w.live))
        .collect();
    // Minute 0 is outside the range and not printed, but its LIVE decides minutes 1 and 2.
    let want = [true, true, false, false, false, true];
    let want: Vec<_> = (1..=6).zip(want).map(|(m, l)| (m, Some(l))).collect();
    assert_eq!(w, want);
    let only_room_change = tally(&[ev(T0, live(LiveState::RoomChange))], Range::ALL);
    assert_eq!(only_room_change.windows[0].live, None);
}

#[test]
fn range_bounds_window_starts() {
    let events: Vec<_> = (0..5)
        .map(|i| ev(T0 + i * M + 30_000, Payload::Like(Like::default())))
        .collect();
    let range = Range {
        from: Some(T0 + M),
        to: Some(T0 + 3 * M),
    };
    let starts: Vec<_> = tally(&events, range)
        .windows
        .iter()
        .map(|w| w.start)
        .collect();
    assert_eq!(starts, vec![T0 + M, T0 + 2 * M]);
    assert!(Range::ALL.check().is_ok());
    assert!(range.check().is_ok());
    let empty = Range {
        from: Some(5),
        to: Some(5),
    };
    assert!(matches!(
        empty.check(),
        Err(RecountError::EmptyRange { from: 5, to: 5 })
    ));
}

#[test]
fn admit_checks_decoding_subject_and_plausible_time() {
    let published = T0;
    let good = ev(T0, Payload::Like(Like::default()));
    let subj = subject::event(ROOM, Kind::Like);
    let enc = |e: &RoomEvent| bilipulse_proto::encode(e).unwrap();
    assert_eq!(admit(ROOM, &subj, &enc(&good), published), Ok(good.clone()));
    let at = |ts| enc(&RoomEvent { ts, ..good.clone() });
    let ahead = published + tally::MAX_AHEAD_MS;
    assert!(admit(ROOM, &subj, &at(ahead), published).is_ok());
    assert!(admit(ROOM, &subj, &at(tally::MIN_TS), published).is_ok());
    let cases: Vec<(String, Vec<u8>, Skip)> = vec![
        (subj.clone(), b"\xc1 nope".to_vec(), Skip::Undecodable),
        (subj.clone(), newer_version(&good), Skip::NewerVersion),
        ("bili.event.5.like".into(), enc(&good), Skip::BadSubject),
        (
            format!("bili.event.{ROOM}.poll"),
            enc(&good),
            Skip::BadSubject,
        ),
        (subject::raw(ROOM), enc(&good), Skip::BadSubject),
        (
            subject::event(ROOM, Kind::Gift),
            enc(&good),
            Skip::SubjectMismatch,
        ),
        (
            subj.clone(),
            enc(&RoomEvent {
                room: 5,
                ..good.clone()
            }),
            Skip::SubjectMismatch,
        ),
        (subj.clone(), at(ahead + 1), Skip::ImplausibleTs),
        (subj.clone(), at(tally::MIN_TS - 1), Skip::ImplausibleTs),
    ];
    for (s, payload, want) in cases {
        assert_eq!(admit(ROOM, &s, &payload, published), Err(want), "{s}");
    }
}

#[test]
fn a_body_for_another_room_on_our_subject_is_a_mismatch() {
    let body = RoomEvent {
        room: 5,
        ..ev(T0, Payload::Like(Like::default()))
    };
    let payload = bilipulse_proto::encode(&body).unwrap();
    let subj = subject::event(ROOM, Kind::Like);
    assert_eq!(admit(ROOM, &subj, &payload, T0), Err(Skip::SubjectMismatch));
    let mut t = Tally::new(ROOM, Window::M1, Range::ALL);
    t.offer(&subj, &payload, T0, 1);
    t.offer(&subj, b"", T0, 2);
    let r = t.finish();
    assert_eq!((r.read, r.skipped.total(), r.windows.len()), (2, 2, 0));
    assert_eq!((r.skipped.subject_mismatch, r.skipped.undecodable), (1, 1));
}

/// `good` re-encoded with `v` one above what this build understands.
fn newer_version(good: &RoomEvent) -> Vec<u8> {
    let mut v: rmpv::Value =
        rmpv::decode::read_value(&mut &bilipulse_proto::encode(good).unwrap()[..]).unwrap();
    if let rmpv::Value::Map(m) = &mut v {
        for (k, val) in m.iter_mut() {
            if k.as_str() == Some("v") {
                *val = rmpv::Value::from(SCHEMA_VERSION + 1);
            }
        }
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &v).unwrap();
    out
}

#[test]
fn stored_keeps_the_highest_rev_per_start() {
    let enc = |s: &WindowSummary| bilipulse_proto::encode(s).unwrap();
    let mut st = Stored::default();
    let r0 = WindowSummary {
        events: 1,
        ..minute(T0)
    };
    let r1 = WindowSummary {
        rev: 1,
        events: 2,
        ..minute(T0)
    };
    let r1_again = WindowSummary {
        rev: 1,
        events: 3,
        ..minute(T0)
    };
    for s in [&r1, &r0, &r1_again] {
        st.offer(ROOM, Window::M1, Range::ALL, &enc(s));
    }
    st.offer(
        ROOM,
        Window::M1,
        Range::ALL,
        &enc(&WindowSummary {
            room: 5,
            ..minute(T0)
        }),
    );
    st.offer(
        ROOM,
        Window::M1,
        Range::ALL,
        &enc(&WindowSummary {
            window: "1s".into(),
            ..minute(T0)
        }),
    );
    st.offer(ROOM, Window::M1, Range::ALL, b"junk");
    let range = Range {
        from: Some(T0 + M),
        to: None,
    };
    st.offer(ROOM, Window::M1, range, &enc(&minute(T0)));
    assert_eq!((st.read, st.skipped), (7, 3));
    assert_eq!(st.summaries, BTreeMap::from([(T0, r1_again)]));
}
