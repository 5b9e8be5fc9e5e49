//! Scenario 6: live sessions. live → traffic → preparing → live again within the merge gap →
//! preparing is one session with the right totals; a longer gap makes two.

mod common;

use bilipulse_proto::{Live, LiveState, Payload, SuperChat};
use common::*;

const ROOM: u64 = 7_734_200;

fn live(state: LiveState, ts: i64, id: &str) -> bilipulse_proto::RoomEvent {
    let mut ev = event(
        ROOM,
        ts,
        id,
        Payload::Live(Live {
            state,
            ..Live::default()
        }),
    );
    ev.cmd = if state == LiveState::Live {
        "LIVE"
    } else {
        "PREPARING"
    }
    .into();
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_and_restart_within_the_gap_is_one_session_and_a_longer_gap_makes_two() {
    let Some(world) = World::start().await else {
        return;
    };
    let _w = world.windower(
        "w-sessions",
        &[
            ("--session-merge-gap", "30s"),
            ("--session-interval", "1s"),
            ("--lateness", "500ms"),
        ],
    );
    // Merge decisions go by event time: a restart 30 s or less after the end (by Bilibili's
    // timestamps) continues the session, a later one starts a new one. The final comes once
    // the watermark is a gap past the end.
    world
        .publish(&live(LiveState::Live, now_ms(), "live1"))
        .await;
    for i in 0..5u64 {
        world
            .publish(&danmaku(ROOM, now_ms(), &format!("d{i}"), 100 + i % 3))
            .await;
    }
    world.publish(&gift(ROOM, now_ms(), "g1", 100, 5_200)).await;
    world
        .publish(&live(LiveState::Preparing, now_ms(), "prep1"))
        .await;
    world
        .publish(&live(LiveState::Live, now_ms(), "live2"))
        .await;
    let sc = SuperChat {
        sc_id: 9,
        uid: 101,
        uname: "user101".into(),
        price_cny: 30,
        ..SuperChat::default()
    };
    world
        .publish(&event(ROOM, now_ms(), "sc9", Payload::Superchat(sc)))
        .await;
    world.publish(&danmaku(ROOM, now_ms(), "d9", 104)).await;
    let end1 = now_ms();
    world
        .publish(&live(LiveState::Preparing, end1, "prep2"))
        .await;

    // Session one ends only when the watermark passes its end by the gap: push it there with
    // an event 31 s later (this also starts session two below).
    let first = {
        let t = end1 + 31_000;
        world.publish(&live(LiveState::Live, t, "live3")).await;
        eventually("session one final", DEADLINE, async || {
            world.sessions().await.into_iter().find(|s| !s.running)
        })
        .await
    };
    assert_eq!(first.restarts, 1, "the restart within the gap folded in");
    assert_eq!(first.danmaku, 6);
    assert_eq!(first.chatters, 4);
    assert_eq!(
        (
            first.gifts,
            first.gift_mcny,
            first.superchats,
            first.superchat_mcny
        ),
        (1, 5_200, 1, 30_000)
    );
    assert_eq!(first.total_mcny, 35_200);
    assert!((first.total_cny - 35.2).abs() < 1e-9);
    assert_eq!(first.top_spenders[0].uid, 101);
    assert_eq!(first.top_chatters[0].count, 2);
    assert!(first.top_exact);
    let end = first.end.expect("final has an end");
    assert!(end >= first.start && first.duration_ms == end - first.start);

    // A restart more than the gap after the end is a new session; an event a gap after its end
    // moves the watermark past it, so it is final too.
    let t = end1 + 31_000;
    world.publish(&danmaku(ROOM, t + 1, "e1", 200)).await;
    world
        .publish(&live(LiveState::Preparing, t + 2, "prep3"))
        .await;
    world.publish(&danmaku(ROOM, t + 32_000, "e2", 201)).await;
    let all = eventually("session two final", DEADLINE, async || {
        let finals: Vec<_> = world
            .sessions()
            .await
            .into_iter()
            .filter(|s| !s.running)
            .collect();
        (finals.len() == 2).then_some(finals)
    })
    .await;
    assert_ne!(all[0].id, all[1].id);
    assert_eq!((all[1].danmaku, all[1].restarts), (1, 0));
    // Every update has a distinct (id, rev).
    let updates = world.sessions().await;
    let mut seen = std::collections::BTreeSet::new();
    assert!(updates.iter().all(|s| seen.insert((s.id.clone(), s.rev))));
}
