//! Committing a key group: its released summaries and sessions and its checkpoint, in one
//! atomic, fenced batch (see [`crate::checkpoint`] for the layout and why it is exactly once).

use async_nats::HeaderMap;
use bilipulse_proto::{KeyGroup, LiveSession, WindowSummary, subject};
use bilipulse_runtime::trace_context;
use bytes::Bytes;
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::batch::{self, BatchError, BatchMessage, MAX_BATCH};
use crate::checkpoint;
use crate::engine::Engine;
use crate::metrics::Label;
use crate::room::Released;
use crate::window::SampledEvents;

/// Commits between two purges of a group's superseded checkpoints.
const PURGE_EVERY: u64 = 30;

/// The identity of a summary: room, width, start and revision identify it for good. Sent as
/// the `Bilipulse-Summary-Id` header (not `Nats-Msg-Id`: in an atomic batch a single id the
/// stream has seen makes the server refuse the whole batch, which would wedge the key group;
/// the fenced checkpoint already makes every release happen once).
pub fn summary_id(s: &WindowSummary) -> String {
    format!("{}.{}.{}.{}", s.room, s.window, s.start, s.rev)
}

/// The identity of a session update (`Bilipulse-Summary-Id`).
pub fn session_id(s: &LiveSession) -> String {
    format!("{}.session.{}.{}", s.room, s.start, s.rev)
}

/// Header carrying [`summary_id`] / [`session_id`].
pub const SUMMARY_ID: &str = "Bilipulse-Summary-Id";

impl Engine {
    /// Releases what is due in `group` and commits it with the group's checkpoint. With
    /// `flush`, running sessions are published whatever their interval (hand-over, shutdown).
    /// Returns false when the commit failed in a way that leaves this replica's state of the
    /// group in doubt (fenced by another writer, or no answer): the caller reloads it.
    pub(crate) async fn commit_group(&mut self, group: KeyGroup, flush: bool) -> bool {
        loop {
            let (position, clock) = (self.position, self.stream_clock);
            let covered = self.consumer_from <= self.position + 1;
            let Some(owned) = self.groups.get_mut(&group) else {
                return true;
            };
            // The consumer has read every message after this group's position: they were
            // other groups' (or applied), so the group is at the consumer's position too.
            if covered && owned.state.applied_seq + 1 >= self.consumer_from {
                owned.state.skip(position, clock);
                owned.state.advance_clock(clock);
            }
            // Room for the checkpoint: its parts plus the head.
            let reserve = checkpoint::parts_for(owned.bytes.max(1)) as usize + 4;
            let budget = MAX_BATCH.saturating_sub(reserve).max(1);
            let mut released = std::mem::take(&mut owned.pending);
            let all_out = owned
                .state
                .release(&self.cfg.settings, flush, budget, &mut released);
            if released.is_empty() && !owned.dirty {
                return true;
            }
            let (mut msgs, bytes) = match checkpoint::messages(&owned.state, group, owned.head_seq)
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode checkpoint");
                    self.metrics
                        .commits
                        .get_or_create(&Label::of("error"))
                        .inc();
                    return false;
                }
            };
            if tracing::enabled!(tracing::Level::DEBUG) {
                let ids: Vec<String> = released.summaries.iter().map(summary_id).collect();
                tracing::debug!(%group, ?ids, ckpt_msgs = msgs.len(), bytes, head = owned.head_seq, "committing");
            }
            let mut out = Vec::with_capacity(released.len() + msgs.len());
            out.extend(released.summaries.iter().map(summary_message));
            // Summaries come first in `out`, so a summary's index is its message's index.
            let closes: Vec<tracing::Span> = released
                .traced
                .iter()
                .filter_map(|(i, sampled)| {
                    let summary = released.summaries.get(*i)?;
                    close_span(summary, sampled, &mut out.get_mut(*i)?.headers)
                })
                .collect();
            out.extend(released.sessions.iter().map(session_message));
            let parts = msgs.len() as u64 - 1;
            self.batch_counter += 1;
            let id = format!("{}-{}-{}", self.batch_prefix, group, self.batch_counter);
            out.append(&mut msgs);
            let result = batch::publish(&self.client, &id, out).await;
            // The `window.close` spans end here, with the commit's outcome on them.
            for span in closes {
                span.record(
                    "commit",
                    result.as_ref().map_or_else(error_outcome, |_| "ok"),
                );
            }
            match result {
                Ok(head_seq) => {
                    let owned = self.groups.get_mut(&group).expect("held above");
                    owned.head_seq = head_seq;
                    owned.dirty = false;
                    owned.bytes = bytes;
                    owned.commits += 1;
                    let purge = owned.commits.is_multiple_of(PURGE_EVERY);
                    self.count(&released);
                    if purge
                        && let Err(e) = checkpoint::purge_old(&self.summaries, group, parts).await
                    {
                        tracing::warn!(%group, error = %e, "could not purge old checkpoints");
                    }
                    if all_out {
                        return true;
                    }
                }
                Err(e) => {
                    let outcome = error_outcome(&e);
                    self.metrics
                        .commits
                        .get_or_create(&Label::of(outcome))
                        .inc();
                    tracing::warn!(%group, error = %e, outcome, "commit failed");
                    return false;
                }
            }
        }
    }

    fn count(&self, released: &Released) {
        self.metrics.commits.get_or_create(&Label::of("ok")).inc();
        for s in &released.summaries {
            self.metrics
                .summaries
                .get_or_create(&Label::of(s.window.clone()))
                .inc();
            if s.rev > 0 {
                self.metrics.revisions.inc();
            }
        }
        self.metrics.sessions.inc_by(released.sessions.len() as u64);
    }
}

/// The metric label (and `window.close` attribute) of a failed commit.
fn error_outcome(e: &BatchError) -> &'static str {
    match e {
        BatchError::Fenced { .. } => "fenced",
        BatchError::Refused { .. } => "refused",
        BatchError::Unknown(_) => "unknown",
        BatchError::NotStarted(_) | BatchError::BadSize(_) => "error",
    }
}

/// Starts the `window.close` span of a summary that counted sampled events and writes its
/// `traceparent` into the summary message's `headers`.
///
/// Its parent is the first sampled event's `ingest.event` span, so the event's trace goes on
/// through the window (one trace from Bilibili receipt to the browser); the other sampled
/// events it counted are links, since a span has one parent. The span is a root otherwise
/// (`parent: None`): the engine's own spans must not adopt it. It is returned so the caller
/// ends it once the atomic batch is answered. `None`, and no header, when spans are not
/// exported (no OTel layer, or filtered out by `--log`).
pub(crate) fn close_span(
    s: &WindowSummary,
    sampled: &SampledEvents,
    headers: &mut HeaderMap,
) -> Option<tracing::Span> {
    let (first, others) = sampled.contexts().split_first()?;
    let span = tracing::info_span!(
        parent: None,
        "window.close",
        room = s.room,
        window = %s.window,
        window.start_ms = s.start,
        rev = s.rev,
        // Counts as OTel integers (a u64 field is exported as a string).
        events = i64::try_from(s.events).unwrap_or(i64::MAX),
        sampled_events =
            i64::try_from(sampled.contexts().len() as u64 + sampled.overflow()).unwrap_or(i64::MAX),
        summary.id = %summary_id(s),
        commit = tracing::field::Empty,
    );
    if span.is_disabled() {
        return None;
    }
    let parent = opentelemetry::Context::new().with_remote_span_context(first.clone());
    span.set_parent(parent).ok()?;
    for cx in others {
        span.add_link(cx.clone());
    }
    trace_context::inject_span(&span, headers);
    headers.get(trace_context::TRACEPARENT)?;
    Some(span)
}

fn summary_message(s: &WindowSummary) -> BatchMessage {
    let mut headers = HeaderMap::new();
    headers.insert(SUMMARY_ID, summary_id(s).as_str());
    let window = s
        .window
        .parse()
        .unwrap_or(bilipulse_proto::subject::Window::S1);
    BatchMessage {
        subject: subject::summary(s.room, window),
        headers,
        payload: Bytes::from(bilipulse_proto::encode(s).expect("summaries always encode")),
    }
}

fn session_message(s: &LiveSession) -> BatchMessage {
    let mut headers = HeaderMap::new();
    headers.insert(SUMMARY_ID, session_id(s).as_str());
    BatchMessage {
        subject: subject::session(s.room),
        headers,
        payload: Bytes::from(bilipulse_proto::encode(s).expect("sessions always encode")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::trace::{SpanId, TraceId};
    use tracing_subscriber::layer::SubscriberExt as _;

    use crate::test_support::span_context as cx;

    fn summary() -> WindowSummary {
        WindowSummary {
            room: 5,
            window: "1s".into(),
            start: 1_790_000_040_000,
            end: 1_790_000_041_000,
            events: 3,
            ..WindowSummary::default()
        }
    }

    #[test]
    fn a_traced_summary_continues_the_first_events_trace_in_its_header() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let mut sampled = SampledEvents::default();
            sampled.remember(&cx(1));
            sampled.remember(&cx(2));
            let mut msg = summary_message(&summary());
            let span = close_span(&summary(), &sampled, &mut msg.headers).expect("a span");
            let tp = msg
                .headers
                .get(trace_context::TRACEPARENT)
                .expect("traceparent")
                .as_str()
                .to_owned();
            let trace = TraceId::from_bytes([1; 16]).to_string();
            assert!(tp.starts_with(&format!("00-{trace}-")), "{tp}");
            assert_ne!(
                tp.split('-').nth(2),
                Some(SpanId::from_bytes([1; 8]).to_string().as_str()),
                "the header names window.close, not the event: {tp}"
            );
            assert_eq!(
                msg.headers.get(SUMMARY_ID).map(|v| v.as_str().to_owned()),
                Some(summary_id(&summary())),
                "the summary id stays"
            );
            drop(span);
        });
    }

    #[test]
    fn an_untraced_summary_or_no_otel_layer_means_no_header() {
        let mut msg = summary_message(&summary());
        assert!(close_span(&summary(), &SampledEvents::default(), &mut msg.headers).is_none());
        let mut sampled = SampledEvents::default();
        sampled.remember(&cx(1));
        // No OTel layer installed: nothing to continue the trace with.
        assert!(close_span(&summary(), &sampled, &mut msg.headers).is_none());
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            assert!(close_span(&summary(), &sampled, &mut msg.headers).is_none());
        });
        assert!(msg.headers.get(trace_context::TRACEPARENT).is_none());
    }
}
