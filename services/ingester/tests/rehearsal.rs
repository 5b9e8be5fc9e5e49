//! The scale rehearsal of the deployment issue, on loopback: a 3-node NATS cluster with R3
//! streams, the simulator, ingesters 2 → 4 → 1 and windowers 1 → 3 → 2 while traffic flows, one
//! NATS node `kill -9`ed and restarted mid-run, one ingester and one windower `kill -9`ed (and
//! started again, as Kubernetes restarts a pod). Afterwards BILI_EVENTS holds every event the
//! simulator delivered exactly once, except in the coverage gaps the crash left (whose lengths
//! are printed), and the windowers' summaries equal an independent recount of BILI_EVENTS
//! (`bilipulse recount --compare`), so they equal the ground truth outside those gaps too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bilipulse_testkit::process::ServiceProcess;
use bilipulse_testkit::stack::scenario_windower_flags;
use bilipulse_testkit::tools::workspace_bin;
use common::*;

fn windower(world: &World, bin: &Path, id: &str) -> ServiceProcess {
    let mut flags = scenario_windower_flags(id);
    flags.insert("--nats-url".into(), world.url());
    let (k, v) = world.stream_flags();
    flags.insert(k.into(), v);
    ServiceProcess::spawn(bin, id, world.dir.path(), &flags)
}

async fn ready(p: &ServiceProcess) {
    eventually(&format!("{} ready", p.id), DEADLINE, async || {
        p.is_ready().await.then_some(())
    })
    .await;
}

async fn stop(mut p: ServiceProcess) {
    p.sigterm();
    let status = p.wait_exit(Duration::from_secs(30)).await;
    let errors: Vec<String> = p
        .log()
        .lines()
        .filter(|l| l.contains("Error") || l.contains("ERROR") || l.contains("WARN"))
        .map(str::to_owned)
        .collect();
    assert!(
        status.success(),
        "{} exited with {status}:\n{}",
        p.id,
        errors.join("\n")
    );
}

/// `bilipulse recount --compare` of every room's `1s` summaries against BILI_EVENTS; the rooms
/// where they disagree, with the CLI's report.
fn recount_disagreements(cli: &Path, world: &World, rooms: &[u64]) -> Vec<(u64, String)> {
    rooms
        .iter()
        .filter_map(|room| {
            let out = std::process::Command::new(cli)
                .args([
                    "recount",
                    "--room",
                    &room.to_string(),
                    "--window",
                    "1s",
                    "--compare",
                ])
                .args(["--settle", "3s", "--nats-url", &world.url()])
                .output()
                .expect("bilipulse recount runs");
            (!out.status.success()).then(|| {
                let report = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                (*room, report)
            })
        })
        .collect()
}

/// Waits until no ingester holds a publish backlog (what a crash would lose beyond the last
/// moment's events).
async fn drained(ingesters: &[Ingester]) {
    converge("every ingester's backlog published", DEADLINE, async || {
        for i in ingesters {
            let m = i.metrics().await.map_err(|e| e.to_string())?;
            let held = m.get("bilipulse_ingester_buffer_messages")
                + m.get("bilipulse_ingester_inflight_acks");
            if held > 50.0 {
                return Err(format!("{} holds {held}", i.id));
            }
        }
        Ok(())
    })
    .await;
}

/// Waits until the simulator has delivered `n` more events.
async fn sim_events(world: &World, n: usize) {
    let target = world.sim.truth().events().len() + n;
    eventually(
        &format!("{n} more events from the simulator"),
        DEADLINE,
        async || (world.sim.truth().events().len() >= target).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_rehearsal_loses_and_repeats_nothing_outside_the_reported_gaps() {
    let bins: Option<(PathBuf, PathBuf)> =
        workspace_bin("bilipulse-windower").zip(workspace_bin("bilipulse"));
    let Some((windower_bin, cli)) =
        bilipulse_testkit::require("the windower and CLI binaries", bins)
    else {
        return;
    };
    let Some(mut world) = World::start_clustered(&rooms(16, 4.0), 3).await else {
        return;
    };
    let all_rooms = world.sim_rooms();
    world.add_rooms(&all_rooms).await;
    let mut ingesters: Vec<Ingester> = (0..2)
        .map(|i| world.ingester(&format!("ing-{i}"), &[]))
        .collect();
    let mut windowers = vec![windower(&world, &windower_bin, "win-0")];
    ready(&windowers[0]).await;
    world.steady("2 ingesters", &ingesters).await;
    more_events(&world, 200).await;

    // Up: 2 → 4 ingesters, 1 → 3 windowers.
    ingesters.push(world.ingester("ing-2", &[]));
    ingesters.push(world.ingester("ing-3", &[]));
    for i in 1..3 {
        windowers.push(windower(&world, &windower_bin, &format!("win-{i}")));
    }
    for w in &windowers {
        ready(w).await;
    }
    world.steady("4 ingesters", &ingesters).await;
    more_events(&world, 200).await;

    // One NATS node killed mid-run, then restarted: clients fail over, R3 keeps a quorum.
    // Meanwhile progress is read from the simulator, not from JetStream, whose API answers
    // late while its leaders move.
    world.others[0].kill();
    sim_events(&world, 200).await;
    tokio::task::block_in_place(|| world.others[0].restart());
    more_events(&world, 200).await;

    // Once every ingester has published what the NATS restart held up, one ingester and one
    // windower crash; Kubernetes starts them again under the same name.
    drained(&ingesters).await;
    let crashed_at = now_ms();
    ingesters[1].kill9();
    windowers[0].kill9();
    ingesters[1] = world.ingester("ing-1", &[]);
    windowers[0] = windower(&world, &windower_bin, "win-0");
    ready(&windowers[0]).await;
    world
        .steady("4 ingesters after the crash", &ingesters)
        .await;
    more_events(&world, 200).await;

    // Down: 4 → 1 ingesters, 3 → 2 windowers, by SIGTERM as `kubectl scale` does.
    for i in ingesters.drain(1..) {
        stop(i).await;
    }
    stop(windowers.pop().expect("three windowers")).await;
    world.steady("1 ingester", &ingesters).await;
    more_events(&world, 200).await;
    world.quiesce(&ingesters).await;

    // Events: exactly once, except around the gaps the crash left: what the crashed process had
    // received but not yet stored (its publish pipeline, R3 acknowledgements) is lost with it,
    // so two seconds before the crash are excused, and a second after each gap.
    let gaps = world.coverage_gaps(&all_rooms.iter().copied().collect::<BTreeSet<u64>>());
    let mut excused: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::new();
    for (room, from, to) in &gaps {
        let to = to.unwrap_or_else(|| panic!("room {room} is still uncovered"));
        assert!(
            *from >= crashed_at - 1_000,
            "room {room} lost coverage at {from}, before the crash"
        );
        excused
            .entry(*room)
            .or_default()
            .push((from.min(&crashed_at) - 2_000, to + 1_000));
        eprintln!(
            "coverage gap: room {room}, {} ms (crash of ing-1)",
            to - from
        );
    }
    let audit = world.audit().await;
    eprintln!(
        "rehearsal: {} rooms, {} gaps; BILI_EVENTS {} messages, truth delivered {}",
        all_rooms.len(),
        gaps.len(),
        audit.messages,
        audit.delivered
    );
    audit.assert_exactly_once_outside(&excused, &world.sim.truth().events());

    // Summaries: what the windowers published (through their rescaling and crash) equals a
    // recount of BILI_EVENTS, window by window, once the last windows have closed.
    converge("summaries equal the recount", DEADLINE, async || {
        let bad = recount_disagreements(&cli, &world, &all_rooms);
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!("{:?}", &bad[..bad.len().min(2)]))
        }
    })
    .await;
    for w in windowers {
        stop(w).await;
    }
}
