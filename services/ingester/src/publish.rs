//! Publishing to JetStream through a bounded buffer with a window of in-flight acks.
//!
//! Room tasks never wait for NATS: they [`Publisher::push`] into a bounded in-memory buffer and
//! go back to reading Bilibili (a reader that stalls gets disconnected upstream). One task drains
//! the buffer in order, keeping up to `max_inflight` publishes awaiting their acks, so throughput
//! does not depend on the round trip. When NATS is slow or down, acks fail or time out: the
//! unacknowledged messages go back to the front of the buffer, in order, and are sent again once
//! the connection is back. Re-sending is safe because every event carries its `Nats-Msg-Id`.
//! The buffer goes out in order; only the publishes in flight when the connection broke can
//! land behind later ones (the client still flushes its own queued copies on reconnect), so
//! reordering is bounded by `max_inflight`.
//!
//! Only when the buffer is full are messages dropped — the new ones, so that what is buffered
//! stays contiguous — and every drop is counted per room and in metrics, never silent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::{self, message::PublishMessage};
use bilipulse_runtime::admin::Readiness;
use bilipulse_runtime::backoff::Backoff;
use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::{ClassLabel, FailureLabel, Metrics};

/// First wait after a failed publish.
const PUBLISH_RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest wait between publish retries.
const PUBLISH_RETRY_MAX: Duration = Duration::from_secs(2);

/// Per-room publish accounting, shared between the room task (which reports it in status) and
/// the publisher (which updates it on ack or drop).
#[derive(Debug, Default)]
pub struct RoomCounters {
    /// Events acknowledged by JetStream as new.
    pub published: AtomicU64,
    /// Events JetStream already had (same `Nats-Msg-Id`): another ingester or a retry sent them.
    pub duplicates: AtomicU64,
    /// Events dropped because the buffer was full.
    pub lost: AtomicU64,
    /// Commands shed without being parsed because the buffer was nearly full ([`Publisher::is_shedding`]).
    pub shed: AtomicU64,
}

/// Why a publish or its ack failed: the closed set the failure metric and the readiness reason
/// are labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// JetStream did not acknowledge in time: overloaded, leaderless, or unable to store (a
    /// full disk looks like this from the client).
    AckTimeout,
    /// The connection to NATS broke.
    Disconnected,
    /// No stream takes the subject.
    NoStream,
    /// The message exceeds the server's `max_payload`.
    TooLarge,
    /// JetStream answered with an error.
    Refused,
}

impl PublishFailure {
    /// Classifies a client error by its kind.
    pub fn of(e: &PublishError) -> PublishFailure {
        match e.kind() {
            PublishErrorKind::TimedOut => PublishFailure::AckTimeout,
            PublishErrorKind::BrokenPipe => PublishFailure::Disconnected,
            PublishErrorKind::StreamNotFound => PublishFailure::NoStream,
            PublishErrorKind::MaxPayloadExceeded => PublishFailure::TooLarge,
            PublishErrorKind::WrongLastMessageId
            | PublishErrorKind::WrongLastSequence
            | PublishErrorKind::MaxAckPending
            | PublishErrorKind::Other => PublishFailure::Refused,
        }
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            PublishFailure::AckTimeout => "ack_timeout",
            PublishFailure::Disconnected => "disconnected",
            PublishFailure::NoStream => "no_stream",
            PublishFailure::TooLarge => "too_large",
            PublishFailure::Refused => "refused",
        }
    }
}

/// The readiness condition the publisher owns: unmet from a failed publish until the next ack,
/// so `/readyz` says that events are piling up in the buffer instead of reaching JetStream.
pub const PUBLISH_CONDITION: &str = "publish";

/// What a message is. Drops are counted per class, since only events are data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClass {
    /// A normalised event (`bili.event.…`).
    Event,
    /// A raw command body (`bili.raw.…`).
    Raw,
    /// A coverage report (`bili.status.…`).
    Status,
}

impl MessageClass {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Event => "event",
            MessageClass::Raw => "raw",
            MessageClass::Status => "status",
        }
    }
}

/// One message to publish.
#[derive(Debug)]
pub struct Outgoing {
    /// Subject.
    pub subject: String,
    /// What it is.
    pub class: MessageClass,
    /// Encoded payload.
    pub payload: Bytes,
    /// `Nats-Msg-Id`, for JetStream deduplication.
    pub msg_id: Option<String>,
    /// Extra headers (trace context).
    pub headers: Option<HeaderMap>,
    /// The `ingest.event` span of a sampled event: it lives with the message, so it ends when
    /// JetStream acknowledged it (or it was dropped) and the trace shows the buffer and the
    /// publish. `None` for every unsampled message; boxed so that those pay one pointer in the
    /// buffer, not a whole span handle.
    pub span: Option<Box<tracing::Span>>,
    /// Counters of the room this event belongs to; `None` for messages that are not events
    /// (raw bodies, status), which are not counted as events.
    pub counters: Option<Arc<RoomCounters>>,
    /// When the message entered the buffer (for the latency metric).
    pub enqueued: Instant,
}

impl Outgoing {
    /// A room's status for `bili.status.<room>`: no dedup id (the stream keeps the latest per
    /// room) and not counted as an event.
    pub fn status(
        status: &bilipulse_proto::RoomStatus,
    ) -> Result<Outgoing, bilipulse_proto::EncodeError> {
        Ok(Outgoing {
            subject: bilipulse_proto::subject::status(status.room),
            class: MessageClass::Status,
            payload: bilipulse_proto::encode(status)?.into(),
            msg_id: None,
            headers: None,
            span: None,
            counters: None,
            enqueued: Instant::now(),
        })
    }

    fn size(&self) -> usize {
        // Subject and id are small; the payload dominates. A fixed overhead keeps many tiny
        // messages from looking free.
        self.payload.len() + self.subject.len() + 64
    }
}

/// Publisher settings.
#[derive(Debug, Clone, Copy)]
pub struct PublishConfig {
    /// Buffer bound in bytes; past it new messages are dropped (and counted).
    pub buffer_bytes: usize,
    /// Above this percentage of `buffer_bytes`, room tasks shed whole frames before
    /// normalising them ([`Publisher::is_shedding`]); 100 never sheds.
    pub shed_above_percent: u8,
    /// Publishes awaiting acks at once.
    pub max_inflight: usize,
    /// How long shutdown waits for the buffer to drain before giving up.
    pub drain_timeout: Duration,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            buffer_bytes: 256 * 1024 * 1024,
            shed_above_percent: 90,
            max_inflight: 2048,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    bytes: usize,
}

/// Handle to the publish buffer; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    queue: Arc<Mutex<Queue>>,
    notify: Arc<Notify>,
    config: PublishConfig,
    metrics: Metrics,
    readiness: Readiness,
}

impl Publisher {
    /// Creates the buffer. Call [`Publisher::run`] once to drain it. `readiness` gets the
    /// [`PUBLISH_CONDITION`].
    pub fn new(config: PublishConfig, metrics: Metrics, readiness: Readiness) -> Publisher {
        readiness.set_ready(PUBLISH_CONDITION);
        Publisher {
            queue: Arc::default(),
            notify: Arc::default(),
            config,
            metrics,
            readiness,
        }
    }

    /// Buffers a message. Returns false when the buffer is full: the message was dropped and
    /// counted as lost.
    pub fn push(&self, msg: Outgoing) -> bool {
        let size = msg.size();
        {
            let mut q = self.lock();
            if q.bytes + size > self.config.buffer_bytes {
                drop(q);
                if let Some(span) = &msg.span {
                    span.record("dropped", true);
                }
                if let Some(c) = &msg.counters {
                    c.lost.fetch_add(1, Ordering::Relaxed);
                }
                self.metrics
                    .dropped
                    .get_or_create(&ClassLabel {
                        class: msg.class.as_str(),
                    })
                    .inc();
                return false;
            }
            q.bytes += size;
            q.items.push_back(msg);
            self.gauge(&q);
        }
        self.notify.notify_one();
        true
    }

    /// True while the buffer holds more than `shed_above_percent` of its bound: a room task
    /// then drops the next frame before normalising it. The buffer only fills when JetStream
    /// takes less than Bilibili sends, and then every event normalised past the bound is
    /// thrown away after the work was done; under CPU overload that work is what starves
    /// the publishing (and nats-server, on the same machine), and the stored rate collapses.
    /// Shedding early keeps the CPU for what can still be published. One lock per frame.
    pub fn is_shedding(&self) -> bool {
        let percent = self.config.shed_above_percent;
        if percent >= 100 {
            return false;
        }
        let mark = self.config.buffer_bytes / 100 * usize::from(percent);
        self.lock().bytes > mark
    }

    /// Messages and bytes waiting.
    pub fn buffered(&self) -> (usize, usize) {
        let q = self.lock();
        (q.items.len(), q.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue inconsistent (every update is
        // a single push/pop plus a counter), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn gauge(&self, q: &Queue) {
        self.metrics.buffer_messages.set(q.items.len() as i64);
        self.metrics.buffer_bytes.set(q.bytes as i64);
    }

    fn pop(&self) -> Option<Outgoing> {
        let mut q = self.lock();
        let m = q.items.pop_front()?;
        q.bytes -= m.size();
        self.gauge(&q);
        Some(m)
    }

    /// Puts unacknowledged messages back at the front, keeping their order.
    fn requeue(&self, msgs: impl DoubleEndedIterator<Item = Outgoing>) {
        let mut q = self.lock();
        for m in msgs.rev() {
            q.bytes += m.size();
            q.items.push_front(m);
        }
        self.gauge(&q);
    }

    /// Drains the buffer into JetStream until `shutdown` fires, then keeps draining for at most
    /// `drain_timeout` and returns the number of messages that could not be published.
    pub async fn run(
        self,
        js: jetstream::Context,
        client: async_nats::Client,
        shutdown: CancellationToken,
    ) -> usize {
        let mut inflight: VecDeque<(Outgoing, PublishAckFuture)> = VecDeque::new();
        // Waits after a failed publish: 50 ms doubling to 2 s, jittered so that the ingesters
        // of a fleet that lost NATS together do not re-send together.
        let mut retry = Backoff::doubling(PUBLISH_RETRY_MIN, PUBLISH_RETRY_MAX).delays();
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            if drain_deadline.is_none() && shutdown.is_cancelled() {
                drain_deadline = Some(tokio::time::Instant::now() + self.config.drain_timeout);
            }
            if let Some(d) = drain_deadline
                && tokio::time::Instant::now() >= d
            {
                let left = inflight.len() + self.buffered().0;
                if left > 0 {
                    tracing::error!(
                        left,
                        "shutdown: messages not published before the drain deadline"
                    );
                }
                return left;
            }

            // Fill the window.
            let mut send_failed = false;
            let mut ack_failed: Option<Outgoing> = None;
            while inflight.len() < self.config.max_inflight {
                let Some(msg) = self.pop() else { break };
                match js
                    .send_publish(msg.subject.clone(), publish_message(&msg))
                    .await
                {
                    Ok(ack) => inflight.push_back((msg, ack)),
                    Err(e) => {
                        self.failed(&e);
                        tracing::warn!(error = %e, subject = %msg.subject, "publish failed; will retry");
                        self.requeue(std::iter::once(msg));
                        send_failed = true;
                        break;
                    }
                }
            }
            self.metrics.inflight_acks.set(inflight.len() as i64);

            if !send_failed {
                if let Some((msg, ack)) = inflight.pop_front() {
                    match ack.await {
                        Ok(ack) => {
                            if let Some(span) = &msg.span {
                                span.record("jetstream.seq", ack.sequence);
                                span.record("jetstream.duplicate", ack.duplicate);
                            }
                            self.acked(&msg, ack.duplicate);
                            if retry.attempts() > 0 {
                                // The first ack after failures: JetStream stores again.
                                retry.reset();
                                self.readiness.set_ready(PUBLISH_CONDITION);
                                tracing::info!("JetStream acknowledges again");
                            }
                            continue;
                        }
                        Err(e) => {
                            self.failed(&e);
                            tracing::warn!(error = %e, subject = %msg.subject, in_flight = inflight.len() + 1, "ack failed; re-sending unacknowledged messages");
                            ack_failed = Some(msg);
                        }
                    }
                } else {
                    if drain_deadline.is_some() {
                        return 0;
                    }
                    tokio::select! {
                        _ = self.notify.notified() => {}
                        _ = shutdown.cancelled() => {}
                    }
                    continue;
                }
            }

            // Failure path: everything unacknowledged goes back, then wait for NATS.
            let mut back: Vec<Outgoing> = ack_failed.into_iter().collect();
            back.extend(inflight.drain(..).map(|(m, _)| m));
            self.metrics
                .publish_retries
                .inc_by(back.len().max(1) as u64);
            self.requeue(back.into_iter());
            self.metrics.inflight_acks.set(0);
            self.wait_for_nats(&client, retry.next_delay(), drain_deadline)
                .await;
        }
    }

    /// Counts a failure by kind and marks the publisher not ready with the reason.
    fn failed(&self, e: &PublishError) {
        let kind = PublishFailure::of(e);
        self.metrics
            .publish_failures
            .get_or_create(&FailureLabel { kind: kind.label() })
            .inc();
        let (messages, _) = self.buffered();
        self.readiness.set_not_ready(
            PUBLISH_CONDITION,
            format!("{}: {e}; {messages} messages buffered", kind.label()),
        );
    }

    fn acked(&self, msg: &Outgoing, duplicate: bool) {
        self.metrics
            .publish_latency
            .observe(msg.enqueued.elapsed().as_secs_f64());
        if duplicate {
            self.metrics.duplicates_stream.inc();
        }
        if let Some(c) = &msg.counters {
            if duplicate {
                c.duplicates.fetch_add(1, Ordering::Relaxed);
            } else {
                c.published.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits `delay`, then until the client reports a connection (or the drain deadline).
    async fn wait_for_nats(
        &self,
        client: &async_nats::Client,
        delay: Duration,
        deadline: Option<tokio::time::Instant>,
    ) {
        let until = |d: Duration| match deadline {
            Some(dl) => (tokio::time::Instant::now() + d).min(dl),
            None => tokio::time::Instant::now() + d,
        };
        tokio::time::sleep_until(until(delay)).await;
        // The client reconnects by itself; its state is the condition we wait for.
        while client.connection_state() != async_nats::connection::State::Connected {
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return;
            }
            tokio::time::sleep_until(until(Duration::from_millis(50))).await;
        }
    }
}

fn publish_message(msg: &Outgoing) -> PublishMessage {
    let mut p = PublishMessage::build().payload(msg.payload.clone());
    if let Some(h) = &msg.headers {
        p = p.headers(h.clone());
    }
    if let Some(id) = &msg.msg_id {
        p = p.message_id(id);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(buffer_bytes: usize, shed_above_percent: u8) -> Publisher {
        let metrics = Metrics::register(&mut prometheus_client::registry::Registry::default());
        let config = PublishConfig {
            buffer_bytes,
            shed_above_percent,
            ..PublishConfig::default()
        };
        Publisher::new(config, metrics, Readiness::default())
    }

    fn message(payload_bytes: usize) -> Outgoing {
        Outgoing {
            subject: "bili.event.1.danmaku".into(),
            class: MessageClass::Event,
            payload: Bytes::from(vec![0u8; payload_bytes]),
            msg_id: None,
            headers: None,
            span: None,
            counters: None,
            enqueued: Instant::now(),
        }
    }

    #[test]
    fn shedding_starts_above_the_mark_and_ends_below_it() {
        let p = publisher(10_000, 50);
        assert!(!p.is_shedding(), "empty");
        assert!(p.push(message(4_000)));
        assert!(!p.is_shedding(), "{:?} is below half", p.buffered());
        assert!(p.push(message(1_000)));
        assert!(p.is_shedding(), "{:?} is above half", p.buffered());
        // Messages are still taken up to the bound itself: shedding is the room tasks' choice.
        assert!(p.push(message(3_000)));
        assert!(!p.push(message(3_000)), "past the bound");
        p.pop();
        p.pop();
        assert!(!p.is_shedding(), "{:?} is below half again", p.buffered());
    }

    #[test]
    fn a_mark_of_100_percent_never_sheds() {
        let p = publisher(1_000, 100);
        while p.push(message(100)) {}
        assert!(!p.is_shedding());
    }
}
