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
//! Without its default `service` feature the crate is only [`backoff`] and [`clock`]: what the
//! Bilibili protocol library shares with the services, without NATS, axum or OpenTelemetry.
//!
//! A service's `main` is then: parse its CLI, [`telemetry::install_crypto_provider`],
//! [`telemetry::init`], [`shutdown::Shutdown::on_signals`], bind [`admin::Server`],
//! [`bus::connect_with_readiness`], [`bus::ensure_streams`], run until shut down.

#[cfg(feature = "service")]
pub mod admin;
pub mod backoff;
#[cfg(feature = "service")]
pub mod bus;
pub mod clock;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod kv_mirror;
#[cfg(feature = "service")]
pub mod membership;
#[cfg(feature = "service")]
pub mod placement;
#[cfg(feature = "service")]
pub mod rooms;
#[cfg(feature = "service")]
pub mod shutdown;
#[cfg(feature = "service")]
pub mod startup;
#[cfg(feature = "service")]
pub mod telemetry;
#[cfg(feature = "service")]
pub mod trace_context;
