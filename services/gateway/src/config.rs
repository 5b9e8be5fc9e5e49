//! The gateway's configuration: flags with `BILIPULSE_*` environment fallbacks.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use bilipulse_bilibili::config::BilibiliArgs;
use bilipulse_runtime::config::{Args, parse_duration, parse_duration_or_zero};
use clap::Parser;

use crate::client::ClientLimits;
use crate::hub::HistorySettings;

/// `bilipulse-gateway`: live summaries, sessions, status and events for browsers.
///
/// Serves the WebSocket protocol of `docs/websocket.md` on `/ws`, the same messages as
/// Server-Sent Events, a REST API (`/api/openapi.json`) and the dashboard. Every topic is read
/// from JetStream once, whatever the number of clients that want it.
#[derive(Debug, Clone, Parser)]
#[command(name = "bilipulse-gateway", version)]
pub struct Config {
    /// Runtime flags shared by every service.
    #[command(flatten)]
    pub runtime: Args,

    /// Address serving the dashboard, `/ws` and `/api`.
    #[arg(
        long,
        env = "BILIPULSE_GATEWAY_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Directory of the built dashboard (`npm run build` in services/gateway/dashboard).
    #[arg(long, env = "BILIPULSE_DASHBOARD_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/dist"))]
    pub dashboard_dir: PathBuf,

    /// Authentication and limits.
    #[command(flatten)]
    pub access: AccessArgs,

    /// History sent on subscribe.
    #[command(flatten)]
    pub history: HistoryArgs,

    /// How to reach Bilibili for resolving short ids on `POST /api/rooms`.
    #[command(flatten)]
    pub bilibili: Box<BilibiliArgs>,

    /// Take room ids of `POST /api/rooms` as real ids without asking Bilibili.
    #[arg(long, env = "BILIPULSE_NO_RESOLVE", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub no_resolve: bool,
}

/// Who may do what, and how much. Its `Debug` output hides the token.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Access and limits")]
pub struct AccessArgs {
    /// Bearer token required by `POST /api/rooms` and `DELETE /api/rooms/{id}`. Without a token
    /// (here or in --api-token-file) the gateway refuses every write. Never logged.
    #[arg(long, env = "BILIPULSE_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,

    /// File holding the bearer token (e.g. a mounted Secret); surrounding whitespace is ignored.
    #[arg(long, env = "BILIPULSE_API_TOKEN_FILE", conflicts_with = "api_token")]
    pub api_token_file: Option<PathBuf>,

    /// Browser origins allowed to open `/ws` (comma-separated, e.g. https://pulse.example.com);
    /// `*` allows any. Same-origin requests and clients that send no Origin are always allowed.
    #[arg(long, env = "BILIPULSE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Maximum open client connections (WebSocket and SSE together); more get 503.
    #[arg(long, env = "BILIPULSE_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Distinct rooms one client may subscribe to.
    #[arg(long, env = "BILIPULSE_MAX_ROOMS_PER_CLIENT", default_value_t = 200)]
    pub max_rooms_per_client: usize,

    /// Largest client frame, bytes; a larger one closes the connection (1009).
    #[arg(long, env = "BILIPULSE_MAX_FRAME_BYTES", default_value_t = 8192)]
    pub max_frame_bytes: usize,

    /// Client frames per second; more are answered `rate_limited` and ignored.
    #[arg(long, env = "BILIPULSE_MAX_MSGS_PER_SEC", default_value = "20")]
    pub max_msgs_per_sec: NonZeroU32,

    /// Close a connection from which nothing (frame or pong) arrived for this long.
    #[arg(long, env = "BILIPULSE_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Send a WebSocket ping this often.
    #[arg(long, env = "BILIPULSE_PING_INTERVAL", default_value = "20s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Messages queued per client before the oldest are dropped (and `lag` sent).
    #[arg(long, env = "BILIPULSE_CLIENT_QUEUE", default_value_t = 1024)]
    pub client_queue: usize,

    /// Close a client whose queue stays full (or whose socket accepts nothing) this long.
    #[arg(long, env = "BILIPULSE_STUCK_AFTER", default_value = "10s", value_parser = parse_duration)]
    pub stuck_after: Duration,

    /// WebSocket read buffer per connection, bytes (tungstenite's default is 128 KiB). Client
    /// frames are small requests; a larger frame is read in several reads.
    #[arg(long, env = "BILIPULSE_WS_READ_BUFFER", default_value_t = 1024)]
    pub ws_read_buffer: usize,

    /// WebSocket write buffer per connection, bytes: frames queued together are written in
    /// one syscall up to this size. tungstenite never shrinks this buffer, so every idle
    /// connection keeps about twice this much: small by default (docs/benchmarks.md).
    #[arg(long, env = "BILIPULSE_WS_WRITE_BUFFER", default_value_t = 2048)]
    pub ws_write_buffer: usize,

    /// At most one socket write per connection this often while messages keep coming: what
    /// arrives meanwhile goes out together in the next write (a connection that was quiet
    /// longer is written at once, and a full batch never waits). Fewer, larger writes cost the
    /// gateway less CPU per message under load, which lowers latency there; `0s` writes every
    /// message as soon as it is queued (docs/benchmarks.md, gateway).
    #[arg(long, env = "BILIPULSE_WRITE_INTERVAL", default_value = "50ms", value_parser = parse_duration_or_zero)]
    pub write_interval: Duration,
}

impl std::fmt::Debug for AccessArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessArgs")
            .field("api_token", &self.api_token.as_ref().map(|_| "<hidden>"))
            .field("api_token_file", &self.api_token_file)
            .field("allowed_origins", &self.allowed_origins)
            .field("max_connections", &self.max_connections)
            .field("max_rooms_per_client", &self.max_rooms_per_client)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("max_msgs_per_sec", &self.max_msgs_per_sec)
            .field("idle_timeout", &self.idle_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("client_queue", &self.client_queue)
            .field("stuck_after", &self.stuck_after)
            .field("ws_read_buffer", &self.ws_read_buffer)
            .field("ws_write_buffer", &self.ws_write_buffer)
            .field("write_interval", &self.write_interval)
            .finish()
    }
}

/// How much history each channel's subscribers get first.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "History")]
pub struct HistoryArgs {
    /// History of `1s` summaries.
    #[arg(long = "history-1s", env = "BILIPULSE_HISTORY_1S", default_value = "15m", value_parser = parse_duration)]
    pub s1: Duration,
    /// History of `10s` summaries.
    #[arg(long = "history-10s", env = "BILIPULSE_HISTORY_10S", default_value = "2h", value_parser = parse_duration)]
    pub s10: Duration,
    /// History of `1m` summaries.
    #[arg(long = "history-1m", env = "BILIPULSE_HISTORY_1M", default_value = "24h", value_parser = parse_duration)]
    pub m1: Duration,
    /// History of `1h` summaries.
    #[arg(long = "history-1h", env = "BILIPULSE_HISTORY_1H", default_value = "7d", value_parser = parse_duration)]
    pub h1: Duration,
    /// History of live events (danmaku, superchat …).
    #[arg(long = "history-events", env = "BILIPULSE_HISTORY_EVENTS", default_value = "2m", value_parser = parse_duration)]
    pub events: Duration,
    /// At most this many live events of one topic as history.
    #[arg(
        long = "history-events-max",
        env = "BILIPULSE_HISTORY_EVENTS_MAX",
        default_value_t = 200
    )]
    pub events_max: usize,
}

impl HistoryArgs {
    /// The hub's history settings.
    pub fn settings(&self) -> HistorySettings {
        HistorySettings {
            s1: self.s1,
            s10: self.s10,
            m1: self.m1,
            h1: self.h1,
            events: self.events,
            events_max: self.events_max,
        }
    }
}

impl AccessArgs {
    /// Per-client limits.
    pub fn client_limits(&self) -> ClientLimits {
        ClientLimits {
            max_rooms: self.max_rooms_per_client,
            max_msgs_per_sec: self.max_msgs_per_sec,
        }
    }

    /// The configured bearer token, read from the file if one is named.
    pub fn token(&self) -> std::io::Result<Option<String>> {
        let token = match (&self.api_token, &self.api_token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(path)) => Some(std::fs::read_to_string(path)?.trim().to_owned()),
            (None, None) => None,
        };
        Ok(token.filter(|t| !t.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Config {
        let mut argv = vec!["bilipulse-gateway"];
        argv.extend_from_slice(args);
        bilipulse_runtime::config::try_parse_from::<Config, _, _>(argv, env).expect("parses")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&[], &[]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.history.s1, Duration::from_secs(900));
        assert_eq!(c.history.h1, Duration::from_secs(7 * 86400));
        assert_eq!(c.access.max_rooms_per_client, 200);
        assert_eq!(c.access.token().expect("no file"), None);
    }

    #[test]
    fn environment_fallbacks_apply_and_tokens_are_trimmed() {
        let c = parse(
            &[],
            &[
                ("BILIPULSE_API_TOKEN", " s3cret \n"),
                (
                    "BILIPULSE_ALLOWED_ORIGINS",
                    "https://a.example,https://b.example",
                ),
                ("BILIPULSE_HISTORY_1S", "5m"),
            ],
        );
        assert_eq!(
            c.access.token().expect("no file").as_deref(),
            Some("s3cret")
        );
        assert_eq!(c.access.allowed_origins.len(), 2);
        assert_eq!(c.history.s1, Duration::from_secs(300));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "the token is never printed");
    }

    #[test]
    fn a_token_file_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").expect("write");
        let c = parse(&["--api-token-file", path.to_str().expect("utf-8")], &[]);
        assert_eq!(
            c.access.token().expect("reads").as_deref(),
            Some("from-file")
        );
    }
}
