//! A client's outgoing queue: bounded, dropping the oldest messages when the client cannot keep
//! up, and closing the client when it stays stuck.
//!
//! Topics push into it (never waiting: a slow browser must not slow NATS reads or other
//! clients); the client's writer takes everything queued at once, so several pending messages
//! go out in one socket write.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::channel::Topic;
use crate::frame::{Control, Frame, TopicDrops};

/// Queue capacity (entries) an empty queue keeps; more is given back.
const RETAINED_CAPACITY: usize = 4;

/// Why the gateway closed a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue stayed full for longer than the stuck limit.
    TooSlow,
    /// The gateway is shutting down.
    ShuttingDown,
}

impl CloseReason {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TooSlow => "too_slow",
            CloseReason::ShuttingDown => "shutting_down",
        }
    }
}

/// What the writer takes from the queue.
#[derive(Debug)]
pub enum Batch {
    /// Frames to send, in order; a `lag` frame first when messages were dropped.
    Frames(Vec<Frame>),
    /// Close the connection.
    Close(CloseReason),
}

/// What one push did, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// Messages dropped to make room.
    pub dropped: u64,
    /// The push found the client stuck and closed it.
    pub closed: bool,
}

#[derive(Debug)]
struct Entry {
    frame: Frame,
    /// `Some` for messages (droppable), `None` for control and history frames.
    topic: Option<Topic>,
}

#[derive(Debug, Default)]
struct State {
    entries: VecDeque<Entry>,
    dropped: BTreeMap<Topic, u64>,
    full_since: Option<Instant>,
    closed: Option<CloseReason>,
}

/// A client's bounded queue of frames.
#[derive(Debug)]
pub struct ClientQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
    stuck_after: Duration,
}

impl ClientQueue {
    /// A queue holding at most `capacity` messages; a client whose queue stays full for
    /// `stuck_after` is closed.
    pub fn new(capacity: usize, stuck_after: Duration) -> ClientQueue {
        ClientQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
            stuck_after,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message of `topic`; drops the oldest queued message when full.
    pub fn push_message(&self, topic: Topic, frame: Frame) -> Pushed {
        self.push(Entry {
            frame,
            topic: Some(topic),
        })
    }

    /// Queues a frame that is never dropped (control, history). Such frames still count
    /// toward the stuck limit: a client that reads nothing is closed either way.
    pub fn push_control(&self, frame: Frame) -> Pushed {
        self.push(Entry { frame, topic: None })
    }

    fn push(&self, entry: Entry) -> Pushed {
        let mut out = Pushed::default();
        let was_empty;
        {
            let mut s = self.lock();
            if s.closed.is_some() {
                return out;
            }
            was_empty = s.entries.is_empty();
            if s.entries.len() >= self.capacity {
                let now = Instant::now();
                let since = *s.full_since.get_or_insert(now);
                if now.duration_since(since) >= self.stuck_after
                    || s.entries.len() >= self.capacity * 2
                {
                    s.closed = Some(CloseReason::TooSlow);
                    s.entries.clear();
                    out.closed = true;
                } else if let Some(i) = s.entries.iter().position(|e| e.topic.is_some())
                    && let Some(old) = s.entries.remove(i)
                    && let Some(t) = old.topic
                {
                    *s.dropped.entry(t).or_default() += 1;
                    out.dropped = 1;
                }
            }
            if !out.closed {
                s.entries.push_back(entry);
            }
        }
        // The writer takes everything queued at once, so only the push that makes the queue
        // non-empty needs to wake it; the others would only cost a wake-up each.
        if was_empty || out.closed {
            self.ready.notify_one();
        }
        out
    }

    /// Closes the queue: the writer's next [`ClientQueue::next`] answers `Close`.
    pub fn close(&self, reason: CloseReason) {
        self.lock().closed.get_or_insert(reason);
        self.ready.notify_one();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Frames queued now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until something is queued, then takes all of it (at most `max` frames).
    pub async fn next(&self, max: usize) -> Batch {
        loop {
            let notified = self.ready.notified();
            if let Some(batch) = self.take(max) {
                return batch;
            }
            notified.await;
        }
    }

    fn take(&self, max: usize) -> Option<Batch> {
        let mut s = self.lock();
        if let Some(reason) = s.closed {
            return Some(Batch::Close(reason));
        }
        if s.entries.is_empty() {
            return None;
        }
        let mut frames = Vec::with_capacity(s.entries.len().min(max) + 1);
        if !s.dropped.is_empty() {
            let dropped = std::mem::take(&mut s.dropped);
            let topics: Vec<TopicDrops> = dropped
                .iter()
                .map(|(t, n)| TopicDrops {
                    room: t.room,
                    channel: t.channel.to_string(),
                    dropped: *n,
                })
                .collect();
            frames.push(
                Control::Lag {
                    dropped: dropped.values().sum(),
                    topics,
                }
                .to_frame(),
            );
        }
        let n = s.entries.len().min(max);
        frames.extend(s.entries.drain(..n).map(|e| e.frame));
        // A burst (the answers to a 100-room subscribe, a backlog) leaves capacity behind that
        // an idle connection would keep for good; give it back once drained. Steady traffic
        // keeps the capacity small, so this does not reallocate per message.
        if s.entries.is_empty() && s.entries.capacity() > RETAINED_CAPACITY {
            s.entries.shrink_to(RETAINED_CAPACITY);
        }
        if s.entries.len() < self.capacity {
            s.full_since = None;
        }
        Some(Batch::Frames(frames))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use bilipulse_proto::subject::Window;

    fn topic() -> Topic {
        Topic {
            room: 1,
            channel: Channel::Window(Window::S1),
        }
    }

    fn frames(b: Batch) -> Vec<String> {
        match b {
            Batch::Frames(f) => f.iter().map(|f| f.as_str().to_owned()).collect(),
            Batch::Close(r) => panic!("closed: {r:?}"),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_oldest_messages_and_reports_lag_first() {
        let q = ClientQueue::new(3, Duration::from_secs(60));
        q.push_control(Frame::from("c0".to_owned()));
        for i in 0..5 {
            q.push_message(topic(), Frame::from(format!("m{i}")));
        }
        let got = frames(q.next(100).await);
        let lag: serde_json::Value = serde_json::from_str(&got[0]).expect("lag JSON");
        assert_eq!(lag["type"], "lag");
        assert_eq!(lag["dropped"], 3);
        assert_eq!(lag["topics"][0]["channel"], "1s");
        // The control frame survives; the three oldest messages are gone.
        assert_eq!(&got[1..], ["c0", "m3", "m4"]);
        q.push_message(topic(), Frame::from("m5".to_owned()));
        assert_eq!(frames(q.next(100).await), ["m5"], "lag is reported once");
    }

    #[tokio::test]
    async fn a_client_that_stays_full_is_closed() {
        let q = ClientQueue::new(2, Duration::ZERO);
        q.push_message(topic(), Frame::from("a".to_owned()));
        q.push_message(topic(), Frame::from("b".to_owned()));
        let p = q.push_message(topic(), Frame::from("c".to_owned()));
        assert!(p.closed);
        assert!(matches!(
            q.next(10).await,
            Batch::Close(CloseReason::TooSlow)
        ));
        assert_eq!(
            q.push_message(topic(), Frame::from("d".to_owned())),
            Pushed::default()
        );
    }

    #[tokio::test]
    async fn control_frames_alone_cannot_grow_the_queue_without_bound() {
        let q = ClientQueue::new(2, Duration::from_secs(60));
        let mut closed = false;
        for _ in 0..10 {
            closed |= q.push_control(Frame::from("x".to_owned())).closed;
        }
        assert!(closed, "closed at twice the capacity");
        assert!(q.is_closed());
    }

    #[tokio::test]
    async fn a_drained_queue_gives_back_the_capacity_of_a_burst() {
        let q = ClientQueue::new(1000, Duration::from_secs(60));
        for i in 0..500 {
            q.push_message(topic(), Frame::from(format!("m{i}")));
        }
        assert_eq!(frames(q.next(1000).await).len(), 500);
        assert!(q.lock().entries.capacity() <= RETAINED_CAPACITY);
    }

    #[tokio::test]
    async fn next_takes_at_most_max_frames() {
        let q = ClientQueue::new(10, Duration::from_secs(60));
        for i in 0..5 {
            q.push_message(topic(), Frame::from(format!("m{i}")));
        }
        assert_eq!(frames(q.next(2).await), ["m0", "m1"]);
        assert_eq!(frames(q.next(10).await), ["m2", "m3", "m4"]);
    }
}
