//! Where raw command bodies go (`--raw-storage`), and that what is stored is enough to rebuild
//! the events: `frames` (the default) stores each Bilibili frame's bodies as one `RawFrame` on
//! `bili.rawframe.<room>`; `commands` one body per message on `bili.raw.<room>`; `off` nothing.
//! For the first two, `bilipulse reparse` rebuilds from the archive exactly the events that are
//! in BILI_EVENTS, field for field (but `src`; and, from per-command bodies, which carry no
//! receive time, but `recv` and `ts`), and counts exactly the commands the ingester received.

mod common;

use std::collections::BTreeMap;

use bilipulse_proto::{RoomEvent, streams};
use common::*;

/// Runs one ingester with `--raw-storage storage` on four busy rooms until 400 events are
/// stored and everything is through; returns the world, the events by room and the number of
/// commands the ingester received.
async fn observed(storage: &str) -> Option<(World, BTreeMap<u64, Vec<RoomEvent>>, u64)> {
    let (world, ingesters) =
        World::with_ingesters(&rooms(4, 20.0), 1, &[("--raw-storage", storage)]).await?;
    world.steady("steady state", &ingesters).await;
    more_events(&world, 400).await;
    world.quiesce(&ingesters).await;
    let commands = ingesters[0]
        .metrics()
        .await
        .expect("metrics")
        .get("bilipulse_ingester_commands_total") as u64;
    let mut by_room: BTreeMap<u64, Vec<RoomEvent>> = BTreeMap::new();
    for s in world.stored_events().await {
        by_room.entry(s.ev.room).or_default().push(s.ev);
    }
    Some((world, by_room, commands))
}

async fn last_seq(world: &World, stream: &str) -> u64 {
    let mut s = world.js.get_stream(stream).await.expect("stream exists");
    s.info().await.expect("stream info").state.last_sequence
}

/// `bilipulse reparse` of every room equals BILI_EVENTS; returns (frames, bodies) in all.
/// With `times` false, `recv` and `ts` are left out of the comparison: a per-command body
/// carries no receive time, so reparse takes JetStream's store time instead.
async fn assert_reparse_rebuilds(
    world: &World,
    stored: &BTreeMap<u64, Vec<RoomEvent>>,
    commands: u64,
    times: bool,
) -> (u64, u64) {
    let (mut frames, mut bodies) = (0, 0);
    for room in world.sim_rooms() {
        let (rebuilt, report) = bilipulse::reparse::reparse(&world.js, room)
            .await
            .expect("reparse");
        assert_eq!(report.undecodable, 0);
        frames += report.frames;
        bodies += report.bodies;
        let by_id = |events: &[RoomEvent]| -> BTreeMap<String, RoomEvent> {
            events
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e.src = String::new();
                    if !times {
                        (e.recv, e.ts) = (0, 0);
                    }
                    (e.id.clone(), e)
                })
                .collect()
        };
        let want = by_id(stored.get(&room).map_or(&[][..], |v| &v[..]));
        let got = by_id(&rebuilt);
        assert_eq!(got.len(), rebuilt.len(), "room {room}: an id rebuilt twice");
        assert!(!want.is_empty(), "room {room} has events");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "room {room}: the same event ids"
        );
        assert_eq!(got, want, "room {room}: the same events, field for field");
    }
    assert_eq!(
        bodies, commands,
        "every command the ingester received is in the archive"
    );
    (frames, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_frame_is_one_message_and_reparse_rebuilds_the_events() {
    let Some((world, stored, commands)) = observed("frames").await else {
        return;
    };
    let (frames, bodies) = assert_reparse_rebuilds(&world, &stored, commands, true).await;
    assert!(
        frames > 0 && frames <= bodies,
        "{frames} frames, {bodies} bodies"
    );
    assert_eq!(frames, last_seq(&world, streams::RAW_FRAMES.name).await);
    assert_eq!(
        last_seq(&world, streams::RAW.name).await,
        0,
        "nothing per command"
    );
    eprintln!("raw frames: {frames} messages for {bodies} commands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_command_storage_keeps_one_message_per_body_and_reparses_too() {
    let Some((world, stored, commands)) = observed("commands").await else {
        return;
    };
    let (frames, bodies) = assert_reparse_rebuilds(&world, &stored, commands, false).await;
    assert_eq!(frames, 0);
    assert_eq!(last_seq(&world, streams::RAW.name).await, bodies);
    assert_eq!(last_seq(&world, streams::RAW_FRAMES.name).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_raw_storage_off_only_events_are_stored() {
    let Some((world, stored, commands)) = observed("off").await else {
        return;
    };
    assert!(commands > 0 && !stored.is_empty());
    assert_eq!(last_seq(&world, streams::RAW.name).await, 0);
    assert_eq!(last_seq(&world, streams::RAW_FRAMES.name).await, 0);
}
