//! What every request handler shares: the hub, the desired rooms, the bus, the limits, and the
//! router that puts the handlers on their paths.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use bilipulse_bilibili::resolve::Resolver;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower_http::services::{ServeDir, ServeFile};

use crate::auth::Token;
use crate::client::{Client, ClientLimits};
use crate::hub::Hub;
use crate::metrics::{Label, Metrics};
use crate::origin::Origins;
use crate::queue::ClientQueue;
use crate::rooms::DesiredRooms;
use crate::{rest, sse, ws};

/// Socket-level settings of client connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Messages queued per client.
    pub queue: usize,
    /// Stuck limit.
    pub stuck_after: Duration,
    /// Idle limit.
    pub idle_timeout: Duration,
    /// Ping interval.
    pub ping_interval: Duration,
    /// Largest client frame.
    pub max_frame_bytes: usize,
    /// WebSocket read buffer.
    pub read_buffer: usize,
    /// WebSocket write buffer.
    pub write_buffer: usize,
    /// Least time between two socket writes while frames keep coming.
    pub write_interval: Duration,
}

/// The shared state of every handler: one allocation, so a clone (one per request, one held by
/// every WebSocket connection's task) is a reference count, not two kilobytes of handles.
#[derive(Clone)]
pub struct App(Arc<AppState>);

impl App {
    /// Shares `state` among the handlers.
    pub fn new(state: AppState) -> App {
        App(Arc::new(state))
    }
}

impl std::ops::Deref for App {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

/// What every handler reads: the hub, the rooms, NATS, access rules, limits and metrics.
pub struct AppState {
    /// Shared topics.
    pub hub: Hub,
    /// Desired rooms.
    pub rooms: DesiredRooms,
    /// JetStream, for REST history reads.
    pub js: jetstream::Context,
    /// The `bili_rooms` bucket, for REST writes.
    pub rooms_kv: jetstream::kv::Store,
    /// Short-id resolution for `POST /api/rooms`; `None` takes ids as real.
    pub resolver: Option<Arc<Resolver>>,
    /// The write token; `None` refuses writes.
    pub token: Option<Token>,
    /// Allowed browser origins.
    pub origins: Arc<Origins>,
    /// Per-client limits.
    pub limits: ClientLimits,
    /// Connection settings.
    pub conn: ConnectionSettings,
    /// Connection slots.
    pub slots: Arc<Semaphore>,
    /// Metrics.
    pub metrics: Metrics,
    /// Fires on shutdown: every connection closes.
    pub shutdown: CancellationToken,
}

impl App {
    /// A connection slot, or the 503 refusing the connection.
    pub fn slot(&self) -> Result<OwnedSemaphorePermit, rest::ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            self.metrics
                .refused
                .get_or_create(&Label::of("max_connections"))
                .inc();
            rest::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                "the gateway holds its maximum number of connections; retry later",
            )
        })
    }

    /// A new client with an empty queue of this gateway's size, whatever its transport.
    pub fn client(&self) -> (Arc<ClientQueue>, Client) {
        let queue = Arc::new(ClientQueue::new(self.conn.queue, self.conn.stuck_after));
        let client = Client::new(
            self.hub.clone(),
            self.rooms.clone(),
            queue.clone(),
            self.limits,
        );
        (queue, client)
    }

    /// Checks the request's Origin against the allow-list.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), rest::ApiError> {
        if self.origins.allows(headers) {
            return Ok(());
        }
        self.metrics
            .refused
            .get_or_create(&Label::of("origin"))
            .inc();
        Err(rest::ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open the gateway's WebSocket (--allowed-origins)",
        ))
    }
}

/// The gateway's router: `/ws`, `/api/…`, and the dashboard as the fallback.
pub fn router(app: App, dashboard: &Path) -> Router {
    let api = Router::new()
        .route("/api/rooms", get(rest::list_rooms).post(rest::add_room))
        .route("/api/rooms/{id}", delete(rest::remove_room))
        .route("/api/rooms/{id}/summaries", get(rest::summaries))
        .route("/api/rooms/{id}/sessions", get(rest::sessions))
        .route("/api/rooms/{id}/stream", get(sse::stream))
        .route("/api/openapi.json", get(openapi))
        .route("/ws", get(ws::upgrade));
    let index = dashboard.join("index.html");
    let router = if index.is_file() {
        api.fallback_service(ServeDir::new(dashboard).fallback(ServeFile::new(index)))
    } else {
        tracing::warn!(dir = %dashboard.display(), "no built dashboard; / answers how to build it");
        api.fallback(no_dashboard)
    };
    router.with_state(app)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
        .into_response()
}

async fn no_dashboard() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "The dashboard is not built. Run `bash deploy/install-tools.sh` (or `npm ci && npm run \
         build` in services/gateway/dashboard), or point --dashboard-dir at a built copy.\n",
    )
        .into_response()
}
