//! Scenario: a service started with an OTLP collector configured sends its spans there, and
//! flushes what is still buffered when it shuts down. (Its own test binary: telemetry installs a
//! process-wide subscriber.)

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use bilipulse_runtime::config::{LogConfig, LogFormat};
use bilipulse_runtime::telemetry::{self, TelemetryError, TraceExport};

#[derive(Default, Clone)]
struct Sink {
    requests: Arc<Mutex<Vec<(String, usize)>>>,
}

async fn receive(State(sink): State<Sink>, headers: HeaderMap, body: Bytes) -> &'static str {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    sink.requests.lock().unwrap().push((ct, body.len()));
    ""
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_by_shutdown() {
    let sink = Sink::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let log = LogConfig {
        format: LogFormat::Json,
        filter: "info".into(),
    };
    let guard = telemetry::init_with("telemetry-test", &log, TraceExport::Endpoint(base)).unwrap();
    assert!(guard.exports_traces());
    {
        let span = tracing::info_span!("unit.of.work", room = 1);
        let _e = span.enter();
        tracing::info!("inside a span");
    }
    // Flush from async code: must neither deadlock nor panic.
    guard.shutdown();

    let requests = sink.requests.lock().unwrap().clone();
    assert!(
        !requests.is_empty(),
        "no OTLP request reached the collector"
    );
    let (ct, len) = &requests[0];
    assert_eq!(ct, "application/x-protobuf");
    assert!(*len > 0);

    // A second init in the same process is refused, not silently ignored.
    let again = telemetry::init_with("telemetry-test", &log, TraceExport::Off);
    assert!(
        matches!(again, Err(TelemetryError::AlreadyInitialised(_))),
        "{again:?}"
    );
}
