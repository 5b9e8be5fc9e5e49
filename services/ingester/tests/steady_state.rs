//! Three ingesters share sixty rooms: at steady state each room is observed by exactly one of
//! them, and every event the simulator delivered is in BILI_EVENTS exactly once.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ingesters_observe_sixty_rooms_each_exactly_once() {
    let Some(world) = World::start(&rooms(60, 4.0)).await else { return };
    let rooms = world.sim_rooms();
    world.add_rooms(&rooms).await;
    let ingesters: Vec<Ingester> = (0..3).map(|i| world.ingester(&format!("ing-{i}"), &[])).collect();
    let all: Vec<&Ingester> = ingesters.iter().collect();

    let assignment = converge("steady state", DEADLINE, async || steady_state(&world, &all).await).await;
    // Everyone got a share (HRW over 60 rooms cannot leave a member empty in practice).
    for i in &ingesters {
        let n = assignment.values().filter(|o| **o == i.id).count();
        assert!(n > 0, "{} owns no room", i.id);
    }

    // Let traffic flow, then compare with the truth.
    let target = world.events_last_seq().await + 1000;
    eventually("1000 more events", DEADLINE, async || (world.events_last_seq().await >= target).then_some(())).await;
    world.quiesce(&all).await;
    let audit = world.audit().await;
    eprintln!("messages {} delivered {} mismatches {:?}", audit.messages, audit.delivered, audit.count_mismatches());
    eprintln!("missing danmaku {:?}", audit.missing_danmaku.len());
    audit.assert_exactly_once();
}
