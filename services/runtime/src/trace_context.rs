//! Trace context carried in NATS headers, so one trace follows an event from the ingester through
//! the windower to the gateway.
//!
//! The format is W3C Trace Context (`traceparent`, lowercase, byte-exact as NATS header names
//! are case-sensitive). It is fixed here rather than taken from the global propagator so the
//! bus carries the same header whatever a service configured.
//!
//! ```no_run
//! # async fn example(js: async_nats::jetstream::Context, msg: async_nats::Message) {
//! use bilipulse_runtime::trace_context;
//! // publishing side, inside the span that produced the event
//! let mut headers = async_nats::HeaderMap::new();
//! trace_context::inject(&mut headers);
//!
//! // consuming side: give the span its remote parent *before* entering it
//! let span = tracing::info_span!("window.fold");
//! trace_context::set_parent(&span, msg.headers.as_ref());
//! let _entered = span.enter();
//! # }
//! ```

use async_nats::HeaderMap;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetrySpanExt as _, SetParentError};

/// Name of the header holding the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes `tracestate` even when empty; an empty header is noise.
        if !value.is_empty() {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

/// Writes the current span's trace context into `headers`. Writes nothing when the span is not
/// part of a sampled OTel trace (telemetry off), so messages carry no meaningless header.
pub fn inject(headers: &mut HeaderMap) {
    inject_span(&Span::current(), headers);
}

/// Writes `span`'s trace context into `headers` (see [`inject`]).
pub fn inject_span(span: &Span, headers: &mut HeaderMap) {
    inject_context(&span.context(), headers);
}

/// Writes an OTel context into `headers`.
pub fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

/// The remote parent context carried by `headers`; an empty context when there is none or it is
/// malformed (untrusted input never fails the message).
pub fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes the trace context in `headers` the parent of `span`. Call it before the span is first
/// entered. Returns true when a remote parent was attached; false when the message carries none
/// or spans are not exported (no OTel layer), both normal.
pub fn set_parent(span: &Span, headers: Option<&HeaderMap>) -> bool {
    let Some(headers) = headers else { return false };
    let parent = extract(headers);
    if !parent.span().span_context().is_valid() {
        return false;
    }
    match span.set_parent(parent) {
        Ok(()) => true,
        Err(SetParentError::AlreadyStarted) => {
            tracing::debug!("trace parent ignored: span was already entered");
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// A subscriber with a real OTel layer but no exporter.
    fn subscriber() -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider) {
        let provider = SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        (tracing_subscriber::registry().with(layer), provider)
    }

    #[test]
    fn round_trip_keeps_the_trace_id() {
        let (sub, _provider) = subscriber();
        tracing::subscriber::with_default(sub, || {
            let producer = tracing::info_span!("publish");
            let sent_trace = producer.context().span().span_context().trace_id();
            let mut headers = HeaderMap::new();
            producer.in_scope(|| inject(&mut headers));
            let tp = headers
                .get(TRACEPARENT)
                .expect("traceparent written")
                .as_str()
                .to_owned();
            assert!(tp.contains(&sent_trace.to_string()), "{tp}");
            assert!(
                headers.get("tracestate").is_none(),
                "empty tracestate must be skipped"
            );

            let consumer = tracing::info_span!("consume");
            assert!(set_parent(&consumer, Some(&headers)));
            let got = consumer.context().span().span_context().trace_id();
            assert_eq!(got, sent_trace);
        });
    }

    #[test]
    fn nothing_is_injected_outside_a_trace() {
        let mut headers = HeaderMap::new();
        inject(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn malformed_or_missing_parents_are_ignored() {
        let (sub, _provider) = subscriber();
        tracing::subscriber::with_default(sub, || {
            let span = tracing::info_span!("consume");
            assert!(!set_parent(&span, None));
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, "00-not-a-trace-01");
            assert!(!set_parent(&span, Some(&headers)));
            assert!(!extract(&headers).span().span_context().is_valid());
        });
    }

    #[test]
    fn a_parent_set_after_entering_is_refused_without_panicking() {
        let (sub, _provider) = subscriber();
        tracing::subscriber::with_default(sub, || {
            let producer = tracing::info_span!("publish");
            let mut headers = HeaderMap::new();
            inject_span(&producer, &mut headers);
            let span = tracing::info_span!("consume");
            let _entered = span.enter();
            let _ = span.context();
            assert!(!set_parent(&span, Some(&headers)));
        });
    }
}
