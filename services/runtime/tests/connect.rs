//! Scenarios: a service connecting to NATS that is absent, present, or restarting.

use std::time::{Duration, Instant};

use bilipulse_runtime::admin::Readiness;
use bilipulse_runtime::backoff::Backoff;
use bilipulse_runtime::bus::{self, BusError, READY_NATS};
use bilipulse_runtime::config::NatsConfig;
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::nats::free_port;

fn quick(url: String, attempts: u32) -> NatsConfig {
    let mut cfg = NatsConfig::new(url);
    cfg.connect_attempts = attempts;
    cfg.connect_backoff =
        Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 2.0).unwrap();
    cfg
}

#[tokio::test]
async fn nobody_listening_fails_after_the_bounded_retries_naming_the_url() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let err = bus::connect(&quick(url.clone(), 3), "lonely")
        .await
        .unwrap_err();
    match &err {
        BusError::Unreachable {
            url: u, attempts, ..
        } => {
            assert_eq!(u, &url);
            assert_eq!(*attempts, 3);
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
}

#[tokio::test]
async fn a_malformed_url_fails_at_once() {
    let err = bus::connect(&quick("nats://127.0.0.1:notaport".into(), 5), "x")
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::BadUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_that_comes_up_during_the_retries_is_reached() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    server.kill();
    // The client starts retrying against the dead port; the server comes back on it meanwhile.
    let mut cfg = quick(server.url(), 400);
    cfg.connect_backoff =
        Backoff::new(Duration::from_millis(20), Duration::from_millis(100), 2.0).unwrap();
    let connecting = tokio::spawn(async move { bus::connect(&cfg, "patient").await });
    let _server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    let client = connecting
        .await
        .unwrap()
        .expect("connects once the server is up");
    client.flush().await.unwrap();
}

#[tokio::test]
async fn readiness_follows_the_connection_through_a_server_restart() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let readiness = Readiness::new(["streams"]);
    readiness.set_ready("streams");
    let client = bus::connect_with_readiness(&quick(server.url(), 3), "follower", &readiness)
        .await
        .unwrap();
    assert!(readiness.is_ready());

    server.kill();
    wait_until("readiness drops after the server dies", || {
        !readiness.is_ready()
    })
    .await;
    let unmet = readiness.unmet();
    assert_eq!(unmet.len(), 1);
    assert_eq!(unmet[0].0, READY_NATS);

    // Keep the handle: dropping it would stop the server again.
    let _server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    wait_until("readiness recovers after the restart", || {
        readiness.is_ready()
    })
    .await;
    client.flush().await.unwrap();
}

/// Polls an external condition with a deadline, yielding to the runtime in between.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
