//! Scenario 7: property tests for the window arithmetic — alignment, boundaries, negative and
//! huge timestamps — and for the release rule built on it.

use bilipulse_proto::subject::Window;
use bilipulse_proto::{Danmaku, Payload, RoomEvent, SCHEMA_VERSION};
use bilipulse_windower::room::{Released, RoomState};
use bilipulse_windower::settings::Settings;
use proptest::prelude::*;

fn width() -> impl Strategy<Value = Window> {
    prop_oneof![
        Just(Window::S1),
        Just(Window::S10),
        Just(Window::M1),
        (1u32..=86_400 * 7).prop_map(|s| Window::from_secs(s).unwrap()),
    ]
}

fn danmaku(ts: i64, uid: u64) -> RoomEvent {
    RoomEvent {
        v: SCHEMA_VERSION,
        room: 1,
        cmd: "DANMU_MSG".into(),
        ts,
        recv: ts,
        id: format!("1:{ts}:{uid}"),
        src: "p".into(),
        payload: Payload::Danmaku(Danmaku {
            uid,
            uid_crc32: format!("{uid:08x}"),
            ..Danmaku::default()
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every timestamp lies in exactly one window: aligned to the epoch, `start <= ts < end`.
    #[test]
    fn a_timestamp_lies_in_its_aligned_window(ts in any::<i64>(), w in width()) {
        let start = w.start_of(ts);
        prop_assert!(start <= ts);
        if start != i64::MIN {
            prop_assert_eq!(start.rem_euclid(w.millis()), 0);
            prop_assert!(ts - start < w.millis());
            prop_assert_eq!(w.start_of(start), start, "a start is its own window's start");
            if let Some(end) = start.checked_add(w.millis()) {
                prop_assert_eq!(w.start_of(end), end, "the end starts the next window");
                prop_assert_eq!(w.start_of(end - 1), start, "the last millisecond is still inside");
            }
        }
    }

    /// Negative timestamps (before 1970) floor towards minus infinity, not towards zero.
    #[test]
    fn negative_timestamps_floor_down(ts in i64::MIN / 2..0i64, w in width()) {
        let start = w.start_of(ts);
        prop_assert!(start <= ts && ts < start + w.millis());
    }

    /// A window is released once the watermark passes its end and not before; with events
    /// at arbitrary times, every counted danmaku appears in exactly one released summary of
    /// each width.
    #[test]
    fn every_event_is_released_once_per_width(
        offsets in proptest::collection::vec(0i64..120_000, 1..200),
        base in 1_500_000_000_000i64..1_900_000_000_000,
    ) {
        let s = Settings { revise_ms: 600_000, ..Settings::default() };
        let mut room = RoomState::new(1, &s);
        let mut out = Released::default();
        let mut sorted = offsets.clone();
        sorted.sort();
        for (i, off) in sorted.iter().enumerate() {
            room.on_event(&danmaku(base + off, i as u64), i as u64 + 1, base + off, &s, &mut out);
        }
        let last = base + sorted.last().unwrap();
        // Not yet: the watermark is `lateness` behind the last event.
        room.release(last, &s, false, usize::MAX, &mut out);
        for w in &out.summaries {
            prop_assert!(w.end <= last - s.lateness_ms, "released {}..{} early", w.start, w.end);
        }
        // Far later everything is out.
        room.release(last + 10 * 3_600_000, &s, false, usize::MAX, &mut out);
        for w in &s.windows {
            let total: u64 = out.summaries.iter().filter(|x| x.window == w.to_string()).map(|x| x.danmaku).sum();
            prop_assert_eq!(total, sorted.len() as u64, "width {}", w);
            let mut starts: Vec<i64> = out.summaries.iter().filter(|x| x.window == w.to_string()).map(|x| x.start).collect();
            let n = starts.len();
            starts.dedup();
            prop_assert_eq!(starts.len(), n, "a window released twice with events in order");
        }
    }
}

#[test]
fn the_extremes_do_not_overflow() {
    for w in [Window::S1, Window::M1, Window::from_secs(u32::MAX).unwrap()] {
        for ts in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let start = w.start_of(ts);
            assert!(start <= ts, "{w} {ts}");
        }
    }
}
