//! The `/sub` WebSocket client of one room: resolve, connect, authenticate, heartbeat, detect a
//! dead connection, reconnect with back-off and host rotation, re-resolve when the token goes
//! bad.
//!
//! [`spawn`] runs it as a task that reports through a bounded channel: every state transition
//! ([`ConnectionState`]), every command body with its arrival time, and heartbeat replies.
//! Timers use `tokio::time`, so the schedule can be tested with a paused clock.

mod dial;
mod disconnect;
mod session;
mod stats;
mod supervise;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use disconnect::{DisconnectReason, Outbound};
pub use stats::{ClientStats, StatsSnapshot};

use crate::resolve::{DEFAULT_USER_AGENT, ResolveErrorKind, Resolver};

/// Capacity of the event channel [`spawn`] returns, in events: the commands of one WebSocket
/// frame are one event ([`ClientEvent::Commands`]), and a queued frame keeps its whole inflated
/// buffer (tens of KiB) alive, so the bound is in frames and small. The consumer must keep up:
/// while the channel is full the connection is not read (TCP pushes back), heartbeats wait too.
pub const EVENT_CHANNEL_CAPACITY: usize = 32;

/// Where the client gets its WebSocket address and credentials.
#[derive(Debug, Clone)]
pub enum Source {
    /// Resolve through Bilibili's HTTP APIs (real id, token, host list), again after failures.
    /// The resolver's User-Agent is used for the handshake, since the token is bound to it.
    Resolve(Arc<Resolver>),
    /// Connect straight to `url` (a full `ws://…/sub` or `wss://…/sub`), e.g. a fixed server;
    /// `room` must then be the real id. Nothing is re-resolved.
    Direct {
        /// The WebSocket URL.
        url: url::Url,
        /// The auth `key`, if any (without one the server restricts the connection).
        token: Option<String>,
        /// The auth `buvid`, if any.
        buvid: Option<String>,
    },
}

/// Which port of a resolved host to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsScheme {
    /// `wss://host:wss_port/sub`, what browsers use.
    Wss,
    /// `ws://host:ws_port/sub`, for the simulator.
    Ws,
}

/// Settings of one room's client. Build with [`ClientConfig::new`] and adjust fields, so new
/// settings do not break callers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The room, short or long id (long when `source` is `Direct`).
    pub room: u64,
    /// Where addresses and tokens come from.
    pub source: Source,
    /// `wss` or `ws` for resolved hosts.
    pub scheme: WsScheme,
    /// Auth uid: the account of the resolver's SESSDATA, or 0 for anonymous.
    pub uid: u64,
    /// Auth `protover`: 3 = brotli containers (web today), 2 = zlib.
    pub protover: u16,
    /// Handshake User-Agent for `Direct` sources (resolved ones use the resolver's).
    pub user_agent: String,
    /// Heartbeat period (Bilibili: 30 s; the server drops a connection after ~60 s without).
    pub heartbeat: Duration,
    /// A connection that delivers no frame at all for this long is declared dead.
    pub dead_after: Duration,
    /// Limit for the TCP/TLS/WebSocket handshake and, separately, for the auth reply.
    pub auth_timeout: Duration,
    /// First reconnect delay ceiling (full jitter below it); the schedule restarts here after
    /// a healthy connection.
    pub backoff_min: Duration,
    /// Largest reconnect delay ceiling.
    pub backoff_max: Duration,
    /// Smallest delay after risk control or an unknown room (then doubling).
    pub risk_backoff_min: Duration,
    /// Largest delay after risk control.
    pub risk_backoff_max: Duration,
    /// Consecutive failed connections after which a new token is fetched.
    pub reresolve_after: u32,
    /// Largest WebSocket message (and packet) accepted; bigger ones end the connection.
    pub max_frame: usize,
    /// Counters shared with whoever exports metrics.
    pub stats: Arc<ClientStats>,
}

impl ClientConfig {
    /// Defaults from the protocol spec: protover 3, wss, heartbeat 30 s, dead after 70 s,
    /// auth within 10 s, back-off 1 s – 60 s (risk control 30 s – 10 min), new token after 3
    /// failures, 2 MiB frames. With a resolver, uid and User-Agent are taken from it.
    pub fn new(room: u64, source: Source) -> ClientConfig {
        let (uid, user_agent) = match &source {
            Source::Resolve(r) => (r.uid(), r.user_agent().to_owned()),
            Source::Direct { .. } => (0, DEFAULT_USER_AGENT.to_owned()),
        };
        ClientConfig {
            room,
            source,
            scheme: WsScheme::Wss,
            uid,
            protover: 3,
            user_agent,
            heartbeat: Duration::from_secs(30),
            dead_after: Duration::from_secs(70),
            auth_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            risk_backoff_min: Duration::from_secs(30),
            risk_backoff_max: Duration::from_secs(600),
            reresolve_after: 3,
            max_frame: 2 << 20,
            stats: Arc::new(ClientStats::default()),
        }
    }
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The connection changed state.
    State(ConnectionState),
    /// The op-5 command bodies of one WebSocket frame, in the order they came, with the
    /// wall-clock time the frame arrived (ms since epoch). One event per frame, not per command:
    /// a busy room's frame carries tens of commands, and each channel hop costs a wake-up.
    Commands(CommandBatch),
    /// A heartbeat reply's popularity number (constant 1 since 2023; a liveness signal).
    Popularity(u32),
}

/// The commands of one frame. The bodies are slices of the frame's one inflated buffer, so the
/// batch holds that buffer until the last body is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandBatch {
    /// The JSON bodies, `{"cmd": …}`, in arrival order; never empty.
    pub bodies: Vec<bytes::Bytes>,
    /// Arrival time of the WebSocket frame that carried them.
    pub recv_ms: i64,
}

/// Connection states, emitted on every transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Fetching the real id, buvid3 and a token.
    Resolving,
    /// Opening the WebSocket to `host`; `attempt` = consecutive failures so far.
    Connecting {
        /// `host:port` being connected to.
        host: String,
        /// Consecutive failed attempts before this one; 0 after a healthy connection (one whose
        /// server still answered heartbeats a full period after auth).
        attempt: u32,
    },
    /// The server accepted our auth packet.
    Authenticated {
        /// `host:port` of the connection.
        host: String,
    },
    /// The server masks user names/uids on this connection (at most once per connection).
    Masked {
        /// How we know.
        reason: MaskReason,
    },
    /// The connection ended; the next attempt starts after `retry_in`.
    Disconnected {
        /// Why it ended.
        reason: DisconnectReason,
        /// Delay before reconnecting.
        retry_in: Duration,
    },
    /// Resolution failed; retried after `retry_in` (long after risk control).
    ResolveFailed {
        /// What kind of failure, for labels and decisions.
        kind: ResolveErrorKind,
        /// The error's text, without secrets, for logs and the room's status.
        error: String,
        /// Delay before resolving again.
        retry_in: Duration,
    },
    /// Cancelled (or the event receiver was dropped); the task ends.
    Stopped,
}

/// Why a connection is considered masked (anonymous-quality data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskReason {
    /// The server sent `LOG_IN_NOTICE`.
    LogInNotice,
    /// We authenticated with uid 0.
    AnonymousUid,
}

/// Starts the client task for one room.
///
/// Events arrive on the returned bounded channel. Cancelling `cancel` closes the WebSocket
/// with a close frame, emits [`ConnectionState::Stopped`] and ends the task; dropping the
/// receiver ends it too.
pub fn spawn(
    cfg: ClientConfig,
    cancel: CancellationToken,
) -> (mpsc::Receiver<ClientEvent>, JoinHandle<()>) {
    spawn_with(cfg, cancel, dial::TcpDialer)
}

/// [`spawn`] over any [`dial::Dialer`] (unit tests use an in-memory pipe).
fn spawn_with<D: dial::Dialer>(
    cfg: ClientConfig,
    cancel: CancellationToken,
    dialer: D,
) -> (mpsc::Receiver<ClientEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
    let handle = tokio::spawn(supervise::run(cfg, cancel, tx, dialer));
    (rx, handle)
}

#[cfg(test)]
mod tests;
