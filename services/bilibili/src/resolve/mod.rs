//! HTTP side of a room connection: buvid3, WBI keys, short id → real id, token and hosts.
//!
//! One [`Resolver`] (one `reqwest::Client`, one pacing queue, one set of caches) is meant to be
//! shared by every room of a process as `Arc<Resolver>`: Bilibili rate-limits per client, so the
//! requests of a thousand rooms must be spaced out, and buvid3 / WBI keys are per client anyway.
//!
//! The pure `parse_*` functions are public so the real captured replies can be tested without a
//! network.

mod buvid;
mod danmu_info;
mod envelope;
mod error;
mod nav;
mod pacing;
mod room;
mod sessdata;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

pub use buvid::{FINGER_SPI, parse_finger_spi};
pub use danmu_info::{DanmuHost, DanmuInfo, GET_DANMU_INFO, parse_danmu_info};
pub use error::{
    RISK_CONTROL_CODES, ResolveError, ResolveErrorKind, classify_code, classify_status,
};
pub use nav::{NAV, NavInfo, WbiKeys, parse_nav};
pub use pacing::Pacer;
pub use room::{GET_INFO, ROOM_INIT, RoomInfo, parse_get_info, parse_room_init};
pub use sessdata::{Sessdata, SessdataError};

use crate::wbi;

/// A current desktop Chrome. Bilibili started refusing outdated browser versions with -352 in
/// 2026-04, so keep this recent; the same string must be used for the WebSocket handshake.
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36";

/// How long WBI keys are trusted: Bilibili rotates them about daily; the reference client
/// refreshes after 11 h 59 m 30 s (and whenever an API answers -352).
pub const WBI_KEY_TTL: Duration = Duration::from_secs(11 * 3600 + 59 * 60 + 30);

/// Largest reply body we read. The replies we need are a few KiB; anything bigger is an error
/// page or an attack and is refused without buffering it.
pub const MAX_BODY: usize = 1 << 20;

/// The page our requests claim to come from, as a browser on a live room would.
const REFERER: &str = "https://live.bilibili.com/";

/// How a [`Resolver`] talks to Bilibili (or the simulator).
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Base of `nav` and `finger/spi` (default `https://api.bilibili.com`).
    pub api_base: Url,
    /// Base of `room_init`, `get_info` and `getDanmuInfo` (default `https://api.live.bilibili.com`).
    pub live_base: Url,
    /// The one User-Agent for HTTP and the WebSocket (the token is bound to it).
    pub user_agent: String,
    /// Login cookie; `None` = anonymous (names masked, uids zeroed by the server).
    pub sessdata: Option<Sessdata>,
    /// The logged-in account's uid (0 = anonymous); must match `sessdata`.
    pub uid: u64,
    /// Minimum spacing between this resolver's HTTP requests.
    pub min_interval: Duration,
    /// Per-request timeout (connect + reply).
    pub timeout: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            api_base: Url::parse("https://api.bilibili.com/").expect("constant URL"),
            live_base: Url::parse("https://api.live.bilibili.com/").expect("constant URL"),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            sessdata: None,
            uid: 0,
            min_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Resolves rooms to WebSocket credentials, with the caches and pacing a fleet of rooms needs.
#[derive(Debug)]
pub struct Resolver {
    cfg: ResolverConfig,
    http: reqwest::Client,
    pacer: Pacer,
    /// Held across the fetch so concurrent rooms wait for one request instead of each sending one.
    buvid: Mutex<Option<String>>,
    keys: Mutex<Option<CachedKeys>>,
}

#[derive(Debug, Clone)]
struct CachedKeys {
    mixin: String,
    fetched: Instant,
    /// Increases with every fetch, so a -352 handler refreshes only keys it actually used.
    generation: u64,
}

impl Resolver {
    /// Builds the HTTP client. Fails only on an unusable configuration.
    pub fn new(mut cfg: ResolverConfig) -> Result<Resolver, ResolveError> {
        for base in [&mut cfg.api_base, &mut cfg.live_base] {
            if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
                return Err(ResolveError::Config(format!(
                    "{base} is not an http(s) base URL"
                )));
            }
            // Url::join replaces the last path segment unless the base ends in '/'.
            if !base.path().ends_with('/') {
                let path = format!("{}/", base.path());
                base.set_path(&path);
            }
        }
        let ua = HeaderValue::from_str(&cfg.user_agent)
            .map_err(|_| ResolveError::Config("user agent is not a valid header value".into()))?;
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, ua);
        headers.insert(header::REFERER, HeaderValue::from_static(REFERER));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            // Paced requests need one or two connections; a burst must not leave hundreds
            // of idle ones (each with its buffers) in the pool.
            .pool_max_idle_per_host(2)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ResolveError::Config(format!("building the HTTP client: {e}")))?;
        Ok(Resolver {
            pacer: Pacer::new(cfg.min_interval),
            cfg,
            http,
            buvid: Mutex::new(None),
            keys: Mutex::new(None),
        })
    }

    /// The User-Agent every request of this resolver carries; the WebSocket handshake must
    /// send the same one because the token is bound to it.
    pub fn user_agent(&self) -> &str {
        &self.cfg.user_agent
    }

    /// The uid the resolver's cookie belongs to (0 = anonymous), for the auth packet.
    pub fn uid(&self) -> u64 {
        self.cfg.uid
    }

    /// buvid3 from `finger/spi`, fetched once and cached.
    pub async fn buvid3(&self) -> Result<String, ResolveError> {
        let mut cached = self.buvid.lock().await;
        if let Some(b) = cached.as_ref() {
            return Ok(b.clone());
        }
        let url = join(&self.cfg.api_base, "x/frontend/finger/spi")?;
        let body = self.get(FINGER_SPI, url, None).await?;
        let b3 = parse_finger_spi(&body)?;
        *cached = Some(b3.clone());
        Ok(b3)
    }

    /// Calls `nav` now (WBI keys plus login state) and caches the keys.
    pub async fn nav(&self) -> Result<NavInfo, ResolveError> {
        let mut cached = self.keys.lock().await;
        let generation = cached.as_ref().map_or(0, |k| k.generation);
        let (info, keys) = self.fetch_keys(generation).await?;
        *cached = Some(keys);
        Ok(info)
    }

    /// Real room id (and a little more) for a short or long id: `get_info`, falling back to
    /// `room_init` unless the first answer was risk control (then a second call would only
    /// make it worse).
    pub async fn room_info(&self, id: u64) -> Result<RoomInfo, ResolveError> {
        let mut url = join(&self.cfg.live_base, "room/v1/Room/get_info")?;
        url.query_pairs_mut()
            .append_pair("room_id", &id.to_string());
        let first = match self.get(GET_INFO, url, None).await {
            Ok(body) => parse_get_info(id, &body),
            Err(e) => Err(e),
        };
        match first {
            Ok(info) => return Ok(info),
            Err(e) if e.is_risk_control() => return Err(e),
            Err(e) => tracing::debug!(room = id, error = %e, "get_info failed; trying room_init"),
        }
        let mut url = join(&self.cfg.live_base, "room/v1/Room/room_init")?;
        url.query_pairs_mut().append_pair("id", &id.to_string());
        let body = self.get(ROOM_INIT, url, None).await?;
        parse_room_init(id, &body)
    }

    /// Token and hosts for a real room id: WBI-signed, with the buvid3 cookie.
    ///
    /// A -352 answer refreshes the WBI keys and retries once; a second -352 also drops the
    /// cached buvid3 (the next call fetches a new one) and is returned as
    /// [`ResolveError::RiskControl`] for the caller to back off.
    pub async fn danmu_info(&self, real_room: u64) -> Result<DanmuInfo, ResolveError> {
        let buvid = self.buvid3().await?;
        let mut keys = self.keys_at_least(0).await?;
        let mut retried = false;
        loop {
            let url = self.danmu_info_url(real_room, &keys.mixin)?;
            let result = match self.get(GET_DANMU_INFO, url, Some(&buvid)).await {
                Ok(body) => parse_danmu_info(&body),
                Err(e) => Err(e),
            };
            match result {
                Err(ResolveError::RiskControl { code: -352, .. }) if !retried => {
                    retried = true;
                    tracing::info!(room = real_room, "getDanmuInfo -352: refreshing WBI keys");
                    keys = self.keys_at_least(keys.generation + 1).await?;
                }
                Err(e) if e.is_risk_control() => {
                    let mut cached = self.buvid.lock().await;
                    if cached.as_deref() == Some(buvid.as_str()) {
                        *cached = None;
                    }
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    fn danmu_info_url(&self, real_room: u64, mixin: &str) -> Result<Url, ResolveError> {
        let wts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let room = real_room.to_string();
        let params = [
            ("id", room.as_str()),
            ("type", "0"),
            ("web_location", "444.8"),
        ];
        let signed = wbi::sign(&params, mixin, wts);
        let mut url = join(&self.cfg.live_base, "xlive/web-room/v1/index/getDanmuInfo")?;
        url.query_pairs_mut().extend_pairs(signed.pairs());
        Ok(url)
    }

    /// Cached WBI keys of at least `generation` that have not expired, fetching when needed.
    async fn keys_at_least(&self, generation: u64) -> Result<CachedKeys, ResolveError> {
        let mut cached = self.keys.lock().await;
        if let Some(k) = cached.as_ref()
            && k.generation >= generation
            && k.fetched.elapsed() < WBI_KEY_TTL
        {
            return Ok(k.clone());
        }
        let previous = cached.as_ref().map_or(0, |k| k.generation);
        let (_, keys) = self.fetch_keys(previous).await?;
        *cached = Some(keys.clone());
        Ok(keys)
    }

    async fn fetch_keys(&self, previous: u64) -> Result<(NavInfo, CachedKeys), ResolveError> {
        let url = join(&self.cfg.api_base, "x/web-interface/nav")?;
        let body = self.get(NAV, url, None).await?;
        let info = parse_nav(&body)?;
        if self.cfg.sessdata.is_some() && !info.is_login {
            tracing::warn!("nav says the configured SESSDATA is not logged in (expired?)");
        } else if info.is_login && self.cfg.uid != 0 && info.mid != self.cfg.uid {
            tracing::warn!(
                configured = self.cfg.uid,
                cookie = info.mid,
                "configured uid differs from the SESSDATA account; the server will drop auth"
            );
        }
        let keys = CachedKeys {
            mixin: wbi::mixin_key(&info.keys.img_key, &info.keys.sub_key),
            fetched: Instant::now(),
            generation: previous + 1,
        };
        Ok((info, keys))
    }

    /// One paced GET with our cookies, returning the body if the status is a success.
    async fn get(
        &self,
        endpoint: &'static str,
        url: Url,
        buvid: Option<&str>,
    ) -> Result<Vec<u8>, ResolveError> {
        self.pacer.wait().await;
        let mut req = self.http.get(url);
        if let Some(cookie) = self.cookie(buvid) {
            req = req.header(header::COOKIE, cookie);
        }
        let transport = |source| ResolveError::Transport { endpoint, source };
        let mut resp = req.send().await.map_err(transport)?;
        if let Some(e) = classify_status(endpoint, resp.status().as_u16()) {
            return Err(e);
        }
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large(endpoint));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large(endpoint));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// `buvid3=…; SESSDATA=…`, marked sensitive so HTTP tracing never prints it.
    fn cookie(&self, buvid: Option<&str>) -> Option<HeaderValue> {
        let mut parts = Vec::new();
        if let Some(b) = buvid {
            parts.push(format!("buvid3={b}"));
        }
        if let Some(s) = &self.cfg.sessdata {
            parts.push(format!("SESSDATA={}", s.expose()));
        }
        if parts.is_empty() {
            return None;
        }
        // Both values were validated as cookie-safe ASCII, so this cannot fail in practice.
        let mut value = HeaderValue::from_str(&parts.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

fn join(base: &Url, path: &str) -> Result<Url, ResolveError> {
    base.join(path)
        .map_err(|e| ResolveError::Config(format!("joining {path} to {base}: {e}")))
}

fn too_large(endpoint: &'static str) -> ResolveError {
    ResolveError::Decode {
        endpoint,
        reason: format!("reply body larger than {MAX_BODY} bytes"),
    }
}
