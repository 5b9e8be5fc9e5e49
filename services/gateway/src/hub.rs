//! The hub: every topic some client wants, read from NATS once, reference-counted by its
//! subscribers and stopped when the last one leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream;

use crate::channel::{Channel, Topic};
use crate::metrics::Metrics;
use crate::queue::ClientQueue;
use crate::topic::{HistoryPolicy, TopicHandle};

/// How much history each channel gets (`--history-*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySettings {
    /// `1s` summaries.
    pub s1: Duration,
    /// `10s` summaries.
    pub s10: Duration,
    /// `1m` summaries.
    pub m1: Duration,
    /// `1h` summaries.
    pub h1: Duration,
    /// Live events.
    pub events: Duration,
    /// At most this many live events.
    pub events_max: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            s1: Duration::from_secs(15 * 60),
            s10: Duration::from_secs(2 * 3600),
            m1: Duration::from_secs(24 * 3600),
            h1: Duration::from_secs(7 * 24 * 3600),
            events: Duration::from_secs(120),
            events_max: 200,
        }
    }
}

impl HistorySettings {
    /// The history policy of `channel`.
    pub fn policy(&self, channel: Channel) -> HistoryPolicy {
        let span = |d: Duration, secs: u32| HistoryPolicy {
            span: Some(d),
            // One message per window, plus room for revisions.
            max: usize::try_from(d.as_secs() / u64::from(secs.max(1)))
                .unwrap_or(usize::MAX)
                .saturating_mul(2)
                .max(1),
        };
        match channel {
            Channel::Window(w) => span(
                match w.secs() {
                    1 => self.s1,
                    10 => self.s10,
                    60 => self.m1,
                    _ => self.h1,
                },
                w.secs(),
            ),
            Channel::Session | Channel::Status => HistoryPolicy { span: None, max: 1 },
            Channel::Event(_) => HistoryPolicy {
                span: Some(self.events),
                max: self.events_max,
            },
        }
    }
}

/// The shared topics.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    js: jetstream::Context,
    history: HistorySettings,
    topics: Mutex<HashMap<Topic, Arc<TopicHandle>>>,
    metrics: Metrics,
}

impl Hub {
    /// A hub reading from `js`.
    pub fn new(js: jetstream::Context, history: HistorySettings, metrics: Metrics) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                js,
                history,
                topics: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, Arc<TopicHandle>>> {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Subscribes the client answering into `queue` to `topic`, starting to read the topic if
    /// nobody did.
    pub fn join(&self, topic: Topic, queue: &Arc<ClientQueue>, with_history: bool) {
        let mut topics = self.lock();
        let handle = topics.entry(topic).or_insert_with(|| {
            self.inner.metrics.subscriptions.inc();
            TopicHandle::spawn(
                topic,
                self.inner.history.policy(topic.channel),
                self.inner.js.clone(),
                self.inner.metrics.clone(),
            )
        });
        handle.join(queue, with_history);
    }

    /// Unsubscribes the client answering into `queue` from `topic`; the topic stops when
    /// nobody is left.
    pub fn leave(&self, topic: Topic, queue: &Arc<ClientQueue>) {
        let mut topics = self.lock();
        if let Some(handle) = topics.get(&topic)
            && handle.leave(queue)
        {
            handle.stop();
            topics.remove(&topic);
            self.inner.metrics.subscriptions.dec();
        }
    }

    /// Topics read now, with their subscriber counts.
    pub fn topics(&self) -> Vec<(Topic, usize)> {
        let mut v: Vec<(Topic, usize)> = self
            .lock()
            .iter()
            .map(|(t, h)| (*t, h.subscriber_count()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_proto::Kind;
    use bilipulse_proto::subject::Window;

    #[test]
    fn policies_follow_the_documented_defaults() {
        let h = HistorySettings::default();
        let p = h.policy(Channel::Window(Window::S1));
        assert_eq!(p.span, Some(Duration::from_secs(900)));
        assert_eq!(p.max, 1800);
        assert_eq!(h.policy(Channel::Window(Window::M1)).max, 2880);
        assert_eq!(
            h.policy(Channel::Session),
            HistoryPolicy { span: None, max: 1 }
        );
        let e = h.policy(Channel::Event(Kind::Danmaku));
        assert_eq!((e.span, e.max), (Some(Duration::from_secs(120)), 200));
    }
}
