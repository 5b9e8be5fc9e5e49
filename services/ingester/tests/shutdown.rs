//! One ingester of three goes away while traffic flows: gracefully (SIGTERM, as on a rolling
//! update or scale-down) its rooms move before it exits and nothing is lost; abruptly
//! (`kill -9`, a crash or OOM kill) its rooms come back once its membership expires, the gap is
//! visible in the rooms' status, and everything outside the gap arrives exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;

/// Bound asserted for a crashed ingester's rooms to be observed again: the membership TTL
/// (2 s in these tests; renewals every TTL/3) plus resolving and connecting, with room to
/// spare on a loaded 2-core box.
const TAKEOVER_BOUND: Duration = Duration::from_secs(15);

/// Three ingesters at steady state with traffic flowing, one of them about to go.
struct Scene {
    world: World,
    /// The two that stay.
    ingesters: Vec<Ingester>,
    /// The one that goes (`ing-1`).
    victim: Ingester,
    /// Who owned which room with all three.
    before: Assignment,
    /// The rooms the victim owned.
    its_rooms: BTreeSet<u64>,
}

async fn three_and_a_victim() -> Option<Scene> {
    let (world, mut ingesters) = World::with_ingesters(&rooms(60, 4.0), 3, &[]).await?;
    let before = world.steady("steady state", &ingesters).await;
    more_events(&world, 300).await;
    let victim = ingesters.remove(1);
    let its_rooms = rooms_of(&before, &victim.id);
    assert!(!its_rooms.is_empty(), "{} owns no room", victim.id);
    Some(Scene {
        world,
        ingesters,
        victim,
        before,
        its_rooms,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_every_room_over_before_exiting_and_loses_nothing() {
    let Some(Scene {
        world,
        ingesters,
        mut victim,
        before,
        its_rooms,
    }) = three_and_a_victim().await
    else {
        return;
    };
    let all_rooms = world.sim_rooms();
    let t0 = Instant::now();
    victim.sigterm();
    let status = victim.wait_exit(Duration::from_secs(30)).await;
    let took = t0.elapsed();
    assert!(status.success(), "exit status {status}");
    // Bounded: the hand-over timeout (10 s here) plus publishing what is left.
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");

    // Make-before-break: at the moment it has exited, each of its rooms is already connected
    // elsewhere, and none was ever without a connection.
    let open = world.open_connections();
    let uncovered: Vec<u64> = its_rooms
        .iter()
        .copied()
        .filter(|r| open.get(r).copied().unwrap_or(0) == 0)
        .collect();
    assert!(
        uncovered.is_empty(),
        "rooms with no connection right after the exit: {uncovered:?}"
    );
    let gaps = world.coverage_gaps(&all_rooms.iter().copied().collect());
    assert!(
        gaps.is_empty(),
        "rooms without a connection during the hand-over: {gaps:?}"
    );
    // It said goodbye: its membership key is gone, not left to expire.
    let members = world.members().await.expect("members");
    assert!(
        !members.contains_key(&victim.id),
        "membership key left behind: {members:?}"
    );
    let log = victim.log();
    assert!(
        !log.contains("did not report connected in time"),
        "a hand-over timed out:\n{}",
        victim.log_tail()
    );

    let after = world.steady("steady state without it", &ingesters).await;
    assert_stayers_kept_their_rooms(&before, &after, &ingesters);
    more_events(&world, 300).await;
    world.quiesce(&ingesters).await;
    let audit = world.audit().await;
    eprintln!(
        "SIGTERM: exit after {took:?}, {} rooms handed over; BILI_EVENTS {} messages, truth delivered {}",
        its_rooms.len(),
        audit.messages,
        audit.delivered
    );
    audit.assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_rooms_come_back_within_the_membership_ttl_and_only_the_gap_is_missing() {
    let Some(Scene {
        world,
        ingesters,
        mut victim,
        before,
        its_rooms,
    }) = three_and_a_victim().await
    else {
        return;
    };
    let all_rooms = world.sim_rooms();
    let killed_at = now_ms();
    victim.kill9();

    // The simulator sees its connections drop, and new ones come once its key expires.
    let back_at = eventually(
        "the crashed ingester's rooms to be connected again",
        TAKEOVER_BOUND * 2,
        async || {
            let gaps = world.coverage_gaps(&its_rooms);
            let ended: BTreeMap<u64, i64> = gaps
                .iter()
                .filter_map(|(r, _, to)| to.map(|t| (*r, t)))
                .collect();
            (ended.len() == its_rooms.len() && gaps.iter().all(|g| g.2.is_some())).then_some(ended)
        },
    )
    .await;
    let took = Duration::from_millis(
        back_at
            .values()
            .map(|t| t - killed_at)
            .max()
            .unwrap_or(0)
            .max(0) as u64,
    );
    assert!(
        took <= TAKEOVER_BOUND,
        "rooms came back after {took:?}, bound {TAKEOVER_BOUND:?}"
    );
    // It cannot take longer than the TTL less a renewal period to even notice.
    assert!(
        took >= MEMBER_TTL / 3,
        "rooms came back after {took:?}: faster than the membership can expire"
    );
    let after = world.steady("steady state without it", &ingesters).await;

    // The gap is real, bounded, and only in its rooms.
    let gaps = world.coverage_gaps(&all_rooms.iter().copied().collect());
    let gapped: BTreeSet<u64> = gaps.iter().map(|g| g.0).collect();
    assert_eq!(gapped, its_rooms, "rooms with a coverage gap");
    for (room, from, to) in &gaps {
        let to = to.unwrap_or_else(|| panic!("room {room} still uncovered"));
        assert!(
            to - from <= TAKEOVER_BOUND.as_millis() as i64,
            "room {room} uncovered for {} ms",
            to - from
        );
    }
    // … and visible in coverage: each of its rooms is now reported by a survivor, connected
    // only since after the crash.
    for r in &its_rooms {
        let s = world.status(*r).await.expect("status");
        assert_eq!(s.src, after[r]);
        assert!(
            s.since >= killed_at,
            "room {r}: new owner connected since {} < crash at {killed_at}",
            s.since
        );
    }
    assert_stayers_kept_their_rooms(&before, &after, &ingesters);

    more_events(&world, 300).await;
    world.quiesce(&ingesters).await;
    let audit = world.audit().await;
    // What the crashed process had received but not yet published, and whatever was sent to
    // its dead socket, is lost: allow the gap plus a second before it.
    let excused: BTreeMap<u64, Vec<(i64, i64)>> = gaps
        .iter()
        .map(|(room, from, to)| {
            (
                *room,
                vec![(
                    from.min(&killed_at) - 1000,
                    to.map_or(i64::MAX, |t| t + 1000),
                )],
            )
        })
        .collect();
    let missing: u64 = audit.missing_per_room().values().sum();
    let truth = world.sim.truth();
    let unobserved: u64 = its_rooms
        .iter()
        .map(|r| truth.generated(*r).values().sum::<u64>() - truth.counts(*r).values().sum::<u64>())
        .sum();
    eprintln!(
        "kill -9: {} rooms back after {took:?}; {unobserved} events sent while nobody was connected, \
         {missing} lost in the crashed process; BILI_EVENTS {} messages, truth delivered {}",
        its_rooms.len(),
        audit.messages,
        audit.delivered
    );
    audit.assert_exactly_once_outside(&excused, &world.sim.truth().events());
}
