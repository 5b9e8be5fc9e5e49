//! Rooms change at runtime through `bilipulse rooms`: a room added by its short id is resolved
//! once and observed under its real id with the alias visible; a removed room's connection
//! closes within seconds; garbage in `bili_rooms` is reported and skipped while everything else
//! keeps working; rooms beyond every ingester's capacity are reported, not silently ignored.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bilipulse_proto::RoomConfig;
use bilipulse_sim::{Profile, RoomSpec};
use clap::Parser;
use common::*;

const REAL: u64 = 40_000_123;
const SHORT: u64 = 5269;
/// How quickly a removed room's connection must close.
const CLOSE_BOUND: Duration = Duration::from_secs(5);

/// Runs a `bilipulse` command line in-process, as a user would type it.
async fn bilipulse(args: &[&str]) -> ExitCode {
    let cli =
        bilipulse::Cli::try_parse_from(std::iter::once("bilipulse").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("bilipulse {args:?}: {e}"));
    bilipulse::run(cli)
        .await
        .unwrap_or_else(|e| panic!("bilipulse {args:?}: {e:#}"))
}

/// Removes `id` (real or alias) with `bilipulse rooms rm` and returns when the simulator has
/// seen the connection of `real` close, with the time it took and when `rm` ran (Unix ms).
async fn remove(world: &World, id: u64, real: u64) -> (Duration, i64) {
    let url = world.nats.url();
    let at = now_ms();
    let t0 = Instant::now();
    assert_eq!(
        bilipulse(&["rooms", "rm", &id.to_string(), "--nats-url", &url]).await,
        ExitCode::SUCCESS
    );
    eventually(
        &format!("the connection of room {real} to close"),
        DEADLINE,
        async || (world.open_connections().get(&real).copied().unwrap_or(0) == 0).then_some(()),
    )
    .await;
    (t0.elapsed(), at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_added_by_short_id_or_removed_are_followed_and_garbage_is_skipped() {
    let mut specs = rooms(2, 15.0);
    specs.push(
        RoomSpec::new(REAL, Profile::Normal)
            .with_rate(15.0)
            .with_short_id(SHORT),
    );
    let Some(world) = World::start(&specs).await else {
        return;
    };
    let [kept, other] = [specs[0].room, specs[1].room];
    world.add_rooms(&[kept, other]).await;
    let ingesters: Vec<Ingester> = (0..2)
        .map(|i| world.ingester(&format!("ing-{i}"), &[]))
        .collect();
    world.steady("steady state", &ingesters).await;

    // Garbage: a key that is no room id, a value that is no MessagePack, a value naming another
    // room than its key.
    let config = |room| {
        bilipulse_proto::encode(&RoomConfig {
            v: 1,
            room,
            ..Default::default()
        })
        .unwrap()
    };
    world
        .rooms_kv
        .put("not-a-room", config(1).into())
        .await
        .unwrap();
    world
        .rooms_kv
        .put("12345", b"\xc1 not msgpack".to_vec().into())
        .await
        .unwrap();
    world.rooms_kv.put("777", config(778).into()).await.unwrap();
    for i in &ingesters {
        eventually(
            &format!("{} to count the invalid entries", i.id),
            DEADLINE,
            async || {
                let m = i.metrics().await.ok()?;
                (m.get("bilipulse_ingester_rooms_invalid_total") >= 3.0).then_some(())
            },
        )
        .await;
        let log = i.log();
        for key in ["not-a-room", "12345", "777"] {
            assert!(
                log.contains("ignoring invalid KV entry") && log.contains(key),
                "{} did not log {key}",
                i.id
            );
        }
    }

    // Add by short id, exactly as a user would.
    let url = world.nats.url();
    let base = world.sim.http_base().to_string();
    let add = [
        "rooms",
        "add",
        "5269",
        "--nats-url",
        &url,
        "--label",
        "by short id",
        "--bili-api-base",
        &base,
        "--bili-live-base",
        &base,
        "--bili-http-interval",
        "1ms",
    ];
    assert_eq!(bilipulse(&add).await, ExitCode::SUCCESS);
    converge("steady state with the new room", DEADLINE, async || {
        let a = steady_state(&world, &ingesters).await?;
        if a.contains_key(&REAL) {
            Ok(a)
        } else {
            Err("room not listed yet".into())
        }
    })
    .await;
    let rows = world.rows().await.unwrap();
    let row = rows
        .iter()
        .find(|r| r.room == REAL)
        .expect("row keyed by the real id");
    assert_eq!(row.alias, Some(SHORT));
    assert_eq!(row.label, "by short id");
    assert!(
        !rows.iter().any(|r| r.room == SHORT),
        "a row keyed by the short id"
    );
    more_events(&world, 100).await;
    eventually(
        "events of the room added by short id",
        DEADLINE,
        async || (world.status(REAL).await?.events_published > 0).then_some(()),
    )
    .await;

    // Remove by alias and by real id: the connections close within seconds.
    let (by_alias, rm_alias_at) = remove(&world, SHORT, REAL).await;
    let (by_id, rm_id_at) = remove(&world, other, other).await;
    for took in [by_alias, by_id] {
        assert!(
            took <= CLOSE_BOUND,
            "a removed room's connection closed after {took:?}"
        );
    }
    for room in [REAL, other] {
        let s = world.status(room).await.expect("status");
        assert_eq!(s.state, bilipulse_proto::ConnState::Stopped, "room {room}");
    }
    // The rest keeps working.
    converge("steady state with one room", DEADLINE, async || {
        let a = steady_state(&world, &ingesters).await?;
        if a.keys().copied().collect::<BTreeSet<_>>() == BTreeSet::from([kept]) {
            Ok(())
        } else {
            Err(format!("rooms {a:?}"))
        }
    })
    .await;
    more_events(&world, 30).await;

    world.quiesce(&ingesters).await;
    let audit = world.audit().await;
    let stored = world.stored_events().await;
    assert!(
        stored.iter().any(|s| s.ev.room == REAL),
        "no event of the room added by short id"
    );
    assert!(
        !stored.iter().any(|s| s.ev.room == SHORT),
        "events keyed by the short id"
    );
    // After `rm`, what the simulator still queued to the closing connection is not owed; nor
    // is what it sent just before and the ingester had not read when it stopped the room: an
    // event made a moment before `rm` goes out with the simulator's next batch (every 20 ms)
    // and can reach a socket that is being closed. (Once failed in CI: one like generated
    // just before `rm` missing.) A second before `rm` is excused.
    let after_rm: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::from([
        (REAL, vec![(rm_alias_at - 1_000, i64::MAX)]),
        (other, vec![(rm_id_at - 1_000, i64::MAX)]),
    ]);
    eprintln!(
        "rooms: removed rooms closed after {by_alias:?} (alias) and {by_id:?} (id); BILI_EVENTS {} messages, truth delivered {}",
        audit.messages, audit.delivered
    );
    audit.assert_exactly_once_outside(&after_rm, &world.sim.truth().events());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_beyond_every_ingesters_capacity_are_reported_as_unplaced() {
    let three_rooms = [("--max-rooms", "3")];
    let Some((world, mut ingesters)) = World::with_ingesters(&rooms(5, 1.0), 1, &three_rooms).await
    else {
        return;
    };

    let unplaced = converge(
        "3 rooms connected and 2 reported unplaced",
        DEADLINE,
        async || {
            let m = ingesters[0].metrics().await?;
            let (owned, unplaced) = (
                m.get("bilipulse_ingester_rooms_owned"),
                m.get("bilipulse_ingester_rooms_unplaced"),
            );
            if (owned, unplaced) != (3.0, 2.0) {
                return Err(format!("owned {owned}, unplaced {unplaced}"));
            }
            let rows = world.rows().await?;
            let unplaced: Vec<u64> = rows
                .iter()
                .filter(|r| {
                    r.state == "stopped"
                        && r.last_error
                            .as_deref()
                            .is_some_and(|e| e.contains("unplaced"))
                })
                .map(|r| r.room)
                .collect();
            let connected = rows.iter().filter(|r| r.state == "connected").count();
            if unplaced.len() != 2 || connected != 3 {
                return Err(format!("rows: {rows:?}"));
            }
            Ok(unplaced)
        },
    )
    .await;
    let open = world.open_connections();
    assert_eq!(open.values().sum::<usize>(), 3, "connections: {open:?}");
    assert!(unplaced.iter().all(|r| !open.contains_key(r)));

    // Capacity arrives: everything is placed.
    ingesters.push(world.ingester("ing-1", &three_rooms));
    world
        .steady("steady state with all rooms placed", &ingesters)
        .await;
    for i in &ingesters {
        assert_eq!(
            i.metrics()
                .await
                .unwrap()
                .get("bilipulse_ingester_rooms_unplaced"),
            0.0
        );
    }
}
