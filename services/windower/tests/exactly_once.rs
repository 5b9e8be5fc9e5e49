//! Scenario 2: `kill -9` of the windower, several times, mid-window while traffic flows.
//! Every final summary still equals `bilipulse recount`, and `BILI_SUMMARY` holds no summary
//! twice — also after a restart that outlives JetStream's 120 s duplicate window, which
//! therefore is not what prevents duplicates (the checkpoint committed with the summaries is).

mod common;

use std::time::Duration;

use bilipulse_proto::subject::Window;
use common::*;

const ROOMS: [u64; 6] = [21_452_505, 865_138, 5_050, 7_734_200, 22_603_245, 1_017];
const WINDOWS: [Window; 2] = [Window::S1, Window::S10];

/// Publishes `events` in real time order (their own timestamps ahead of now are not used: the
/// log is given times around the moment it is sent).
async fn send(world: &World, events: &[bilipulse_proto::RoomEvent]) {
    for ev in events {
        world.publish(ev).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_window_neither_loses_nor_repeats_a_summary() {
    let Some(world) = World::start().await else {
        return;
    };
    let flags = [("--windows", "1s,10s")];
    let mut w = world.windower("w-a", &flags);
    for round in 0..4u64 {
        // Traffic in this round's second, read live by the windower.
        let log = traffic(&ROOMS, 400, now_ms(), 1_500, round);
        send(&world, &log).await;
        // Kill it once it has committed something of this round, i.e. mid-way.
        let target = world.summaries().await.len() + 1;
        eventually("a commit in this round", DEADLINE, async || {
            (world.summaries().await.len() >= target).then_some(())
        })
        .await;
        w.kill9();
        w = world.windower(&format!("w-b{round}"), &flags);
    }
    world.caught_up(&w).await;
    converge("summaries equal the recount", DEADLINE, async || {
        recount_disagreements(&world, &ROOMS, &WINDOWS, None).await
    })
    .await;
    let all = world.summaries().await;
    assert_no_duplicates(&all, "");
    let m = w.metrics().await.unwrap();
    assert_eq!(
        m.get("bilipulse_windower_commits_total{label=\"refused\"}"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_the_duplicate_window_repeats_nothing() {
    let Some(world) = World::start().await else {
        return;
    };
    let flags = [("--windows", "1s,10s"), ("--revise-within", "10m")];
    let mut w = world.windower("w-long", &flags);
    send(&world, &traffic(&ROOMS, 300, now_ms(), 1_000, 7)).await;
    let target = world.summaries().await.len() + 1;
    eventually("a commit", DEADLINE, async || {
        (world.summaries().await.len() >= target).then_some(())
    })
    .await;
    w.kill9();
    // The property under test is the passage of time itself: past the stream's duplicate
    // window, a re-published summary would be stored again.
    let dup_window = bilipulse_proto::streams::SUMMARY.duplicate_window;
    tokio::time::sleep(dup_window + Duration::from_secs(2)).await;
    send(&world, &traffic(&ROOMS, 200, now_ms(), 1_000, 8)).await;
    let w = world.windower("w-long-2", &flags);
    world.caught_up(&w).await;
    converge("summaries equal the recount", DEADLINE, async || {
        recount_disagreements(&world, &ROOMS, &WINDOWS, None).await
    })
    .await;
    let all = world.summaries().await;
    assert_no_duplicates(&all, "");
}
