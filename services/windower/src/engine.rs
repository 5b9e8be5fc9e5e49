//! [`Engine`]: the windower's single owner of all key-group state. One task reads
//! `BILI_EVENTS` (one ordered consumer over the whole stream) and `BILI_STATUS`, folds what
//! belongs to owned key groups, and on every checkpoint tick commits each group (see
//! [`crate::commit`]).
//!
//! Why one unfiltered consumer per replica rather than one filtered consumer per key group:
//! on nats-server 2.15 a consumer whose filter is not the stream's own subject reads 10–20×
//! slower once the stream holds many subjects (measured: 12–34 k msg/s against 250 k+ with no
//! filter, `../shared/jetstream-windowing.md` §1), and one room is one subject per kind. A replica
//! therefore reads everything and skips other groups' messages by subject, before decoding.
//! The stream position each group has applied lives in its checkpoint (atomic with its
//! summaries), not in consumer acks, which could not be made atomic with them.
//!
//! This file is one state machine's loop and its handlers, kept together on purpose; what they
//! call lives in modules of its own: opening the inputs ([`crate::consumer`]), decoding them
//! ([`crate::input`]), committing ([`crate::commit`]), checkpoints ([`crate::checkpoint`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::OrderedError;
use async_nats::jetstream::{self, stream::Stream};
use async_nats::{Client, HeaderMap};
use bilipulse_proto::{KeyGroup, RoomStatus};
use bilipulse_runtime::trace_context;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use thiserror::Error;

use crate::checkpoint::{self, CheckpointError};
use crate::config::StartFrom;
use crate::consumer::{self, ConsumerFailure, Messages};
use crate::group::GroupState;
use crate::input::{self, Garbage};
use crate::metrics::{Label, Metrics};
use crate::room::{Fate, Released};
use crate::settings::Settings;

/// Why the engine could not proceed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A consumer could not be opened, also after retrying for
    /// [`bilipulse_runtime::startup::GIVE_UP_AFTER`].
    #[error("cannot read {stream}: {failure}")]
    Consumer {
        /// The stream.
        stream: &'static str,
        /// Which request failed, and how.
        #[source]
        failure: ConsumerFailure,
    },
    /// A checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// A key group this replica owns.
pub(crate) struct Owned {
    /// Its state.
    pub state: GroupState,
    /// Stream sequence of its latest checkpoint head (0: none yet): the fence.
    pub head_seq: u64,
    /// Changed since the last commit.
    pub dirty: bool,
    /// Released but not yet committed (sessions finalised by an event).
    pub pending: Released,
    /// Commits made since taking the group.
    pub commits: u64,
    /// Size of the last checkpoint, bytes.
    pub bytes: usize,
}

/// Everything the engine needs from outside.
pub struct EngineConfig {
    /// Aggregation rules.
    pub settings: Settings,
    /// Where a group without a checkpoint starts.
    pub start: StartFrom,
    /// Largest event message accepted.
    pub max_event_bytes: usize,
    /// Commit interval.
    pub checkpoint_interval: Duration,
}

/// The windower's state and inputs.
pub struct Engine {
    pub(crate) cfg: EngineConfig,
    pub(crate) client: Client,
    pub(crate) events: Stream,
    pub(crate) summaries: Stream,
    pub(crate) status_stream: Stream,
    pub(crate) groups: BTreeMap<KeyGroup, Owned>,
    /// Next stream sequence the current events consumer delivers from.
    pub(crate) consumer_from: u64,
    /// Highest `BILI_EVENTS` sequence read.
    pub(crate) position: u64,
    /// Storage time of the newest message read, Unix ms.
    pub(crate) stream_clock: i64,
    /// True while the consumer has nothing pending.
    pub(crate) caught_up: bool,
    /// The latest status of every room, so a group taken over starts with its rooms' state.
    pub(crate) latest_status: HashMap<u64, RoomStatus>,
    pub(crate) metrics: Metrics,
    pub(crate) garbage_log: HashMap<Garbage, Instant>,
    pub(crate) batch_counter: u64,
    pub(crate) batch_prefix: String,
    events_rx: Option<Messages>,
    status_rx: Option<Messages>,
}

impl Engine {
    /// An engine owning nothing yet.
    pub fn new(
        cfg: EngineConfig,
        client: Client,
        streams: [Stream; 3],
        metrics: Metrics,
    ) -> Engine {
        let [events, summaries, status_stream] = streams;
        Engine {
            cfg,
            client,
            events,
            summaries,
            status_stream,
            groups: BTreeMap::new(),
            consumer_from: 1,
            position: 0,
            stream_clock: 0,
            caught_up: false,
            latest_status: HashMap::new(),
            metrics,
            garbage_log: HashMap::new(),
            batch_counter: 0,
            batch_prefix: format!("{:016x}", rand::random::<u64>()),
            events_rx: None,
            status_rx: None,
        }
    }

    /// Runs until `stop` fires, following `assigned` (the key groups this replica owns); then
    /// commits every group one last time, hands nothing half-done to the next owner, returns.
    pub async fn run(
        mut self,
        mut assigned: tokio::sync::watch::Receiver<Option<BTreeSet<KeyGroup>>>,
        stop: tokio_util::sync::CancellationToken,
        ready: impl Fn(bool),
    ) -> Result<(), EngineError> {
        let mut tick = tokio::time::interval(self.cfg.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.status_rx = Some(self.open_status().await?);
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                r = assigned.changed() => {
                    if r.is_err() { break; }
                    let want = assigned.borrow_and_update().clone();
                    if let Some(want) = want {
                        self.reassign(want).await?;
                        ready(true);
                    }
                }
                _ = tick.tick() => self.on_tick().await?,
                batch = next(&mut self.events_rx) => match batch {
                    Some(batch) => self.on_events(batch),
                    None => self.reopen_events().await?,
                },
                batch = next(&mut self.status_rx) => match batch {
                    Some(batch) => self.on_statuses(batch),
                    None => self.status_rx = Some(self.open_status().await?),
                },
            }
        }
        ready(false);
        tracing::info!(
            groups = self.groups.len(),
            "stopping: final commit of every key group"
        );
        let groups: Vec<KeyGroup> = self.groups.keys().copied().collect();
        for g in groups {
            self.commit_group(g, true).await;
        }
        Ok(())
    }

    /// Takes the groups in `want` not yet owned and lets go of those no longer in it.
    async fn reassign(&mut self, want: BTreeSet<KeyGroup>) -> Result<(), EngineError> {
        let lost: Vec<KeyGroup> = self
            .groups
            .keys()
            .filter(|g| !want.contains(g))
            .copied()
            .collect();
        for g in lost {
            self.commit_group(g, true).await;
            self.groups.remove(&g);
            tracing::info!(group = %g, "key group handed over");
        }
        let mut restart = false;
        for g in want {
            if self.groups.contains_key(&g) {
                continue;
            }
            let owned = self.acquire(g).await?;
            let next = owned.state.applied_seq + 1;
            if self.events_rx.is_none() || next < self.consumer_from.max(self.position + 1) {
                restart = true;
            }
            self.groups.insert(g, owned);
        }
        self.update_gauges();
        if restart {
            // Every owned group's events from the oldest position on; groups further on skip
            // what they applied already.
            let from = self
                .groups
                .values()
                .map(|o| o.state.applied_seq + 1)
                .min()
                .unwrap_or(1);
            self.open_events(from).await?;
        }
        Ok(())
    }

    /// Loads `group` from its checkpoint (or starts it fresh) and applies its rooms' latest
    /// statuses.
    pub(crate) async fn acquire(&mut self, group: KeyGroup) -> Result<Owned, EngineError> {
        // A JetStream that is moving leaders (a node lost, a cluster forming) answers "no
        // responders" or times out for seconds: retried, as at start-up, instead of ending the
        // windower over a transient error; an unusable checkpoint fails at once.
        let summaries = &self.summaries;
        let loaded = bilipulse_runtime::startup::retry(
            "reading a key group's checkpoint",
            &bilipulse_runtime::shutdown::Shutdown::new(),
            |e: &checkpoint::CheckpointError| !e.is_transient(),
            || checkpoint::load(summaries, group),
        )
        .await?;
        let (mut state, head_seq, bytes) = match loaded {
            Some(l) => (l.state, l.head_seq, l.bytes),
            None => {
                let start = match self.cfg.start {
                    StartFrom::All => 0,
                    StartFrom::New => self.last_event_seq().await?,
                };
                (GroupState::new(group, start), 0, 0)
            }
        };
        for st in self
            .latest_status
            .values()
            .filter(|st| KeyGroup::of(st.room) == group)
        {
            state.on_status(st, &self.cfg.settings);
        }
        tracing::info!(%group, applied_seq = state.applied_seq, rooms = state.rooms.len(), head_seq, bytes, "key group taken");
        Ok(Owned {
            state,
            head_seq,
            dirty: false,
            pending: Released::default(),
            commits: 0,
            bytes,
        })
    }

    async fn last_event_seq(&mut self) -> Result<u64, EngineError> {
        consumer::last_event_seq(&self.events).await
    }

    async fn open_events(&mut self, from: u64) -> Result<(), EngineError> {
        let from = from.max(1);
        let (last, messages) = consumer::events_from(&self.events, from).await?;
        tracing::info!(from, last, "reading BILI_EVENTS");
        self.consumer_from = from;
        self.position = from - 1;
        self.caught_up = from > last;
        self.events_rx = Some(messages);
        Ok(())
    }

    async fn reopen_events(&mut self) -> Result<(), EngineError> {
        tracing::warn!(
            position = self.position,
            "BILI_EVENTS consumer ended; reopening"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.open_events(self.position + 1).await
    }

    async fn open_status(&mut self) -> Result<Messages, EngineError> {
        consumer::latest_statuses(&self.status_stream).await
    }

    fn on_events(&mut self, batch: Vec<Result<jetstream::Message, OrderedError>>) {
        for msg in batch {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "BILI_EVENTS read error (the consumer recovers by itself)");
                    continue;
                }
            };
            let Ok(info) = msg.info() else {
                tracing::warn!(subject = %msg.subject, "message without JetStream metadata; ignored");
                continue;
            };
            let seq = info.stream_sequence;
            let stored = (info.published.unix_timestamp_nanos() / 1_000_000) as i64;
            self.caught_up = info.pending == 0;
            self.metrics.pending.set(info.pending as i64);
            if seq <= self.position {
                continue;
            }
            self.position = seq;
            self.stream_clock = self.stream_clock.max(stored);
            self.apply_event(
                &msg.subject,
                &msg.payload,
                msg.headers.as_ref(),
                seq,
                stored,
            );
        }
    }

    fn apply_event(
        &mut self,
        subject: &str,
        payload: &[u8],
        headers: Option<&HeaderMap>,
        seq: u64,
        stored: i64,
    ) {
        let (room, kind) = match input::room_of(subject) {
            Ok(rk) => rk,
            Err(cause) => return self.garbage(cause, subject, seq),
        };
        let group = KeyGroup::of(room);
        let Some(owned) = self.groups.get_mut(&group) else {
            self.metrics.foreign.inc();
            return;
        };
        if seq <= owned.state.applied_seq {
            return; // applied before this group's checkpoint
        }
        match input::decode(room, kind, payload, stored, self.cfg.max_event_bytes) {
            Ok(ev) => {
                let sampled = headers.and_then(sampled_context);
                let fate = owned.state.on_event_sampled(
                    &ev,
                    seq,
                    stored,
                    &self.cfg.settings,
                    sampled.as_ref(),
                    &mut owned.pending,
                );
                owned.dirty = true;
                let label = match fate {
                    Some(Fate::OnTime) | None => "on_time",
                    Some(Fate::Revised) => "revised",
                    Some(Fate::Late) => "late",
                };
                self.metrics.events.get_or_create(&Label::of(label)).inc();
            }
            Err(cause) => {
                owned.state.skip(seq, stored);
                owned.dirty = true;
                self.garbage(cause, subject, seq);
            }
        }
    }

    /// Counts a message that was not counted, and logs each cause at most once a minute.
    fn garbage(&mut self, cause: Garbage, subject: &str, seq: u64) {
        self.metrics
            .garbage
            .get_or_create(&Label::of(cause.as_str()))
            .inc();
        let now = Instant::now();
        let due = self
            .garbage_log
            .get(&cause)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
        if due {
            self.garbage_log.insert(cause, now);
            tracing::warn!(%cause, subject, seq, "message on bili.event.> not counted (logged once a minute per cause; see the garbage metric)");
        }
    }

    fn on_statuses(&mut self, batch: Vec<Result<jetstream::Message, OrderedError>>) {
        for msg in batch.into_iter().flatten() {
            let Ok(st) = bilipulse_proto::decode::<RoomStatus>(&msg.payload) else {
                self.metrics
                    .garbage
                    .get_or_create(&Label::of("bad_status"))
                    .inc();
                continue;
            };
            if msg.subject.as_str() != bilipulse_proto::subject::status(st.room) {
                self.metrics
                    .garbage
                    .get_or_create(&Label::of("bad_status"))
                    .inc();
                continue;
            }
            self.metrics.statuses.inc();
            let group = KeyGroup::of(st.room);
            if let Some(owned) = self.groups.get_mut(&group) {
                owned.state.on_status(&st, &self.cfg.settings);
                owned.dirty = true;
            }
            self.latest_status.insert(st.room, st);
        }
    }

    async fn on_tick(&mut self) -> Result<(), EngineError> {
        let now = bilipulse_runtime::clock::now_ms();
        if self.caught_up {
            // Nothing is waiting to be read: stream time is now, so quiet rooms' windows close.
            self.stream_clock = self.stream_clock.max(now);
        }
        self.metrics.lag_ms.set((now - self.stream_clock).max(0));
        let groups: Vec<KeyGroup> = self.groups.keys().copied().collect();
        for g in groups {
            if !self.commit_group(g, false).await {
                self.reload(g).await?;
            }
        }
        self.update_gauges();
        Ok(())
    }

    /// Replaces `group`'s state with its latest checkpoint after a failed commit (another
    /// replica may have committed in between), re-reading events from there if needed.
    async fn reload(&mut self, group: KeyGroup) -> Result<(), EngineError> {
        tracing::warn!(%group, "reloading key group from its checkpoint");
        let owned = self.acquire(group).await?;
        let next = owned.state.applied_seq + 1;
        self.groups.insert(group, owned);
        if next <= self.position {
            let from = self
                .groups
                .values()
                .map(|o| o.state.applied_seq + 1)
                .min()
                .unwrap_or(next);
            self.open_events(from).await?;
        }
        Ok(())
    }

    pub(crate) fn update_gauges(&self) {
        self.metrics.key_groups.set(self.groups.len() as i64);
        self.metrics.rooms.set(
            self.groups
                .values()
                .map(|o| o.state.rooms.len() as i64)
                .sum(),
        );
        self.metrics
            .checkpoint_bytes
            .set(self.groups.values().map(|o| o.bytes as i64).sum());
    }
}

/// The trace context a sampled event carries (the ingester's `ingest.event` span), if any.
/// Looks for the header before parsing anything, so unsampled events cost one map lookup;
/// a malformed `traceparent` is ignored like a missing one.
pub(crate) fn sampled_context(headers: &HeaderMap) -> Option<SpanContext> {
    headers.get(trace_context::TRACEPARENT)?;
    let cx = trace_context::extract(headers);
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// The next chunk of an optional stream; pending forever while there is none.
async fn next(rx: &mut Option<Messages>) -> Option<Vec<Result<jetstream::Message, OrderedError>>> {
    match rx {
        Some(s) => futures::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await,
        None => futures::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_valid_traceparent_is_a_sampled_event() {
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", "5:a");
        assert!(sampled_context(&h).is_none(), "unsampled: no header");
        h.insert(trace_context::TRACEPARENT, "00-not-a-trace-01");
        assert!(sampled_context(&h).is_none(), "malformed: ignored");
        h.insert(
            trace_context::TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        let sc = sampled_context(&h).expect("a valid parent");
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(sc.span_id().to_string(), "b7ad6b7169203331");
        assert!(sc.is_sampled() && sc.is_remote());
    }
}
