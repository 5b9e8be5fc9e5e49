//! The gateway's Prometheus metrics (`bilipulse_gateway_*` on `/metrics`).

use std::fmt;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use bilipulse_runtime::admin::Label;

/// Every metric, cheap to clone (shared handles).
#[derive(Clone, Default)]
pub struct Metrics {
    /// Open client connections, by transport (`ws`, `sse`).
    pub connections: Family<Label, Gauge>,
    /// Connections refused, by cause (`max_connections`, `origin`).
    pub refused: Family<Label, Counter>,
    /// Topics read from NATS now (one consumer each, shared by their subscribers).
    pub subscriptions: Gauge,
    /// Messages pushed into client queues (one per message per subscriber).
    pub fanned_out: Counter,
    /// Socket writes (flushes), each carrying one or more frames.
    pub writes: Counter,
    /// Frames written to sockets.
    pub frames: Counter,
    /// Writes that carried more than one frame.
    pub coalesced_writes: Counter,
    /// Messages dropped from slow clients' queues.
    pub dropped: Counter,
    /// `lag` frames sent.
    pub lags: Counter,
    /// Clients closed for being too slow.
    pub closed_slow: Counter,
    /// Topic history reads started against JetStream.
    pub history_reads: Counter,
    /// NATS read failures of topics (each retried).
    pub nats_errors: Counter,
    /// Messages on a topic's subject that are not its contract type (skipped).
    pub garbage: Counter,
    /// `error` frames sent to clients, by code.
    pub client_errors: Family<Label, Counter>,
    /// REST requests, by outcome status class (`2xx`, `4xx`, `5xx`).
    pub rest: Family<Label, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        registry.register(
            "connections",
            "Open client connections, by transport",
            m.connections.clone(),
        );
        registry.register(
            "refused",
            "Connections refused, by cause",
            m.refused.clone(),
        );
        registry.register(
            "subscriptions",
            "Topics read from NATS, each shared by its subscribers",
            m.subscriptions.clone(),
        );
        registry.register(
            "fanned_out",
            "Messages pushed into client queues",
            m.fanned_out.clone(),
        );
        registry.register("writes", "Socket writes (flushes)", m.writes.clone());
        registry.register("frames", "Frames written to sockets", m.frames.clone());
        registry.register(
            "coalesced_writes",
            "Socket writes carrying more than one frame",
            m.coalesced_writes.clone(),
        );
        registry.register(
            "dropped",
            "Messages dropped from slow clients' queues",
            m.dropped.clone(),
        );
        registry.register("lags", "lag frames sent", m.lags.clone());
        registry.register(
            "closed_slow",
            "Clients closed for being too slow",
            m.closed_slow.clone(),
        );
        registry.register(
            "history_reads",
            "Topic history reads started against JetStream",
            m.history_reads.clone(),
        );
        registry.register(
            "nats_errors",
            "NATS read failures of topics",
            m.nats_errors.clone(),
        );
        registry.register(
            "garbage",
            "Messages that are not their subject's contract type",
            m.garbage.clone(),
        );
        registry.register(
            "client_errors",
            "error frames sent to clients, by code",
            m.client_errors.clone(),
        );
        registry.register("rest", "REST requests, by status class", m.rest.clone());
        m
    }
}
