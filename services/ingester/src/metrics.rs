//! The ingester's Prometheus metrics, registered once and shared by every task.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label for per-kind event counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Event kind (`danmaku`, `gift`, …).
    pub kind: String,
}

/// Label for connection-state gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// Connection state.
    pub state: ConnLabel,
}

/// Connection states as metric label values.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum ConnLabel {
    /// Resolving or connecting.
    Connecting,
    /// Authenticated, events flowing.
    Connected,
    /// Waiting to reconnect.
    Disconnected,
}

/// Label for the drop counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    /// `event`, `raw` or `status` ([`crate::publish::MessageClass`]): a dropped event is lost
    /// data, a dropped status is superseded by the next one.
    pub class: &'static str,
}

/// Label for resolve errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// [`bilipulse_bilibili::resolve::ResolveErrorKind::label`]: `-352`, `-412`, `412`,
    /// `voucher`, `-101`, `api`, `http_5xx`, `transport`, `decode`, `not_found`, …
    pub code: &'static str,
}

/// Label for ended connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// [`bilipulse_bilibili::client::DisconnectReason::label`]: `dead`, `server_closed`,
    /// `auth_rejected`, `connect`, `read`, …
    pub reason: &'static str,
}

/// Label for failed publishes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabel {
    /// [`crate::publish::PublishFailure::label`]: `ack_timeout`, `disconnected`, `no_stream`,
    /// `too_large`, `refused`.
    pub kind: &'static str,
}

/// Every metric the ingester exports.
#[derive(Clone)]
pub struct Metrics {
    /// Rooms this ingester owns (connected or connecting).
    pub rooms_owned: Gauge,
    /// Rooms being handed over to another ingester (still connected until it reports in).
    pub rooms_handing_over: Gauge,
    /// Desired rooms that no ingester has capacity for.
    pub rooms_unplaced: Gauge,
    /// Connections by state.
    pub connections: Family<StateLabel, Gauge>,
    /// Events normalised, by kind.
    pub events: Family<KindLabel, Counter>,
    /// Bilibili commands received.
    pub commands: Counter,
    /// Command bodies that were not JSON objects with a `cmd` (kept in `bili.raw` only).
    pub commands_malformed: Counter,
    /// Modelled commands whose fields had an unexpected shape, kept as `other` events: a rise
    /// means Bilibili changed a command the product counts.
    pub commands_reshaped: Counter,
    /// Events dropped before publishing because Bilibili delivered them twice on one connection.
    pub duplicates_local: Counter,
    /// Messages JetStream reported as duplicates (hand-over overlap, retries).
    pub duplicates_stream: Counter,
    /// Seconds from buffering a message to its JetStream ack.
    pub publish_latency: Histogram,
    /// Publishes awaiting their ack.
    pub inflight_acks: Gauge,
    /// Messages waiting in the buffer.
    pub buffer_messages: Gauge,
    /// Bytes waiting in the buffer.
    pub buffer_bytes: Gauge,
    /// Messages dropped because the buffer was full (NATS slow or down), by class.
    pub dropped: Family<ClassLabel, Counter>,
    /// Commands shed without being parsed because the buffer was nearly full
    /// (`--shed-above-percent`).
    pub shed_commands: Counter,
    /// Publish attempts that failed and were retried.
    pub publish_retries: Counter,
    /// Publishes or acks that failed, by kind: JetStream not answering (`ack_timeout`, as when
    /// its disk is full), the connection gone, or a refusal.
    pub publish_failures: Family<FailureLabel, Counter>,
    /// Reconnects to Bilibili.
    pub reconnects: Counter,
    /// Connections to Bilibili that ended, by why.
    pub disconnects: Family<ReasonLabel, Counter>,
    /// Resolve errors by code.
    pub resolve_errors: Family<CodeLabel, Counter>,
    /// Keys in `bili_rooms` that were ignored because key or value was invalid.
    pub rooms_invalid: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            rooms_owned: Gauge::default(),
            rooms_handing_over: Gauge::default(),
            rooms_unplaced: Gauge::default(),
            connections: Family::default(),
            events: Family::default(),
            commands: Counter::default(),
            commands_malformed: Counter::default(),
            commands_reshaped: Counter::default(),
            duplicates_local: Counter::default(),
            duplicates_stream: Counter::default(),
            publish_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            inflight_acks: Gauge::default(),
            buffer_messages: Gauge::default(),
            buffer_bytes: Gauge::default(),
            dropped: Family::default(),
            shed_commands: Counter::default(),
            publish_retries: Counter::default(),
            publish_failures: Family::default(),
            reconnects: Counter::default(),
            disconnects: Family::default(),
            resolve_errors: Family::default(),
            rooms_invalid: Counter::default(),
        };
        let r = registry;
        r.register(
            "rooms_owned",
            "Rooms this ingester owns",
            m.rooms_owned.clone(),
        );
        r.register(
            "rooms_handing_over",
            "Rooms being handed over",
            m.rooms_handing_over.clone(),
        );
        r.register(
            "rooms_unplaced",
            "Desired rooms no ingester has capacity for",
            m.rooms_unplaced.clone(),
        );
        r.register(
            "connections",
            "Bilibili connections by state",
            m.connections.clone(),
        );
        r.register("events", "Events normalised, by kind", m.events.clone());
        r.register("commands", "Bilibili commands received", m.commands.clone());
        r.register(
            "commands_malformed",
            "Command bodies that were not JSON commands",
            m.commands_malformed.clone(),
        );
        r.register(
            "commands_reshaped",
            "Modelled commands with unexpected fields, kept as other events",
            m.commands_reshaped.clone(),
        );
        r.register(
            "duplicates_local",
            "Events Bilibili delivered twice on one connection",
            m.duplicates_local.clone(),
        );
        r.register(
            "duplicates_stream",
            "Publishes JetStream reported as duplicates",
            m.duplicates_stream.clone(),
        );
        r.register(
            "publish_latency_seconds",
            "Buffering to JetStream ack",
            m.publish_latency.clone(),
        );
        r.register(
            "inflight_acks",
            "Publishes awaiting their ack",
            m.inflight_acks.clone(),
        );
        r.register(
            "buffer_messages",
            "Messages waiting to be published",
            m.buffer_messages.clone(),
        );
        r.register(
            "buffer_bytes",
            "Bytes waiting to be published",
            m.buffer_bytes.clone(),
        );
        r.register(
            "dropped",
            "Messages dropped because the buffer was full, by class",
            m.dropped.clone(),
        );
        r.register(
            "shed_commands",
            "Commands shed without being parsed because the buffer was nearly full",
            m.shed_commands.clone(),
        );
        r.register(
            "publish_retries",
            "Publishes retried after a failure",
            m.publish_retries.clone(),
        );
        r.register(
            "publish_failures",
            "Publishes or acks that failed, by kind",
            m.publish_failures.clone(),
        );
        r.register("reconnects", "Reconnects to Bilibili", m.reconnects.clone());
        r.register(
            "disconnects",
            "Connections to Bilibili that ended, by reason",
            m.disconnects.clone(),
        );
        r.register(
            "resolve_errors",
            "Resolve errors by code",
            m.resolve_errors.clone(),
        );
        r.register(
            "rooms_invalid",
            "Invalid entries in bili_rooms",
            m.rooms_invalid.clone(),
        );
        m
    }
}
