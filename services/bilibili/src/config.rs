//! Command-line flags shared by every program that talks to Bilibili (the ingester, `bilipulse
//! watch`, `bilipulse rooms add`), so they are spelled, defaulted and documented once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::client::{ClientConfig, Source, WsScheme};
use crate::resolve::{DEFAULT_USER_AGENT, ResolveError, Resolver, ResolverConfig, Sessdata};

/// How to reach Bilibili (or the simulator standing in for it). `#[command(flatten)]` it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Bilibili")]
pub struct BilibiliArgs {
    /// Base URL of Bilibili's main API (nav, finger/spi). Point both bases at the simulator
    /// (e.g. http://127.0.0.1:9400) to run without Bilibili.
    #[arg(
        long = "bili-api-base",
        env = "BILIPULSE_BILI_API_BASE",
        default_value = "https://api.bilibili.com"
    )]
    pub api_base: url::Url,

    /// Base URL of Bilibili's live API (room_init, get_info, getDanmuInfo).
    #[arg(
        long = "bili-live-base",
        env = "BILIPULSE_BILI_LIVE_BASE",
        default_value = "https://api.live.bilibili.com"
    )]
    pub live_base: url::Url,

    /// WebSocket scheme for the danmaku hosts: wss (Bilibili) or ws (the simulator).
    #[arg(long = "bili-ws-scheme", env = "BILIPULSE_BILI_WS_SCHEME", default_value = "wss", value_parser = ["wss", "ws"])]
    pub ws_scheme: String,

    /// User-Agent for HTTP and WebSocket alike (Bilibili binds tokens to it). Default: a
    /// current desktop Chrome.
    #[arg(long = "bili-user-agent", env = "BILIPULSE_BILI_USER_AGENT")]
    pub user_agent: Option<String>,

    /// File holding a SESSDATA login cookie; without one Bilibili masks viewers' identities.
    /// BILIPULSE_SESSDATA may hold the value itself. Never logged.
    #[arg(long = "bili-cookie-file", env = "BILIPULSE_BILI_COOKIE_FILE")]
    pub cookie_file: Option<PathBuf>,

    /// Uid of the account whose SESSDATA is given (0 = anonymous).
    #[arg(long = "bili-uid", env = "BILIPULSE_BILI_UID", default_value_t = 0)]
    pub uid: u64,

    /// Minimum spacing of HTTP calls to Bilibili from this process (token fetches), e.g. 1s.
    #[arg(long = "bili-http-interval", env = "BILIPULSE_BILI_HTTP_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub http_interval: Duration,
}

/// Why the flags could not be turned into a working configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The login cookie could not be read.
    #[error("login cookie: {0}")]
    Cookie(String),
    /// The resolver refused the configuration.
    #[error(transparent)]
    Resolver(#[from] ResolveError),
}

impl BilibiliArgs {
    /// The resolver these flags describe (reading the cookie file if one is named).
    pub fn resolver(&self) -> Result<Arc<Resolver>, ConfigError> {
        let sessdata = match &self.cookie_file {
            Some(path) => {
                Some(Sessdata::from_file(path).map_err(|e| ConfigError::Cookie(e.to_string()))?)
            }
            None => match std::env::var("BILIPULSE_SESSDATA") {
                Ok(v) if !v.is_empty() => {
                    Some(Sessdata::new(v).map_err(|e| ConfigError::Cookie(e.to_string()))?)
                }
                _ => None,
            },
        };
        let cfg = ResolverConfig {
            api_base: self.api_base.clone(),
            live_base: self.live_base.clone(),
            user_agent: self
                .user_agent
                .clone()
                .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
            sessdata,
            uid: self.uid,
            min_interval: self.http_interval,
            ..ResolverConfig::default()
        };
        Ok(Arc::new(Resolver::new(cfg)?))
    }

    /// The WebSocket scheme for resolved hosts.
    pub fn scheme(&self) -> WsScheme {
        if self.ws_scheme == "ws" {
            WsScheme::Ws
        } else {
            WsScheme::Wss
        }
    }

    /// A client configuration for `room` through `resolver`.
    pub fn client(&self, room: u64, resolver: &Arc<Resolver>) -> ClientConfig {
        let mut c = ClientConfig::new(room, Source::Resolve(resolver.clone()));
        c.scheme = self.scheme();
        c
    }
}
