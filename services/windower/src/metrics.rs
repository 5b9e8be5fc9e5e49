//! The windower's Prometheus metrics (`bilipulse_windower_*` on `/metrics`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use bilipulse_runtime::admin::Label;

/// Every metric, cheap to clone (shared handles).
#[derive(Clone, Default)]
pub struct Metrics {
    /// Events counted, by fate (`on_time`, `revised`, `late`).
    pub events: Family<Label, Counter>,
    /// Messages of other key groups skipped without decoding.
    pub foreign: Counter,
    /// Messages not counted, by cause.
    pub garbage: Family<Label, Counter>,
    /// Summaries committed, by window width.
    pub summaries: Family<Label, Counter>,
    /// Of those, revisions (`rev` > 0).
    pub revisions: Counter,
    /// Session updates committed.
    pub sessions: Counter,
    /// Commit batches, by outcome (`ok`, `fenced`, `refused`, `unknown`, `error`).
    pub commits: Family<Label, Counter>,
    /// Bytes of the last checkpoint written, summed over owned key groups.
    pub checkpoint_bytes: Gauge,
    /// Key groups owned.
    pub key_groups: Gauge,
    /// Rooms held in owned key groups.
    pub rooms: Gauge,
    /// Messages still to read in `BILI_EVENTS` (consumer lag).
    pub pending: Gauge,
    /// Stream time minus wall time, ms (how far behind the windower runs).
    pub lag_ms: Gauge,
    /// Status reports applied.
    pub statuses: Counter,
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        registry.register("events", "Events counted, by fate", m.events.clone());
        registry.register(
            "foreign",
            "Messages of other key groups skipped",
            m.foreign.clone(),
        );
        registry.register(
            "garbage",
            "Messages on bili.event.> not counted, by cause",
            m.garbage.clone(),
        );
        registry.register(
            "summaries",
            "Window summaries committed, by width",
            m.summaries.clone(),
        );
        registry.register(
            "revisions",
            "Summaries re-published because of late events",
            m.revisions.clone(),
        );
        registry.register(
            "sessions",
            "Live-session updates committed",
            m.sessions.clone(),
        );
        registry.register("commits", "Commit batches, by outcome", m.commits.clone());
        registry.register(
            "checkpoint_bytes",
            "Size of the latest checkpoints of owned key groups",
            m.checkpoint_bytes.clone(),
        );
        registry.register("key_groups", "Key groups owned", m.key_groups.clone());
        registry.register("rooms", "Rooms held", m.rooms.clone());
        registry.register(
            "pending",
            "BILI_EVENTS messages not yet read",
            m.pending.clone(),
        );
        registry.register(
            "lag_ms",
            "Wall time minus stream time of the newest message read",
            m.lag_ms.clone(),
        );
        registry.register("statuses", "Status reports applied", m.statuses.clone());
        m
    }
}
