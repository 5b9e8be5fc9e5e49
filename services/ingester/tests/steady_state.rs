//! Three ingesters share sixty rooms: at steady state each room is observed by exactly one of
//! them, and every event the simulator delivered is in BILI_EVENTS exactly once.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ingesters_observe_sixty_rooms_each_exactly_once() {
    let Some(world) = World::start(&rooms(60, 4.0)).await else {
        return;
    };
    let rooms = world.sim_rooms();
    world.add_rooms(&rooms).await;
    let ingesters: Vec<Ingester> = (0..3)
        .map(|i| world.ingester(&format!("ing-{i}"), &[]))
        .collect();

    // One owner per room by every account: the status stream (as `bilipulse rooms ls` shows
    // it), the simulator's open connections, and each ingester's own count of running rooms.
    let assignment = converge("steady state", DEADLINE, async || {
        steady_state(&world, &refs(&ingesters)).await
    })
    .await;
    for i in &ingesters {
        let n = assignment.values().filter(|o| **o == i.id).count();
        assert!(n > 0, "{} owns no room", i.id);
    }
    // Logged in, so identities are not masked.
    let rows = world.rows().await.unwrap();
    assert!(rows.iter().all(|r| !r.masked), "masked rows: {rows:?}");

    more_events(&world, 1000).await;
    world.quiesce(&refs(&ingesters)).await;
    let audit = world.audit().await;
    eprintln!(
        "steady state: owners {:?}; BILI_EVENTS {} messages, truth delivered {}, {} ids compared one by one",
        ingesters
            .iter()
            .map(|i| assignment.values().filter(|o| **o == i.id).count())
            .collect::<Vec<_>>(),
        audit.messages,
        audit.delivered,
        audit.compared_ids
    );
    audit.assert_exactly_once();
}
