//! Helpers for this crate's unit tests, written once.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// A sampled remote span context whose trace and span ids are the byte `n` repeated: distinct
/// per `n`, recognisable in assertions.
pub(crate) fn span_context(n: u8) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes([n; 16]),
        SpanId::from_bytes([n; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    )
}
