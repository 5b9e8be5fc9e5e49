//! The bilipulse gateway: what the windower and the ingesters publish, for browsers.
//!
//! Data flow, one module per step:
//!
//! * [`channel`]: what a client can subscribe to — a room × a channel, a [`channel::Topic`].
//! * [`topic`]: one topic read from JetStream once (history, then live), shared by every
//!   subscriber; [`hub`] holds the topics, reference-counted.
//! * [`frame`]: messages as JSON text built once and shared; [`queue`]: each client's bounded
//!   queue of frames, dropping the oldest for slow clients.
//! * [`protocol`] parses client requests; [`client`] applies them (limits, rooms).
//! * Transports: [`ws`] (`/ws`) and [`sse`] (`/api/rooms/{id}/stream`); [`rest`] for the rest
//!   of the API; [`app`] routes them and serves the dashboard.
//! * [`rooms`] (the desired rooms), [`auth`] (the write token), [`origin`] (browser origins).
//!
//! [`run`] wires them together; `main.rs` only parses flags.

pub mod app;
pub mod auth;
pub mod channel;
pub mod client;
pub mod config;
pub mod frame;
pub mod hub;
pub mod metrics;
pub mod origin;
pub mod protocol;
pub mod queue;
pub mod rest;
pub mod rooms;
pub mod sse;
pub mod subscriptions;
pub mod topic;
pub mod ws;

use std::sync::Arc;

use bilipulse_proto::streams;
use bilipulse_runtime::admin::{self, Readiness};
use bilipulse_runtime::shutdown::Shutdown;
use bilipulse_runtime::{bus, kv_mirror, startup};
use prometheus_client::registry::Registry;
use thiserror::Error;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The admin listener could not bind.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// NATS or JetStream setup failed.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// The API token file could not be read.
    #[error("cannot read the API token file: {0}")]
    Token(std::io::Error),
    /// The Bilibili resolver could not be built from its flags.
    #[error("bilibili flags: {0}")]
    Bilibili(#[from] bilipulse_bilibili::config::ConfigError),
    /// The listener could not bind or serve.
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs the gateway until `shutdown` fires.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), GatewayError> {
    let token = config
        .access
        .token()
        .map_err(GatewayError::Token)?
        .and_then(auth::Token::new);
    if token.is_none() {
        tracing::warn!("no API token configured: POST/DELETE /api/rooms are refused");
    }
    let resolver = if config.no_resolve {
        None
    } else {
        Some(config.bilibili.resolver()?)
    };
    let mut registry = Registry::with_prefix("bilipulse_gateway");
    let metrics = metrics::Metrics::register(&mut registry);
    let readiness = Readiness::new(["nats", "streams", "rooms", "listener"]);
    let admin = admin::Server::bind(config.runtime.admin_addr, readiness.clone(), registry).await?;
    let admin_task = tokio::spawn(admin.run(shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| GatewayError::Listen {
            addr: config.listen,
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| GatewayError::Listen {
            addr: config.listen,
            source,
        })?;
    tracing::info!(listen = %local, "gateway starting");

    let client =
        bus::connect_with_readiness(&config.runtime.nats, "bilipulse-gateway", &readiness).await?;
    let js = bus::jetstream(client);
    let overrides = &config.runtime.streams;
    let rooms_kv = startup::retry(
        "creating streams and buckets",
        &shutdown,
        startup::is_config_error,
        || async {
            bus::ensure_streams(&js, overrides).await?;
            bus::ensure_bucket(&js, &streams::ROOMS, overrides).await
        },
    )
    .await?;
    readiness.set_ready("streams");
    let watches = CancellationToken::new();
    let mirror = kv_mirror::spawn(
        rooms_kv.clone(),
        kv_mirror::decode_room,
        |_, _| {},
        watches.clone(),
    );
    let rooms = rooms::DesiredRooms::new(mirror);
    spawn_rooms_readiness(rooms.clone(), readiness.clone());

    let hub = hub::Hub::new(js.clone(), config.history.settings(), metrics.clone());
    let a = &config.access;
    let state = app::App::new(app::AppState {
        hub,
        rooms,
        js,
        rooms_kv,
        resolver,
        token,
        origins: Arc::new(origin::Origins::new(&a.allowed_origins)),
        limits: a.client_limits(),
        conn: app::ConnectionSettings {
            queue: a.client_queue,
            stuck_after: a.stuck_after,
            idle_timeout: a.idle_timeout,
            ping_interval: a.ping_interval,
            max_frame_bytes: a.max_frame_bytes,
            read_buffer: a.ws_read_buffer,
            write_buffer: a.ws_write_buffer,
            write_interval: a.write_interval,
        },
        slots: Arc::new(Semaphore::new(a.max_connections)),
        metrics,
        shutdown: shutdown.child_token(),
    });
    let router = app::router(state, &config.dashboard_dir);
    readiness.set_ready("listener");
    tracing::info!(url = %format!("http://{local}/"), "dashboard");
    let stop = shutdown.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    watches.cancel();
    let _ = admin_task.await;
    tracing::info!("gateway stopped");
    served.map_err(|source| GatewayError::Listen {
        addr: local,
        source,
    })
}

/// `rooms` is ready once the desired rooms are loaded.
fn spawn_rooms_readiness(mut rooms: rooms::DesiredRooms, readiness: Readiness) {
    tokio::spawn(async move {
        loop {
            if rooms.all().is_some() {
                readiness.set_ready("rooms");
                return;
            }
            if !rooms.changed().await {
                return;
            }
        }
    });
}
