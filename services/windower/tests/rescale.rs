//! Scenario 3, the equivalence test: the same input through 1, then 2, then 3 replicas, and
//! through 3 → 1 while running, gives identical final summaries, equal to the recount.

mod common;

use std::collections::BTreeMap;

use bilipulse_proto::subject::Window;
use bilipulse_testkit::process::ServiceProcess;
use common::*;

const ROOMS: [u64; 8] = [
    21_452_505, 865_138, 5_050, 7_734_200, 22_603_245, 1_017, 3_044_248, 9_196_015,
];
const WINDOWS: [Window; 3] = [Window::S1, Window::S10, Window::M1];

/// One run: a fresh NATS, the first half of the log before any windower, `replicas` windowers,
/// the second half while they run (`during` is called in the middle of it), then the finals.
async fn run(
    log: &[bilipulse_proto::RoomEvent],
    replicas: usize,
    during: impl AsyncFnOnce(&World, &mut Vec<ServiceProcess>),
) -> Option<BTreeMap<WindowKey, bilipulse_proto::WindowSummary>> {
    let world = World::start().await?;
    let (first, second) = log.split_at(log.len() / 2);
    for ev in first {
        world.publish(ev).await;
    }
    let flags = [("--windows", "1s,10s,1m"), ("--revise-within", "10m")];
    let mut ws: Vec<ServiceProcess> = (0..replicas)
        .map(|i| world.windower(&format!("w-{replicas}-{i}"), &flags))
        .collect();
    let (a, b) = second.split_at(second.len() / 2);
    for ev in a {
        world.publish(ev).await;
    }
    during(&world, &mut ws).await;
    let case = match ws.len() {
        n if n == replicas => format!("replicas={replicas}"),
        n => format!("replicas={replicas}→{n}"),
    };
    for ev in b {
        world.publish(ev).await;
    }
    for w in &ws {
        world.caught_up(w).await;
    }
    converge("summaries equal the recount", 2 * DEADLINE, async || {
        recount_disagreements(&world, &ROOMS, &WINDOWS, None).await
    })
    .await;
    let all = world.summaries().await;
    assert_no_duplicates(&all, &case);
    Some(comparable(&world.finals().await))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_two_three_replicas_and_three_to_one_give_identical_summaries() {
    let log = traffic(&ROOMS, 3_000, now_ms() - 40_000, 40_000, 42);
    let Some(one) = run(&log, 1, async |_, _| {}).await else {
        return;
    };
    let two = run(&log, 2, async |_, _| {}).await.unwrap();
    let three = run(&log, 3, async |_, _| {}).await.unwrap();
    let shrunk = run(
        &log,
        3,
        async |world: &World, ws: &mut Vec<ServiceProcess>| {
            // Once all three hold key groups, two leave (one gracefully, one killed).
            for w in ws.iter() {
                converge(&format!("{} owns key groups", w.id), DEADLINE, async || {
                    let g = w.metrics().await?.sum("bilipulse_windower_key_groups");
                    (g > 0.0).then_some(()).ok_or(format!("{g} groups"))
                })
                .await;
            }
            ws[1].sigterm();
            ws[2].kill9();
            ws[1].wait_exit(DEADLINE).await;
            ws.truncate(1);
            let _ = world;
        },
    )
    .await
    .unwrap();
    assert!(!one.is_empty());
    assert_eq!(one, two, "1 vs 2 replicas");
    assert_eq!(one, three, "1 vs 3 replicas");
    assert_eq!(one, shrunk, "1 vs 3 → 1 replicas");
}
