//! Load mode (`--replay`): a connection is sent exactly its frame budget of recorded commands,
//! each one a real body from the fixtures, then stays open with its heartbeats answered. This
//! is the feed `deploy/bench.sh` measures decoders on, so its count must be exact. With
//! `--replay-fresh` the bodies carry fresh ids and times, so a pipeline sees new events.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use bilipulse_bilibili::client::{self, ClientConfig, ClientEvent, ConnectionState, Source};
use bilipulse_bilibili::commands;
use bilipulse_sim::{Profile, ReplayConfig, RoomSpec, SimConfig};
use bilipulse_testkit::fixtures;
use tokio_util::sync::CancellationToken;

const ROOM: u64 = 1001;
const FRAMES: u64 = 30;
const PER_FRAME: u32 = 7;
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gets_its_frame_budget_of_recorded_commands_and_stays_alive() {
    let Some(dir) = fixtures::dir() else { return };
    let recorded: BTreeSet<Vec<u8>> = ["messages", "messages-sanitized"]
        .iter()
        .flat_map(|sub| fixtures::files(&dir, sub, "json"))
        .map(|f| std::fs::read(f).unwrap().trim_ascii().to_vec())
        .collect();
    let mut cfg = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Quiet)]);
    cfg.lenient_auth = true;
    cfg.default_protover = 3;
    cfg.replay = ReplayConfig {
        dir: Some(dir),
        per_frame: PER_FRAME,
        frames: FRAMES,
        rate: 0.0,
        fresh_frames: 0,
    };
    let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");

    let mut client_cfg = ClientConfig::new(
        ROOM,
        Source::Direct {
            url: sim.ws_url(),
            token: None,
            buvid: None,
        },
    );
    client_cfg.heartbeat = Duration::from_millis(200);
    // Dead after 1 s without a frame: the connection outlives several of those after the feed
    // ends only if the heartbeats are answered.
    client_cfg.dead_after = Duration::from_secs(1);
    let cancel = CancellationToken::new();
    let (mut rx, task) = client::spawn(client_cfg, cancel.clone());

    let want = FRAMES * u64::from(PER_FRAME);
    let mut commands = 0u64;
    let mut popularity = 0u32;
    let outcome = tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = rx.recv().await {
            match ev {
                ClientEvent::Commands(batch) => {
                    for body in &batch.bodies {
                        // Anonymous connections are told at once that names are masked; that
                        // notice is not part of the feed.
                        if commands::peek_cmd(body) == Some("LOG_IN_NOTICE") {
                            continue;
                        }
                        assert!(
                            recorded.contains(&body[..]),
                            "not a recorded body: {}",
                            String::from_utf8_lossy(&body[..body.len().min(120)])
                        );
                        commands += 1;
                    }
                }
                // Heartbeat replies well after the last frame: the connection is alive.
                ClientEvent::Popularity(_) if commands == want => {
                    popularity += 1;
                    if popularity == 8 {
                        return;
                    }
                }
                ClientEvent::State(ConnectionState::Disconnected { reason, .. }) => {
                    panic!("disconnected after {commands} commands: {reason}")
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "{commands} of {want} commands and {popularity} heartbeat replies after them in {DEADLINE:?}"
    );
    assert_eq!(commands, want, "exactly the frame budget");
    cancel.cancel();
    task.await.unwrap();
}

/// Connects to `sim` in `ROOM` and returns the first `n` command bodies of the feed (the
/// anonymous connection's `LOG_IN_NOTICE` left out).
async fn first_bodies(sim: &bilipulse_sim::SimHandle, n: usize) -> Vec<Vec<u8>> {
    let cancel = CancellationToken::new();
    let client_cfg = ClientConfig::new(
        ROOM,
        Source::Direct {
            url: sim.ws_url(),
            token: None,
            buvid: None,
        },
    );
    let (mut rx, task) = client::spawn(client_cfg, cancel.clone());
    let mut bodies = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = rx.recv().await {
            if let ClientEvent::Commands(batch) = ev {
                for body in &batch.bodies {
                    if commands::peek_cmd(body) != Some("LOG_IN_NOTICE") {
                        bodies.push(body.to_vec());
                    }
                }
                if bodies.len() >= n {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {n} commands in {DEADLINE:?}", bodies.len()));
    cancel.cancel();
    task.await.unwrap();
    bodies.truncate(n);
    bodies
}

/// What the events normalised from some bodies are, as a pipeline deduplicating them sees it.
#[derive(Debug, Default)]
struct Freshness {
    events: usize,
    /// Distinct event ids.
    distinct: usize,
    /// Events whose id is one of Bilibili's own (danmaku, gift, Super Chat), and how many of
    /// those ids are distinct.
    native: usize,
    native_distinct: usize,
    /// Events timed more than a second before `since_ms`.
    stale: usize,
    /// Events from bodies that carry a base64 protobuf (`"pb":`), which restamping leaves as
    /// recorded; not counted in the fields above.
    protobuf: usize,
}

fn freshness(bodies: &[Vec<u8>], since_ms: i64) -> Freshness {
    let (mut ids, mut native) = (HashSet::new(), HashSet::new());
    let mut f = Freshness::default();
    for body in bodies {
        let events = commands::normalize(ROOM, body, since_ms, "test").expect("a command");
        if has_protobuf(body) {
            f.protobuf += events.len();
            continue;
        }
        for ev in events {
            f.events += 1;
            f.stale += usize::from(ev.ts < since_ms - 1_000);
            let kind = ev.id.split(':').nth(1).unwrap_or_default();
            if ["dm", "gift", "sc"].contains(&kind) {
                f.native += 1;
                native.insert(ev.id.clone());
            }
            ids.insert(ev.id);
        }
    }
    f.distinct = ids.len();
    f.native_distinct = native.len();
    f
}

fn has_protobuf(body: &[u8]) -> bool {
    body.windows(6).any(|w| w == br#""pb":""#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_frames_carry_new_ids_and_current_times() {
    let Some(dir) = fixtures::dir() else { return };
    const POOL: u64 = 60;
    const PER: u32 = 20;
    let run = async |fresh_frames| {
        let mut cfg = SimConfig::for_tests(&[RoomSpec::new(ROOM, Profile::Quiet)]);
        cfg.lenient_auth = true;
        cfg.default_protover = 3;
        cfg.replay = ReplayConfig {
            dir: Some(dir.clone()),
            per_frame: PER,
            frames: 0,
            rate: 0.0,
            fresh_frames,
        };
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
        // Two laps of the fresh pool: the second repeats the first.
        let bodies = first_bodies(&sim, (2 * POOL * u64::from(PER)) as usize).await;
        sim.shutdown().await;
        let lap = freshness(&bodies[..bodies.len() / 2], started);
        (lap, freshness(&bodies, started))
    };
    let (fresh, two_laps) = run(POOL).await;
    let (recorded, _) = run(0).await;
    eprintln!("fresh: {fresh:?}\nrecorded: {recorded:?}");
    // Recorded: every body is sent several times, with the times of its capture (a body with
    // no time of its own is timed when received).
    assert!(
        recorded.native_distinct * 4 < recorded.native,
        "{recorded:?}"
    );
    assert!(recorded.stale * 3 > recorded.events, "{recorded:?}");
    // Fresh: every id of Bilibili's own is new, many more events are distinct (a body with no
    // id and no time, a counter such as ONLINE_RANK_COUNT, repeats as it would live), none is
    // timed before the simulator started, and the pool's second lap repeats the first. Bodies
    // with a protobuf inside are the exception, counted apart.
    assert!(
        fresh.native > 100 && fresh.protobuf < fresh.events / 5,
        "{fresh:?}"
    );
    assert_eq!(fresh.native_distinct, fresh.native, "{fresh:?}");
    assert!(
        fresh.distinct > 2 * recorded.distinct,
        "{fresh:?} {recorded:?}"
    );
    assert_eq!(fresh.stale, 0, "{fresh:?}");
    assert_eq!(two_laps.distinct, fresh.distinct, "{two_laps:?}");
}
