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
//!
//! A service's `main` is then: parse its CLI, [`telemetry::install_crypto_provider`],
//! [`telemetry::init`], [`shutdown::Shutdown::on_signals`], bind [`admin::Server`],
//! [`bus::connect_with_readiness`], [`bus::ensure_streams`], run until shut down.

pub mod admin;
pub mod backoff;
pub mod bus;
pub mod config;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;
