//! The admin HTTP listener every service runs beside its real work.
//!
//! * `GET /healthz`: 200 while the process can answer at all (liveness; restart if it stops).
//! * `GET /readyz`: 200 when every registered [`Readiness`] condition holds, otherwise 503 with
//!   the unmet conditions and their reasons (readiness; take out of rotation, don't restart).
//! * `GET /metrics`: the service's `prometheus_client` registry in OpenMetrics text.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use bilipulse_runtime::{admin, shutdown::Shutdown};
//! let mut registry = prometheus_client::registry::Registry::with_prefix("windower");
//! // register counters into `registry` here
//! let readiness = admin::Readiness::new(["nats", "streams"]);
//! let server = admin::Server::bind("127.0.0.1:9090".parse()?, readiness.clone(), registry).await?;
//! let shutdown = Shutdown::on_signals()?;
//! tokio::spawn(server.run(shutdown.clone()));
//! // ... once connected and streams ensured:
//! readiness.set_ready("nats");
//! readiness.set_ready("streams");
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use thiserror::Error;

use crate::shutdown::Shutdown;

/// The one label of a metric family whose series differ by one word (a cause, kind, outcome,
/// code): `family{label="…"}`. Shared by the services so their metrics read alike.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct Label {
    /// The label value.
    pub label: String,
}

impl Label {
    /// A label.
    pub fn of(s: impl Into<String>) -> Label {
        Label { label: s.into() }
    }
}

/// Content type of `/metrics` (OpenMetrics text, what `prometheus_client` writes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether the service can do its job, as a set of named conditions (e.g. `nats`, `streams`),
/// each either met or unmet with a reason. Clones share state, so the task that owns a
/// dependency flips its condition and `/readyz` sees it.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Condition → `None` when met, `Some(reason)` when not.
    conditions: Arc<Mutex<BTreeMap<String, Option<String>>>>,
}

impl Readiness {
    /// A readiness with these conditions, all initially unmet ("starting").
    pub fn new<I, S>(conditions: I) -> Readiness
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let r = Readiness::default();
        for c in conditions {
            r.set_not_ready(c, "starting");
        }
        r
    }

    /// Marks `condition` met (registering it if new).
    pub fn set_ready(&self, condition: impl Into<String>) {
        self.lock().insert(condition.into(), None);
    }

    /// Marks `condition` unmet because of `reason` (registering it if new).
    pub fn set_not_ready(&self, condition: impl Into<String>, reason: impl Into<String>) {
        self.lock().insert(condition.into(), Some(reason.into()));
    }

    /// True when every condition is met. A readiness with no conditions is ready.
    pub fn is_ready(&self) -> bool {
        self.lock().values().all(Option::is_none)
    }

    /// The unmet conditions with their reasons, sorted by name.
    pub fn unmet(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|r| (k.clone(), r.clone())))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<String>>> {
        // The map stays consistent whatever a panicking holder did (single inserts), so a
        // poisoned lock is still usable.
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct AppState {
    readiness: Readiness,
    registry: Arc<Registry>,
}

/// The admin routes, for services that serve them from a listener of their own.
pub fn router(readiness: Readiness, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            readiness,
            registry,
        })
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    let unmet = s.readiness.unmet();
    if unmet.is_empty() {
        return (StatusCode::OK, "ready\n").into_response();
    }
    let body: String = unmet.iter().map(|(c, r)| format!("{c}: {r}\n")).collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready\n{body}"),
    )
        .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// Why the admin listener could not start or stopped.
#[derive(Debug, Error)]
pub enum AdminError {
    /// The address is taken or not ours to bind.
    #[error("cannot listen for admin HTTP on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("admin HTTP server on {addr} failed: {source}")]
    Serve {
        /// Where it listened.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A bound admin listener, not yet serving. Binding first lets `main` fail fast on a taken port
/// and lets tests bind port 0 and learn the real address.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    router: Router,
}

impl Server {
    /// Binds `addr` for the admin routes over `readiness` and `registry`.
    pub async fn bind(
        addr: SocketAddr,
        readiness: Readiness,
        registry: Registry,
    ) -> Result<Server, AdminError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AdminError::Bind { addr, source })?;
        Ok(Server {
            listener,
            addr,
            router: router(readiness, Arc::new(registry)),
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` fires, then finishes in-flight requests and returns.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), AdminError> {
        let addr = self.addr;
        tracing::info!(%addr, "admin HTTP listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .map_err(|source| AdminError::Serve { addr, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_condition() {
        let r = Readiness::new(["nats", "streams"]);
        assert!(!r.is_ready());
        r.set_ready("nats");
        assert_eq!(
            r.unmet(),
            vec![("streams".to_owned(), "starting".to_owned())]
        );
        r.clone().set_ready("streams");
        assert!(r.is_ready());
        r.set_not_ready("nats", "disconnected");
        assert!(!r.is_ready());
        assert_eq!(r.unmet()[0].1, "disconnected");
    }

    #[test]
    fn no_conditions_means_ready() {
        assert!(Readiness::default().is_ready());
    }
}
