//! Scenario 4: out-of-order and late events published straight to `BILI_EVENTS`.
//!
//! Inside the allowed lateness an event lands in its window's first publication; after the
//! window is released but inside the revision horizon it causes a revision with the next
//! `rev`; beyond the horizon it is counted in `coverage.late_events` of a published summary.
//! Nothing is silently lost.

mod common;

use bilipulse_proto::subject::Window;
use common::*;

const ROOM: u64 = 21_452_505;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_are_counted_revised_or_reported() {
    let Some(world) = World::start().await else {
        return;
    };
    let w = world.windower(
        "w-late",
        &[
            ("--lateness", "5s"),
            ("--revise-within", "20s"),
            ("--windows", "1s,10s"),
        ],
    );

    // (1) Out of order within the lateness: A now, B two seconds earlier, read after A.
    let now = now_ms();
    world.publish(&danmaku(ROOM, now, "a", 1)).await;
    world.publish(&danmaku(ROOM, now - 2_000, "b", 2)).await;
    let b_start = Window::S1.start_of(now - 2_000);
    let first = eventually("B's 1s window released", DEADLINE, async || {
        world.finals().await.remove(&(ROOM, "1s".into(), b_start))
    })
    .await;
    assert_eq!(
        (first.rev, first.danmaku),
        (0, 1),
        "B counted in its window's first publication"
    );
    assert_eq!(first.start, b_start);

    // (2) After release, inside the horizon: a revision of the same window.
    world.publish(&danmaku(ROOM, now - 2_000, "c", 3)).await;
    let revised = eventually("B's window revised", DEADLINE, async || {
        world
            .finals()
            .await
            .remove(&(ROOM, "1s".into(), b_start))
            .filter(|s| s.rev == 1)
    })
    .await;
    assert_eq!((revised.danmaku, revised.chatters), (2, 2));

    // (3) Beyond the horizon: reported as a late event of a window that is published. The late
    // event is counted in the window of the watermark, which can be released before A's own
    // window (when a 10 s boundary falls between them): wait for A's window too, since the
    // totals below include it.
    world.publish(&danmaku(ROOM, now - 600_000, "d", 4)).await;
    let a_start = Window::S1.start_of(now);
    let late = eventually(
        "late event reported in a 1s and a 10s summary, and A's window released",
        DEADLINE,
        async || {
            let f = world.finals().await;
            let late = |w: &str| {
                f.values()
                    .filter(|s| s.window == w)
                    .map(|s| s.coverage.late_events)
                    .sum::<u64>()
            };
            let a_released = f.contains_key(&(ROOM, "1s".into(), a_start));
            (late("1s") == 1 && late("10s") == 1 && a_released).then_some(f)
        },
    )
    .await;
    // The old window itself was never invented.
    assert!(!late.contains_key(&(ROOM, "1s".into(), Window::S1.start_of(now - 600_000))));
    // Everything published: 4 danmaku in all, one of them late.
    let danmaku: u64 = late
        .values()
        .filter(|s| s.window == "1s")
        .map(|s| s.danmaku)
        .sum();
    assert_eq!(danmaku, 3, "a, b, c counted in their windows");
    let m = w.metrics().await.unwrap();
    assert_eq!(
        m.get("bilipulse_windower_events_total{label=\"late\"}"),
        1.0
    );
    assert_eq!(
        m.get("bilipulse_windower_events_total{label=\"revised\"}"),
        1.0
    );
    assert!(m.sum("bilipulse_windower_revisions_total") >= 1.0);
    assert!(duplicates(&world.summaries().await).is_empty());
}
