//! `kubectl scale` while traffic flows: 3 → 5 → 2 ingesters. Rendezvous hashing moves only the
//! rooms that must move, every hand-over is made before it is broken, and BILI_EVENTS ends up
//! with every delivered event exactly once.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_three_to_five_to_two_moves_few_rooms_and_loses_nothing() {
    let Some((world, mut ingesters)) = World::with_ingesters(&rooms(60, 4.0), 3, &[]).await else {
        return;
    };
    let all_rooms = world.sim_rooms();
    let three = world
        .steady("3 ingesters at steady state", &ingesters)
        .await;
    more_events(&world, 300).await;

    // Scale up.
    ingesters.push(world.ingester("ing-3", &[]));
    ingesters.push(world.ingester("ing-4", &[]));
    let five = world
        .steady("5 ingesters at steady state", &ingesters)
        .await;
    let moved: Vec<u64> = all_rooms
        .iter()
        .copied()
        .filter(|r| three[r] != five[r])
        .collect();
    // Ideal: 2/5 of the rooms (24 of 60); "all rooms move" would be 60.
    assert!(!moved.is_empty(), "nothing moved to the new ingesters");
    assert!(
        moved.len() * 100 <= all_rooms.len() * 60,
        "{} of {} rooms moved on 3 → 5",
        moved.len(),
        all_rooms.len()
    );
    for r in &moved {
        assert!(
            ["ing-3", "ing-4"].contains(&five[r].as_str()),
            "room {r} moved {} → {} between old members",
            three[r],
            five[r]
        );
    }
    more_events(&world, 300).await;

    // Scale down: Kubernetes terminates the three surplus pods at once.
    let mut leaving: Vec<Ingester> = ingesters.drain(2..).collect();
    for i in &leaving {
        i.sigterm();
    }
    for i in &mut leaving {
        let status = i.wait_exit(Duration::from_secs(30)).await;
        assert!(status.success(), "{} exited with {status}", i.id);
    }
    let two = world
        .steady("2 ingesters at steady state", &ingesters)
        .await;
    assert_stayers_kept_their_rooms(&five, &two, &ingesters);
    more_events(&world, 300).await;

    let rooms: BTreeSet<u64> = all_rooms.iter().copied().collect();
    let gaps = world.coverage_gaps(&rooms);
    assert!(
        gaps.is_empty(),
        "rooms without any connection during the hand-overs: {gaps:?}"
    );
    world.quiesce(&ingesters).await;
    let audit = world.audit().await;
    eprintln!(
        "moved on 3 → 5: {} of {} rooms; BILI_EVENTS: {} messages, truth delivered {}",
        moved.len(),
        all_rooms.len(),
        audit.messages,
        audit.delivered
    );
    audit.assert_exactly_once();
}
