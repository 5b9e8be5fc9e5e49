//! Load mode (`--replay`): a connection is sent exactly its frame budget of recorded commands,
//! each one a real body from the fixtures, then stays open with its heartbeats answered. This
//! is the feed `deploy/bench.sh` measures decoders on, so its count must be exact.

use std::collections::BTreeSet;
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
