//! Runtime concerns shared by every bilipulse service, written once.
//!
//! * [`config`]: the flags every service takes (`#[command(flatten)]` [`config::Args`]).
//! * [`telemetry`]: logs, optional OTLP trace export, the rustls crypto provider.
//! * [`trace_context`]: W3C trace context in NATS headers.
//! * [`admin`]: `/healthz`, `/readyz` and `/metrics` on the admin listener.
//! * [`shutdown`]: SIGTERM/SIGINT as a cancellation token.
//! * [`bus`]: NATS connection with bounded retries, JetStream context, and the streams and KV
//!   buckets of the bus created (or verified) from `bilipulse_proto::streams`.
//! * [`backoff`]: jittered exponential backoff for every retry loop.
//! * [`clock`]: wall-clock Unix milliseconds, the unit of every timestamp on the bus.
//! * [`startup`]: start-up steps retried while NATS/JetStream is still forming.
//! * [`rooms`]: adding, finding and listing the desired rooms in `bili_rooms`.
//!
//! Sharing work among a service's replicas without a coordinator (the ingester's rooms, the
//! windower's key groups), the same three steps in every service:
//!
//! * [`membership`]: this replica's TTL'd key in its members bucket, renewed every
//!   [`membership::renew_interval`], marked draining on shutdown.
//! * [`kv_mirror`]: watched, decoded mirrors of KV buckets (the desired work and the members),
//!   acted on only once complete.
//! * [`placement`]: capacity-aware rendezvous hashing of keys over the live members — the same
//!   answer on every replica.
//!
//! A service's `main` is then: parse its CLI, [`telemetry::install_crypto_provider`],
//! [`telemetry::init`], [`shutdown::Shutdown::on_signals`], bind [`admin::Server`],
//! [`bus::connect_with_readiness`], [`bus::ensure_streams`], run until shut down.

pub mod admin;
pub mod backoff;
pub mod bus;
pub mod clock;
pub mod config;
pub mod kv_mirror;
pub mod membership;
pub mod placement;
pub mod rooms;
pub mod shutdown;
pub mod startup;
pub mod telemetry;
pub mod trace_context;
