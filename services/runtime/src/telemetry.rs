//! Process telemetry: logs through `tracing`, traces to an OTLP collector when one is configured,
//! and the one rustls crypto provider.
//!
//! `main` calls, in this order:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let log = bilipulse_runtime::config::LogConfig::default();
//! bilipulse_runtime::telemetry::install_crypto_provider();
//! let telemetry = bilipulse_runtime::telemetry::init("windower", &log)?;
//! // ... run the service ...
//! telemetry.shutdown(); // flushes buffered spans; dropping the guard does the same
//! # Ok(()) }
//! ```
//!
//! Traces are exported only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, so a developer's run costs nothing. The exporter
//! speaks OTLP/HTTP with protobuf bodies from the SDK's own batch thread and honours the other
//! `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogConfig, LogFormat};

/// Environment variables whose presence turns trace export on (the OTel standard names).
pub const OTLP_ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Installs rustls's aws-lc-rs provider as the process default.
///
/// Several of our dependencies use rustls; if two crypto providers end up in the graph, rustls
/// cannot choose and the first TLS connection panics. Installing one explicitly at the start of
/// `main` removes the choice. Calling it again (or after someone else installed one) is harmless.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is all we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Where spans go besides the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceExport {
    /// Nowhere: spans only shape log lines.
    Off,
    /// OTLP/HTTP to the endpoint given by the standard `OTEL_EXPORTER_OTLP_*` variables.
    FromEnv,
    /// OTLP/HTTP to this collector base URL (`/v1/traces` is appended), ignoring the
    /// environment's endpoint. For tests and embedding.
    Endpoint(String),
}

impl TraceExport {
    /// [`TraceExport::FromEnv`] when an OTLP endpoint variable is set and non-empty, else
    /// [`TraceExport::Off`].
    pub fn from_env() -> TraceExport {
        let set = OTLP_ENDPOINT_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if set {
            TraceExport::FromEnv
        } else {
            TraceExport::Off
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// The `--log` filter does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// The parser's complaint.
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP exporter could not be built (bad endpoint, unusable client).
    #[error("cannot build the OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber is already installed (init called twice in one process).
    #[error("telemetry is already initialised in this process: {0}")]
    AlreadyInitialised(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the trace pipeline alive; dropping it (or [`TelemetryGuard::shutdown`]) flushes spans
/// still buffered and stops the exporter.
#[derive(Debug)]
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// True when spans are exported over OTLP.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes buffered spans and stops the exporter. Safe to call from async code: the blocking
    /// flush runs on a thread of its own.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        let flush = move || {
            if let Err(e) = provider.shutdown() {
                tracing::warn!(error = %e, "flushing traces on shutdown failed");
            }
        };
        // The SDK's shutdown blocks until its batch thread has exported. Inside a runtime that
        // would stall a worker (and any task the export might need), so block a plain thread.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("otel-shutdown".into())
                .spawn(flush)
                .map(|h| h.join());
        } else {
            flush();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs the global subscriber for `service`: logs as `log` says, and traces exported when
/// the OTLP environment variables ask for it.
pub fn init(service: &str, log: &LogConfig) -> Result<TelemetryGuard, TelemetryError> {
    init_with(service, log, TraceExport::from_env())
}

/// [`init`] with an explicit trace destination.
pub fn init_with(
    service: &str,
    log: &LogConfig,
    export: TraceExport,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&log.filter).map_err(|source| TelemetryError::Filter {
        filter: log.filter.clone(),
        source,
    })?;
    let provider = match export {
        TraceExport::Off => None,
        TraceExport::FromEnv => Some(provider(service, None)?),
        TraceExport::Endpoint(base) => Some(provider(service, Some(&base))?),
    };
    let fmt = match log.format {
        LogFormat::Human => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_owned())));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()?;
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    // Other libraries (HTTP clients) read the global propagator; our NATS headers use the same
    // W3C format (see `trace_context`).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(TelemetryGuard { provider })
}

/// A tracer provider exporting in batches over OTLP/HTTP-protobuf.
fn provider(service: &str, base: Option<&str>) -> Result<SdkTracerProvider, TelemetryError> {
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
    if let Some(base) = base {
        // A programmatic endpoint is used verbatim, so add the signal path ourselves.
        builder = builder.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
    }
    let exporter = builder.build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_provider_install_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn a_bad_filter_is_a_typed_error_naming_it() {
        let log = LogConfig {
            format: LogFormat::Human,
            filter: "info,[[[".into(),
        };
        match init_with("t", &log, TraceExport::Off) {
            Err(TelemetryError::Filter { filter, .. }) => assert_eq!(filter, "info,[[["),
            other => panic!("expected a filter error, got {other:?}"),
        }
    }
}
