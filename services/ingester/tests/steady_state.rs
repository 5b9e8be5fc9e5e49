//! Three ingesters share sixty rooms: at steady state each room is observed by exactly one of
//! them, and every event the simulator delivered is in BILI_EVENTS exactly once.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ingesters_observe_sixty_rooms_each_exactly_once() {
    let Some((world, ingesters)) = World::with_ingesters(&rooms(60, 4.0), 3, &[]).await else {
        return;
    };

    // One owner per room by every account: the status stream (as `bilipulse rooms ls` shows
    // it), the simulator's open connections, and each ingester's own count of running rooms.
    let assignment = world.steady("steady state", &ingesters).await;
    let owned: Vec<usize> = ingesters
        .iter()
        .map(|i| rooms_of(&assignment, &i.id).len())
        .collect();
    assert!(!owned.contains(&0), "an ingester owns no room: {owned:?}");
    // Logged in, so identities are not masked.
    let rows = world.rows().await.unwrap();
    assert!(rows.iter().all(|r| !r.masked), "masked rows: {rows:?}");

    more_events(&world, 1000).await;
    world.quiesce(&ingesters).await;
    let audit = world.audit().await;
    eprintln!(
        "steady state: owners {owned:?}; BILI_EVENTS {} messages, truth delivered {}, {} ids compared one by one",
        audit.messages, audit.delivered, audit.compared_ids
    );
    audit.assert_exactly_once();
}
