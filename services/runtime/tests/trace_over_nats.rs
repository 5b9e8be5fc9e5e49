//! Scenario: an event published inside a traced span is consumed from JetStream by another
//! service, whose span continues the same trace.

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::message::PublishMessage;
use bilipulse_proto::streams::RAW;
use bilipulse_runtime::bus;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_runtime::trace_context;
use bilipulse_testkit::NatsServer;
use futures::StreamExt as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn the_consumer_span_continues_the_publishers_trace() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    // A real tracer pipeline without an exporter, installed for this (single) test thread.
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("trace-over-nats")));
    let _default = tracing::subscriber::set_default(subscriber);

    let client = bus::connect(&NatsConfig::new(server.url()), "tracer")
        .await
        .unwrap();
    let js = bus::jetstream(client);
    bus::ensure_streams(&js, &StreamOverrides::default())
        .await
        .unwrap();

    let publish = tracing::info_span!("ingest.publish");
    let sent = publish.context().span().span_context().trace_id();
    let mut headers = HeaderMap::new();
    publish.in_scope(|| trace_context::inject(&mut headers));
    let subject = bilipulse_proto::subject::raw(21452505);
    js.send_publish(
        subject.clone(),
        PublishMessage::build()
            .payload("{}".into())
            .headers(headers)
            .message_id("21452505:xtrace"),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let stream = js.get_stream(RAW.name).await.unwrap();
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject,
            ..Default::default()
        })
        .await
        .unwrap();
    let msg = consumer
        .messages()
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();

    let fold = tracing::info_span!("window.fold");
    assert!(trace_context::set_parent(&fold, msg.headers.as_ref()));
    let received = fold.context().span().span_context().trace_id();
    assert_eq!(received, sent);
    assert_ne!(
        fold.context().span().span_context().span_id(),
        publish.context().span().span_context().span_id()
    );
}
