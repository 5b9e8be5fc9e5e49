//! Scenario: an orchestrator probing a service's admin listener over real HTTP while the service
//! starts, becomes ready, counts work and shuts down.

use std::time::Duration;

use bilipulse_runtime::admin::{METRICS_CONTENT_TYPE, Readiness, Server};
use bilipulse_runtime::shutdown::Shutdown;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

#[tokio::test]
async fn probes_follow_the_service_through_its_life() {
    let mut registry = Registry::with_prefix("bilipulse_test");
    let handled: Counter = Counter::default();
    registry.register("events_handled", "Events handled", handled.clone());
    let readiness = Readiness::new(["nats", "streams"]);
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), readiness.clone(), registry)
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let shutdown = Shutdown::new();
    let serving = tokio::spawn(server.run(shutdown.clone()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Alive from the start, not yet ready, and saying why.
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("nats: starting") && body.contains("streams: starting"),
        "{body}"
    );

    readiness.set_ready("nats");
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(!body.contains("nats") && body.contains("streams"), "{body}");

    readiness.set_ready("streams");
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    handled.inc_by(7);
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], METRICS_CONTENT_TYPE);
    let body = r.text().await.unwrap();
    assert!(
        body.lines()
            .any(|l| l == "bilipulse_test_events_handled_total 7"),
        "{body}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");

    let r = http
        .get(format!("{base}/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("admin server stops on shutdown")
        .unwrap()
        .unwrap();
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let first = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        Readiness::default(),
        Registry::default(),
    )
    .await
    .unwrap();
    let addr = first.local_addr();
    let err = Server::bind(addr, Readiness::default(), Registry::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
