//! One topic read from JetStream once and shared by every client subscribed to it.
//!
//! A topic task runs one ordered consumer on the topic's literal subject (literal filters are
//! cheap for the server; wildcard filters over many subjects are not). It starts far enough back
//! for the channel's history, keeps that history in memory, and pushes each new message to the
//! subscribers' queues. History and subscriber list change under one lock, so a client that
//! joins gets exactly the messages up to some sequence as history and every later one live: no
//! gap and no duplicate at the seam.
//!
//! Messages are read through JetStream, never as core subscriptions: a core subscriber would
//! also see summaries of atomic batches that JetStream refused (`proto/README.md`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use bilipulse_runtime::backoff::Backoff;
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::trace_context;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::channel::Topic;
use crate::frame::{self, Control, ErrorCode, Frame};
use crate::metrics::Metrics;
use crate::queue::ClientQueue;

/// A subscriber, known by its queue: equal and hashed by the queue's address, so a topic's
/// subscriber set holds one pointer per client (a topic may have tens of thousands).
#[derive(Debug, Clone)]
struct Subscriber(Arc<ClientQueue>);

impl PartialEq for Subscriber {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Subscriber {}

impl Hash for Subscriber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state);
    }
}

/// How much of a channel a new subscriber gets first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// How far back, or `None` for only the latest message.
    pub span: Option<Duration>,
    /// At most this many messages.
    pub max: usize,
}

/// One message kept as history: its time (window start, event time, report time), when
/// JetStream stored it, and its frame.
#[derive(Debug, Clone)]
struct Held {
    at_ms: i64,
    stored_ms: i64,
    frame: Frame,
}

/// What history a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The channel's history.
    History,
    /// Only messages stored from this time on (Unix ms): a client that asked for no history
    /// and joined while the topic was still loading still gets what was stored after it
    /// subscribed.
    Since(i64),
}

#[derive(Debug, Default)]
struct State {
    history: VecDeque<Held>,
    /// The initial read reached the end of the stream: later messages are live.
    loaded: bool,
    subscribers: HashSet<Subscriber>,
    /// Joined before the initial read finished, with what they want first.
    waiting: HashMap<Subscriber, Wanted>,
}

/// A topic's shared state and the handle that stops its task.
#[derive(Debug)]
pub struct TopicHandle {
    topic: Topic,
    policy: HistoryPolicy,
    state: Mutex<State>,
    stop: CancellationToken,
}

impl TopicHandle {
    /// Starts reading `topic` (spawns its task).
    pub fn spawn(
        topic: Topic,
        policy: HistoryPolicy,
        js: jetstream::Context,
        metrics: Metrics,
    ) -> Arc<TopicHandle> {
        let handle = Arc::new(TopicHandle {
            topic,
            policy,
            state: Mutex::new(State::default()),
            stop: CancellationToken::new(),
        });
        tokio::spawn(read(handle.clone(), js, metrics));
        handle
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a subscriber: its history (if asked for) goes into its queue now, or as soon as
    /// the initial read is complete, followed by every live message.
    pub fn join(&self, queue: &Arc<ClientQueue>, with_history: bool) {
        let wanted = if with_history {
            Wanted::History
        } else {
            Wanted::Since(now_ms())
        };
        let mut s = self.lock();
        if s.loaded {
            // Live from here: with no history wanted, nothing before.
            let wanted = match wanted {
                Wanted::History => Wanted::History,
                Wanted::Since(_) => Wanted::Since(i64::MAX),
            };
            self.send_history(&s, queue, wanted);
            s.subscribers.insert(Subscriber(queue.clone()));
        } else {
            s.waiting.insert(Subscriber(queue.clone()), wanted);
        }
    }

    /// Removes a subscriber; true when the topic has none left.
    pub fn leave(&self, queue: &Arc<ClientQueue>) -> bool {
        let mut s = self.lock();
        let who = Subscriber(queue.clone());
        s.subscribers.remove(&who);
        s.waiting.remove(&who);
        s.subscribers.is_empty() && s.waiting.is_empty()
    }

    /// Stops the topic's task.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Subscribers and waiting clients.
    pub fn subscriber_count(&self) -> usize {
        let s = self.lock();
        s.subscribers.len() + s.waiting.len()
    }

    fn send_history(&self, s: &State, queue: &ClientQueue, wanted: Wanted) {
        let frames = match wanted {
            Wanted::History => frame::history(self.topic, s.history.iter().map(|h| &h.frame)),
            Wanted::Since(ms) => {
                let since: Vec<&Frame> = s
                    .history
                    .iter()
                    .filter(|h| h.stored_ms >= ms)
                    .map(|h| &h.frame)
                    .collect();
                frame::history(self.topic, since.into_iter())
            }
        };
        for f in frames {
            queue.push_control(f);
        }
    }

    fn trim(&self, s: &mut State) {
        if let Some(span) = self.policy.span {
            let oldest =
                now_ms().saturating_sub(i64::try_from(span.as_millis()).unwrap_or(i64::MAX));
            while s.history.front().is_some_and(|h| h.at_ms < oldest) {
                s.history.pop_front();
            }
        }
        while s.history.len() > self.policy.max.max(1) {
            s.history.pop_front();
        }
    }

    /// The initial read is complete: waiting clients get their history and become subscribers.
    fn mark_loaded(&self, s: &mut State) {
        if s.loaded {
            return;
        }
        self.trim(s);
        s.loaded = true;
        for (who, wanted) in std::mem::take(&mut s.waiting) {
            self.send_history(s, &who.0, wanted);
            s.subscribers.insert(who);
        }
    }

    /// One message read from the stream; returns how many subscriber queues it was pushed to
    /// (0 while the initial read is still loading history).
    fn deliver(&self, at_ms: i64, stored_ms: i64, frame: Frame, metrics: &Metrics) -> u64 {
        let mut s = self.lock();
        let mut fanned = 0u64;
        if s.loaded {
            for Subscriber(q) in &s.subscribers {
                let p = q.push_message(self.topic, frame.clone());
                fanned += 1;
                if p.dropped > 0 {
                    metrics.dropped.inc_by(p.dropped);
                }
                if p.closed {
                    metrics.closed_slow.inc();
                }
            }
            metrics.fanned_out.inc_by(fanned);
        }
        s.history.push_back(Held {
            at_ms,
            stored_ms,
            frame,
        });
        self.trim(&mut s);
        fanned
    }

    /// NATS could not be read: clients still waiting for history are told (they stay
    /// subscribed and get the history once reading works).
    fn report_unavailable(&self, why: &str) {
        let s = self.lock();
        let text = Control::Error {
            req: None,
            code: ErrorCode::Unavailable,
            message: format!("cannot read {} from NATS yet: {why}", self.topic),
        }
        .to_frame();
        for Subscriber(q) in s.waiting.keys() {
            q.push_control(text.clone());
        }
    }
}

/// Where a (re)opened consumer starts: after the last message read, or far enough back for
/// the history.
fn deliver_policy(policy: HistoryPolicy, next_seq: Option<u64>) -> consumer::DeliverPolicy {
    if let Some(start_sequence) = next_seq {
        return consumer::DeliverPolicy::ByStartSequence { start_sequence };
    }
    let Some(span) = policy.span else {
        return consumer::DeliverPolicy::LastPerSubject;
    };
    // Summaries are stored after their window closed, so reading by storage time from
    // `now - span` covers every window that starts in the span.
    let from_ms = now_ms().saturating_sub(i64::try_from(span.as_millis()).unwrap_or(0));
    match async_nats::datetime::from_nanos(i128::from(from_ms) * 1_000_000) {
        Ok(start_time) => consumer::DeliverPolicy::ByStartTime { start_time },
        Err(_) => consumer::DeliverPolicy::All,
    }
}

/// The topic's task: read, re-open from the next sequence after any failure, until stopped.
async fn read(handle: Arc<TopicHandle>, js: jetstream::Context, metrics: Metrics) {
    let topic = handle.topic;
    let subject = topic.channel.subject(topic.room);
    let mut next_seq: Option<u64> = None;
    let mut delays = Backoff::new(Duration::from_millis(200), Duration::from_secs(5), 2.0)
        .expect("constant back-off parameters are valid")
        .delays();
    loop {
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            _ = handle.stop.cancelled() => return,
            r = consume(&handle, &js, &subject, &mut next_seq, &metrics) => r,
        };
        if let Err(why) = result {
            metrics.nats_errors.inc();
            tracing::warn!(topic = %topic, error = %why, "reading topic failed; retrying");
            handle.report_unavailable(&why);
        }
        if started.elapsed() > Duration::from_secs(30) {
            delays.reset();
        }
        tokio::select! {
            _ = handle.stop.cancelled() => return,
            _ = tokio::time::sleep(delays.next_delay()) => {}
        }
    }
}

/// Reads the topic until the consumer fails; returns why.
async fn consume(
    handle: &TopicHandle,
    js: &jetstream::Context,
    subject: &str,
    next_seq: &mut Option<u64>,
    metrics: &Metrics,
) -> Result<(), String> {
    let topic = handle.topic;
    let stream = js
        .get_stream(topic.channel.stream())
        .await
        .map_err(|e| format!("stream {}: {e}", topic.channel.stream()))?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: deliver_policy(handle.policy, *next_seq),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("consumer on {subject}: {e}"))?;
    let pending = consumer.cached_info().num_pending;
    if pending == 0 {
        handle.mark_loaded(&mut handle.lock());
    }
    if next_seq.is_none() {
        metrics.history_reads.inc();
    }
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("consuming {subject}: {e}"))?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| format!("reading {subject}: {e}"))?;
        let Ok(info) = m.info() else {
            continue;
        };
        let (seq, pending) = (info.stream_sequence, info.pending);
        let stored_ms =
            i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        *next_seq = Some(seq + 1);
        {
            // Entered only around this synchronous part: the guard must not live across an
            // await (the task would no longer be Send, and the span would cover the wait).
            let span = fanout_span(topic, seq, m.headers.as_ref());
            let _entered = span.as_ref().map(tracing::Span::enter);
            match frame::data_json(topic.channel, &m.payload) {
                Ok((data, at_ms)) => {
                    let frame = frame::message(topic, seq, &data);
                    let fanned = handle.deliver(at_ms, stored_ms, frame, metrics);
                    if let Some(span) = &span {
                        // An OTel integer (a u64 field is exported as a string).
                        span.record("subscribers", i64::try_from(fanned).unwrap_or(i64::MAX));
                    }
                }
                Err(e) => {
                    metrics.garbage.inc();
                    tracing::debug!(topic = %topic, seq, error = %e, "message skipped");
                }
            }
        }
        if pending == 0 {
            handle.mark_loaded(&mut handle.lock());
        }
    }
    Err(format!("the consumer on {subject} ended"))
}

/// The `gateway.fanout` span of a message that carries a W3C `traceparent` (a summary of a
/// window that counted sampled events), as a child of the windower's `window.close`; `None`,
/// at the cost of one header lookup, for every other message.
///
/// It covers building the frame and pushing it to the subscribers' queues, and ends there, not
/// at each client's socket write: the write happens per client in the connection task, and a
/// span per frame per client would cost more than the fan-out it measures. `subscribers` says
/// how many queues the frame went to.
fn fanout_span(
    topic: Topic,
    seq: u64,
    headers: Option<&async_nats::HeaderMap>,
) -> Option<tracing::Span> {
    headers?.get(trace_context::TRACEPARENT)?;
    let span = tracing::info_span!(
        parent: None,
        "gateway.fanout",
        topic = %topic,
        room = topic.room,
        seq,
        subscribers = tracing::field::Empty,
    );
    trace_context::set_parent(&span, headers).then_some(span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use bilipulse_proto::subject::Window;

    const TOPIC: Topic = Topic {
        room: 5,
        channel: Channel::Window(Window::S1),
    };

    #[test]
    fn only_a_message_with_a_traceparent_and_an_otel_layer_gets_a_span() {
        assert!(fanout_span(TOPIC, 1, None).is_none(), "no headers");
        let mut h = async_nats::HeaderMap::new();
        h.insert("Bilipulse-Summary-Id", "5.1s.0.0");
        assert!(fanout_span(TOPIC, 1, Some(&h)).is_none(), "no traceparent");
        h.insert(
            trace_context::TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        // A traced summary, but this process exports no spans: nothing to continue.
        assert!(fanout_span(TOPIC, 1, Some(&h)).is_none(), "no OTel layer");
    }
}
