//! A disconnect storm: the server drops every room's connection at the same moment (as a
//! Bilibili edge restart does). The rooms must come back spread out, not in one burst, and
//! without asking the resolve API again (the tokens they hold are still good), so that a fleet
//! of rooms does not hammer Bilibili into risk control the moment it recovers.
//!
//! Real sockets: the simulator over loopback, one client per room from the protocol library,
//! with its default reconnect back-off (full jitter under a 1 s first ceiling).

use std::sync::Arc;
use std::time::Duration;

use bilipulse_bilibili::client::{
    self, ClientConfig, ClientEvent, ConnectionState, Source, WsScheme,
};
use bilipulse_bilibili::resolve::{Resolver, ResolverConfig};
use bilipulse_sim::{Profile, RoomSpec, SimConfig};
use bilipulse_testkit::wait::eventually;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const ROOMS: u64 = 40;
const FIRST_ROOM: u64 = 30_100_000;
const DEADLINE: Duration = Duration::from_secs(60);

/// What one room's client did after the storm.
#[derive(Debug)]
struct Recovery {
    /// The delay the client drew before reconnecting.
    retry_in: Duration,
    /// From the storm to the client's next successful auth.
    back_after: Duration,
    /// Resolutions it started after the storm (the resolve API's load).
    resolves: u32,
}

/// The client's next state change, skipping its commands; `None` once it has ended.
async fn next_state(rx: &mut mpsc::Receiver<ClientEvent>) -> Option<ConnectionState> {
    loop {
        if let ClientEvent::State(s) = rx.recv().await? {
            return Some(s);
        }
    }
}

/// Follows one client: reports readiness once authenticated, then, after the storm, how it
/// came back.
async fn follow(
    mut rx: mpsc::Receiver<ClientEvent>,
    ready: mpsc::Sender<()>,
    mut storm: watch::Receiver<Option<Instant>>,
    done: mpsc::Sender<Recovery>,
) {
    while let Some(s) = next_state(&mut rx).await {
        if matches!(s, ConnectionState::Authenticated { .. }) {
            break;
        }
    }
    let _ = ready.send(()).await;
    let at = *storm
        .wait_for(Option::is_some)
        .await
        .expect("storm sender alive");
    let at = at.expect("storm time");
    let (mut retry_in, mut resolves) = (None, 0);
    while let Some(s) = next_state(&mut rx).await {
        match s {
            ConnectionState::Disconnected { retry_in: r, .. } => retry_in = retry_in.or(Some(r)),
            ConnectionState::Resolving => resolves += 1,
            ConnectionState::Authenticated { .. } if retry_in.is_some() => {
                let _ = done
                    .send(Recovery {
                        retry_in: retry_in.expect("checked"),
                        back_after: at.elapsed(),
                        resolves,
                    })
                    .await;
                break;
            }
            _ => {}
        }
    }
    // Keep reading so the client never blocks on a full channel until the test ends.
    while rx.recv().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_room_dropped_at_once_comes_back_spread_out_without_resolving_again() {
    let specs: Vec<RoomSpec> = (0..ROOMS)
        .map(|i| RoomSpec::new(FIRST_ROOM + i, Profile::Normal).with_rate(2.0))
        .collect();
    let mut sim_cfg = SimConfig::for_tests(&specs);
    sim_cfg.heartbeat_timeout_ms = 120_000;
    let sim = bilipulse_sim::start(sim_cfg)
        .await
        .expect("simulator starts");
    let resolver = Arc::new(
        Resolver::new(ResolverConfig {
            api_base: sim.http_base(),
            live_base: sim.http_base(),
            min_interval: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
            ..ResolverConfig::default()
        })
        .expect("resolver"),
    );

    let cancel = CancellationToken::new();
    let (ready_tx, mut ready_rx) = mpsc::channel(ROOMS as usize);
    let (done_tx, mut done_rx) = mpsc::channel(ROOMS as usize);
    let (storm_tx, storm_rx) = watch::channel(None);
    let mut handles = Vec::new();
    for i in 0..ROOMS {
        // The protocol's defaults (back-off from 1 s, a new token after 3 failures), over ws://.
        let mut cfg = ClientConfig::new(FIRST_ROOM + i, Source::Resolve(Arc::clone(&resolver)));
        cfg.scheme = WsScheme::Ws;
        let (rx, handle) = client::spawn(cfg, cancel.child_token());
        handles.push(handle);
        tokio::spawn(follow(
            rx,
            ready_tx.clone(),
            storm_rx.clone(),
            done_tx.clone(),
        ));
    }
    for _ in 0..ROOMS {
        tokio::time::timeout(DEADLINE, ready_rx.recv())
            .await
            .expect("every room authenticates")
            .expect("followers alive");
    }
    // A client counts as authenticated when the auth reply arrives; the simulator adds the
    // connection to its room just after sending that reply. Wait for the server's side too, or
    // the storm can miss a connection that is authenticated but not yet in its room.
    eventually("every connection in its room", DEADLINE, async || {
        (sim.open_connections() == ROOMS as usize).then_some(())
    })
    .await;

    let storm_at = Instant::now();
    let dropped = sim
        .faults()
        .drop_connections(None)
        .expect("drop every room");
    assert_eq!(
        dropped, ROOMS as usize,
        "one connection per room was dropped"
    );
    storm_tx.send_replace(Some(storm_at));

    let mut recoveries = Vec::new();
    for _ in 0..ROOMS {
        let r = tokio::time::timeout(DEADLINE, done_rx.recv())
            .await
            .expect("every room comes back")
            .expect("followers alive");
        recoveries.push(r);
    }
    let mut back: Vec<Duration> = recoveries.iter().map(|r| r.back_after).collect();
    back.sort();
    // The densest 100 ms of reconnects; a herd would put (nearly) all of them there.
    let densest = back
        .iter()
        .map(|&t| {
            back.iter()
                .filter(|&&u| u >= t && u < t + Duration::from_millis(100))
                .count()
        })
        .max()
        .unwrap_or(0);
    let resolves: u32 = recoveries.iter().map(|r| r.resolves).sum();
    println!(
        "storm of {ROOMS} rooms: back after min {:?} / median {:?} / max {:?}; densest 100 ms held {densest}; resolves {resolves}",
        back[0],
        back[back.len() / 2],
        back[back.len() - 1]
    );

    assert_eq!(
        resolves, 0,
        "a dropped connection reuses its token: {recoveries:?}"
    );
    for r in &recoveries {
        assert!(
            r.retry_in <= Duration::from_secs(1),
            "first delay under the 1 s ceiling: {r:?}"
        );
    }
    // Uniform over 1 s, 40 reconnects put ~4 in any 100 ms; half of them in one 100 ms would be
    // a herd (the chance of that under full jitter is below 1e-9).
    assert!(
        densest <= (ROOMS / 2) as usize,
        "reconnects bunched: {back:?}"
    );
    assert!(
        back[back.len() - 1] >= Duration::from_millis(250),
        "nobody waited: the delays are not spread ({back:?})"
    );

    cancel.cancel();
    for h in handles {
        let _ = tokio::time::timeout(DEADLINE, h).await;
    }
    sim.shutdown().await;
}
