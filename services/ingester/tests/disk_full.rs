//! The disk under NATS's JetStream store fills up while Bilibili keeps talking. JetStream stops
//! acknowledging; the ingesters keep reading, buffer, and say so (not ready, publish failures by
//! kind, a warning in the log). When space is back and NATS has been restarted (nats-server
//! does not resume a stream after a write error by itself: see `docs/reliability.md`), the
//! buffer is published and nothing is lost or doubled.

mod common;

use common::*;

/// The store's disk: room for the streams and a minute of this traffic, small enough to fill
/// at once.
const DISK_MIB: u32 = 32;

/// Messages the ingesters must hold, together, before space comes back: a few seconds of
/// this traffic (events, raw bodies and statuses).
const BACKLOG: f64 = 1500.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_nats_disk_is_reported_and_loses_nothing_once_space_is_back() {
    let Some(mut world) = World::start_on_small_disk(&rooms(40, 4.0), DISK_MIB).await else {
        return;
    };
    world.add_rooms(&world.sim_rooms()).await;
    let ingesters: Vec<Ingester> = (0..2)
        .map(|i| world.ingester(&format!("ing-{i}"), &[]))
        .collect();
    world.steady("steady state", &ingesters).await;
    more_events(&world, 200).await;

    let full = now_ms();
    let ballast = world.nats.fill_disk();
    // Loud: every ingester says that it cannot publish, by kind, and keeps buffering.
    for i in &ingesters {
        let failures = converge("publish failures reported", DEADLINE, async || {
            let m = i.metrics().await?;
            let failed = m.sum("bilipulse_ingester_publish_failures_total");
            let buffered = m.get("bilipulse_ingester_buffer_messages");
            if failed > 0.0 && buffered > 0.0 && !i.is_ready().await {
                Ok(m)
            } else {
                Err(format!(
                    "{}: {failed} failures, {buffered} buffered, ready {}",
                    i.id,
                    i.is_ready().await
                ))
            }
        })
        .await;
        eprintln!(
            "{}: {:?}",
            i.id,
            failures
                .0
                .iter()
                .filter(|(k, _)| k.contains("publish_failures"))
                .collect::<Vec<_>>()
        );
    }
    // Bilibili is still read: the buffers grow while JetStream stores nothing.
    let held = converge("the buffers to grow", DEADLINE, async || {
        let mut held = 0.0;
        for i in &ingesters {
            held += i.metrics().await?.get("bilipulse_ingester_buffer_messages");
        }
        if held >= BACKLOG {
            Ok(held)
        } else {
            Err(format!("{held} messages buffered"))
        }
    })
    .await;
    assert!(
        world.nats.log().contains("no space left on device"),
        "NATS never hit the full disk; its log:\n{}",
        world.nats.log()
    );

    world.nats.free_disk();
    tokio::task::block_in_place(|| world.nats.restart());
    let back = now_ms();
    world
        .steady("steady state with space back", &ingesters)
        .await;
    for i in &ingesters {
        converge("ready again", DEADLINE, async || {
            if i.is_ready().await {
                Ok(())
            } else {
                Err(format!("{} not ready", i.id))
            }
        })
        .await;
    }
    more_events(&world, 200).await;
    world.quiesce(&ingesters).await;

    let all_rooms = world.sim_rooms();
    let gaps = world.coverage_gaps(&all_rooms.iter().copied().collect());
    assert!(
        gaps.is_empty(),
        "rooms disconnected while the disk was full: {gaps:?}"
    );
    assert_none_dropped(&ingesters).await;
    let audit = world.audit().await;
    let stored = world.stored_events().await;
    let during = stored
        .iter()
        .filter(|s| (full..back).contains(&s.ev.recv))
        .count();
    assert!(during > 0, "nothing read while the disk was full was kept");
    eprintln!(
        "disk full for {} ms ({ballast} bytes of ballast, {held} messages buffered); {during} events read \
         meanwhile published after; BILI_EVENTS {} messages, truth delivered {}",
        back - full,
        audit.messages,
        audit.delivered
    );
    audit.assert_exactly_once();
}
