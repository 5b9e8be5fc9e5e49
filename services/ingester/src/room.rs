//! One observed room: a Bilibili connection whose commands become published events.
//!
//! The task reads the client's events as fast as they come — it never waits for NATS, it only
//! pushes into the [`Publisher`] buffer — and publishes the room's coverage
//! ([`RoomStatus`]) on every connection state change and every `status_interval`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bilipulse_bilibili::client::{self, ClientEvent, CommandBatch, ConnectionState};
use bilipulse_bilibili::commands::{self, RecentIds};
use bilipulse_proto::raw::frame_parts;
use bilipulse_proto::{
    ConnState, RawFrame, RoomStatus, SCHEMA_VERSION, dedup_id, encode_raw_frame, subject,
};
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::trace_context;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::config::RawStorage;
use crate::metrics::{ConnLabel, KindLabel, Metrics, StateLabel};
use crate::publish::{MessageClass, Outgoing, Publisher, RoomCounters};

/// What every room task shares.
pub struct Shared {
    /// This ingester's id (`src` of every event).
    pub id: String,
    /// How to build a client for a room.
    pub client: Box<dyn Fn(u64) -> client::ClientConfig + Send + Sync>,
    /// The publish buffer.
    pub publisher: Publisher,
    /// Metrics.
    pub metrics: Metrics,
    /// How often status is published while nothing changes.
    pub status_interval: Duration,
    /// Per-connection memory of recent event ids (Bilibili's own repeats).
    pub recent_ids: usize,
    /// Fraction of events traced end to end (`--trace-sample-ratio`), in `[0, 1]`.
    pub trace_sample_ratio: f64,
    /// Where raw bodies go (`--raw-storage`).
    pub raw_storage: RawStorage,
}

/// Whether the next event is traced at `ratio`. One uniform draw per event, and none at all
/// with a ratio of 0: the hot path pays a few nanoseconds, never an allocation.
fn sample_trace(ratio: f64) -> bool {
    ratio > 0.0 && (ratio >= 1.0 || rand::random::<f64>() < ratio)
}

/// Observes `room` until `cancel` fires, then publishes a final `stopped` status.
pub async fn run(room: u64, shared: Arc<Shared>, cancel: CancellationToken) {
    let counters = Arc::new(RoomCounters::default());
    let (mut events, task) = client::spawn((shared.client)(room), cancel.clone());
    let mut observed = Observed::new(room, &shared, counters);
    observed.publish_status();
    let mut tick = tokio::time::interval(shared.status_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => observed.on_event(ev),
                None => break,
            },
            _ = tick.tick() => observed.publish_status(),
        }
    }
    let _ = task.await;
    observed.set_state(ConnState::Stopped, None);
    observed.set_gauge(None);
}

/// The state of one room as this ingester sees it.
struct Observed<'a> {
    shared: &'a Shared,
    status: RoomStatus,
    counters: Arc<RoomCounters>,
    recent: RecentIds,
    gauge: Option<ConnLabel>,
    masked_sent: bool,
    last_status: Instant,
}

impl<'a> Observed<'a> {
    fn new(room: u64, shared: &'a Shared, counters: Arc<RoomCounters>) -> Observed<'a> {
        let now = now_ms();
        let mut o = Observed {
            shared,
            status: RoomStatus {
                v: SCHEMA_VERSION,
                room,
                src: shared.id.clone(),
                ts: now,
                state: ConnState::Connecting,
                since: now,
                ..RoomStatus::default()
            },
            counters,
            recent: RecentIds::new(shared.recent_ids),
            gauge: None,
            masked_sent: false,
            last_status: Instant::now(),
        };
        o.set_gauge(Some(ConnLabel::Connecting));
        o
    }

    fn on_event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Commands(batch) => self.on_frame(batch),
            ClientEvent::Popularity(_) => self.status.last_msg = Some(now_ms()),
            ClientEvent::State(s) => self.on_state(s),
        }
    }

    fn on_state(&mut self, s: ConnectionState) {
        match s {
            ConnectionState::Resolving => self.set_state(ConnState::Connecting, None),
            ConnectionState::Connecting { host, .. } => {
                self.status.host = host;
                self.set_state(ConnState::Connecting, None);
            }
            ConnectionState::Authenticated { host } => {
                self.status.host = host;
                self.status.masked = false;
                self.masked_sent = false;
                self.set_state(ConnState::Connected, None);
            }
            ConnectionState::Masked { .. } => self.mark_masked(),
            ConnectionState::Disconnected { reason, .. } => {
                self.status.reconnects += 1;
                self.shared.metrics.reconnects.inc();
                self.shared
                    .metrics
                    .disconnects
                    .get_or_create(&crate::metrics::ReasonLabel {
                        reason: reason.label(),
                    })
                    .inc();
                self.set_state(ConnState::Disconnected, Some(reason.to_string()));
            }
            ConnectionState::ResolveFailed { kind, error, .. } => {
                self.shared
                    .metrics
                    .resolve_errors
                    .get_or_create(&crate::metrics::CodeLabel { code: kind.label() })
                    .inc();
                self.set_state(ConnState::Disconnected, Some(error));
            }
            ConnectionState::Stopped => {}
        }
    }

    fn mark_masked(&mut self) {
        if !self.masked_sent {
            self.masked_sent = true;
            self.status.masked = true;
            self.publish_status();
        }
    }

    /// One frame's commands: the raw bodies first (whatever happens below, they are kept for
    /// re-parsing), then each command's events — unless the publish buffer is nearly full, in
    /// which case the whole frame is shed, neither normalised nor archived: storing the raw
    /// frames of what is shed would take the publishing capacity that shedding frees (a
    /// frame is 20 or more bodies in one large message).
    fn on_frame(&mut self, batch: CommandBatch) {
        if self.shared.publisher.is_shedding() {
            self.shed(&batch);
            return;
        }
        if self.shared.raw_storage == RawStorage::Frames {
            self.push_raw_frame(&batch);
        }
        for body in batch.bodies {
            self.on_command(body, batch.recv_ms);
        }
    }

    /// Pushes the frame's bodies as [`RawFrame`] messages (one unless the frame is large).
    fn push_raw_frame(&self, batch: &CommandBatch) {
        let room = self.status.room;
        for part in frame_parts(&batch.bodies) {
            match encode_raw_frame(room, &self.shared.id, batch.recv_ms, part) {
                Ok(payload) => {
                    // A full buffer counts the drop itself (class `raw`).
                    self.shared.publisher.push(Outgoing {
                        subject: subject::raw_frame(room),
                        class: MessageClass::Raw,
                        msg_id: Some(RawFrame::dedup_id(room, part)),
                        payload: Bytes::from(payload),
                        headers: None,
                        span: None,
                        counters: None,
                        enqueued: Instant::now(),
                    });
                }
                Err(e) => tracing::error!(room, error = %e, "cannot encode a raw frame"),
            }
        }
    }

    /// Drops a frame's commands without normalising or archiving them, counted per room
    /// (`commands_shed`) and in the metrics; they still count as received.
    fn shed(&mut self, batch: &CommandBatch) {
        let n = batch.bodies.len() as u64;
        self.status.last_msg = Some(batch.recv_ms);
        self.shared.metrics.commands.inc_by(n);
        self.shared.metrics.shed_commands.inc_by(n);
        self.counters.shed.fetch_add(n, Ordering::Relaxed);
        if self.last_status.elapsed() >= self.shared.status_interval {
            self.publish_status();
        }
    }

    fn on_command(&mut self, body: Bytes, recv_ms: i64) {
        let shared = self.shared;
        let room = self.status.room;
        self.status.last_msg = Some(recv_ms);
        shared.metrics.commands.inc();
        if shared.raw_storage == RawStorage::Commands {
            shared.publisher.push(Outgoing {
                subject: subject::raw(room),
                class: MessageClass::Raw,
                msg_id: Some(dedup_id(room, None, &body)),
                payload: body.clone(),
                headers: None,
                span: None,
                counters: None,
                enqueued: Instant::now(),
            });
        }
        let events = match commands::normalize_detailed(room, &body, recv_ms, &shared.id) {
            Ok(n) => {
                if n.malformed.is_some() {
                    shared.metrics.commands_reshaped.inc();
                }
                n.events
            }
            Err(e) => {
                shared.metrics.commands_malformed.inc();
                tracing::debug!(room, error = %e, "command body is not a JSON command; kept in bili.raw only");
                return;
            }
        };
        for ev in events {
            if !self.recent.first_seen(&ev.id) {
                shared.metrics.duplicates_local.inc();
                continue;
            }
            let kind = ev.kind();
            if is_masked(&ev.payload) {
                self.mark_masked();
            }
            shared
                .metrics
                .events
                .get_or_create(&KindLabel {
                    kind: kind.as_str().to_owned(),
                })
                .inc();
            let (span, headers) = if sample_trace(shared.trace_sample_ratio) {
                trace_event(&ev, kind)
            } else {
                (None, None)
            };
            let payload = match bilipulse_proto::encode(&ev) {
                Ok(p) => Bytes::from(p),
                Err(e) => {
                    tracing::error!(room, error = %e, "cannot encode event");
                    continue;
                }
            };
            shared.publisher.push(Outgoing {
                subject: subject::event(room, kind),
                class: MessageClass::Event,
                payload,
                msg_id: Some(ev.id),
                headers,
                span,
                counters: Some(self.counters.clone()),
                enqueued: Instant::now(),
            });
        }
        if self.last_status.elapsed() >= self.shared.status_interval {
            self.publish_status();
        }
    }

    fn set_state(&mut self, state: ConnState, error: Option<String>) {
        if self.status.state != state {
            self.status.since = now_ms();
        }
        self.status.state = state;
        self.status.last_error = error;
        self.set_gauge(match state {
            ConnState::Connecting => Some(ConnLabel::Connecting),
            ConnState::Connected => Some(ConnLabel::Connected),
            ConnState::Disconnected => Some(ConnLabel::Disconnected),
            ConnState::Stopped | ConnState::Unknown => None,
        });
        self.publish_status();
    }

    fn set_gauge(&mut self, label: Option<ConnLabel>) {
        if self.gauge == label {
            return;
        }
        let family = &self.shared.metrics.connections;
        if let Some(old) = self.gauge {
            family.get_or_create(&StateLabel { state: old }).dec();
        }
        if let Some(new) = label {
            family.get_or_create(&StateLabel { state: new }).inc();
        }
        self.gauge = label;
    }

    fn publish_status(&mut self) {
        self.last_status = Instant::now();
        self.status.ts = now_ms();
        self.status.events_published = self.counters.published.load(Ordering::Relaxed)
            + self.counters.duplicates.load(Ordering::Relaxed);
        self.status.events_lost = self.counters.lost.load(Ordering::Relaxed);
        self.status.commands_shed = self.counters.shed.load(Ordering::Relaxed);
        match Outgoing::status(&self.status) {
            Ok(msg) => {
                self.shared.publisher.push(msg);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode status"),
        }
    }
}

/// The `ingest.event` span of a sampled event and the headers carrying its `traceparent`.
///
/// The span is a root (`parent: None`): every sampled event starts a trace of its own rather
/// than joining whatever span the room task runs in. It starts once the command is normalised
/// (sampling is per event, and one command can yield several events) and travels with the
/// message until JetStream acknowledged it, so the trace covers the publish buffer and the
/// store. Both are `None` when spans are not exported (no OTel layer, or filtered out by
/// `--log`): then the event goes out exactly as an unsampled one, without a header.
fn trace_event(
    ev: &bilipulse_proto::RoomEvent,
    kind: bilipulse_proto::Kind,
) -> (Option<Box<tracing::Span>>, Option<HeaderMap>) {
    let span = tracing::info_span!(
        parent: None,
        "ingest.event",
        room = ev.room,
        kind = kind.as_str(),
        cmd = %ev.cmd,
        bili.recv_ms = ev.recv,
        event.ts_ms = ev.ts,
        event.id = %ev.id,
        jetstream.seq = tracing::field::Empty,
        jetstream.duplicate = tracing::field::Empty,
        dropped = tracing::field::Empty,
    );
    if span.is_disabled() {
        return (None, None);
    }
    let mut headers = HeaderMap::new();
    trace_context::inject_span(&span, &mut headers);
    if headers.get(trace_context::TRACEPARENT).is_none() {
        return (None, None);
    }
    (Some(Box::new(span)), Some(headers))
}

fn is_masked(p: &bilipulse_proto::Payload) -> bool {
    use bilipulse_proto::Payload::*;
    match p {
        Danmaku(d) => d.masked,
        Interact(i) => i.masked,
        Like(l) => l.masked,
        Gift(g) => g.masked,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn event() -> bilipulse_proto::RoomEvent {
        bilipulse_proto::RoomEvent {
            v: SCHEMA_VERSION,
            room: 5,
            cmd: "DANMU_MSG".into(),
            ts: 1_790_000_000_000,
            recv: 1_790_000_000_123,
            id: "5:a".into(),
            src: "t".into(),
            payload: bilipulse_proto::Payload::Danmaku(Default::default()),
        }
    }

    #[test]
    fn a_sampled_event_carries_a_traceparent_when_spans_are_exported() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            let ev = event();
            let (span, headers) = trace_event(&ev, ev.kind());
            let headers = headers.expect("headers written");
            let tp = headers
                .get(trace_context::TRACEPARENT)
                .expect("traceparent")
                .as_str();
            // 00-<32 hex trace id>-<16 hex span id>-01 (sampled)
            assert_eq!(tp.len(), 55, "{tp}");
            assert!(tp.starts_with("00-") && tp.ends_with("-01"), "{tp}");
            assert!(span.is_some(), "the span travels with the message");
        });
    }

    #[test]
    fn without_an_otel_layer_a_sampled_event_goes_out_without_header_or_span() {
        let ev = event();
        let (span, headers) = trace_event(&ev, ev.kind());
        assert!(span.is_none() && headers.is_none());
        // Also with a subscriber that records spans but exports none.
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let (span, headers) = trace_event(&ev, ev.kind());
            assert!(span.is_none() && headers.is_none());
        });
    }

    #[test]
    fn sampling_follows_the_ratio() {
        assert!((0..10_000).all(|_| !sample_trace(0.0)));
        assert!((0..10_000).all(|_| sample_trace(1.0)));
        let n = (0..10_000).filter(|_| sample_trace(0.5)).count();
        assert!((4_000..6_000).contains(&n), "{n} of 10000 at 0.5");
    }
}
