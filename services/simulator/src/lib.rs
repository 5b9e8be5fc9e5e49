//! `bilipulse-sim`: a protocol-faithful stand-in for Bilibili's live servers.
//!
//! It exists so that bilipulse can be developed, tested and load-tested without touching
//! Bilibili: passing against it should mean working against the real thing. One listener
//! serves the HTTP APIs an ingester resolves rooms with (WBI signatures and buvid3 checked,
//! `-352` otherwise), the `/sub` WebSocket (auth deadline, heartbeat echo quirk, brotli/zlib
//! containers, anonymous masking), realistic traffic per room, a ground-truth log of
//! everything sent ([`Truth`]), and fault injection ([`Faults`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), bilipulse_sim::SimError> {
//! use bilipulse_sim::{Profile, RoomSpec, SimConfig};
//! let sim = bilipulse_sim::start(SimConfig::for_tests(&[RoomSpec::new(5269, Profile::Busy)])).await?;
//! println!("resolve against {} and connect to {}", sim.http_base(), sim.ws_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod batch;
pub mod bench;
mod clock;
mod config;
mod error;
mod faults;
mod http;
mod hub;
mod identity;
mod render;
mod replay;
mod rooms;
mod shared;
mod signature;
mod traffic;
mod truth;
mod ws;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

pub use config::{
    Account, DEFAULT_IMG_KEY, DEFAULT_SUB_KEY, Profile, ReplayConfig, RoomSpec, SimConfig,
};
pub use error::{FaultError, SimError};
pub use faults::{BOMB_INFLATED_LEN, FaultOutcome, FaultRequest, Faults, Malformed, Oversize};
pub use rooms::RoomInfo;
pub use truth::{
    AudienceRecord, ConnEvent, ConnRecord, EventRecord, FaultRecord, GiftRecord, GuardRecord,
    RoomCounts, ScRecord, Truth, TruthSummary,
};

use identity::{Identity, WbiKeys};
use shared::Shared;

/// A running simulator. Dropping it without [`SimHandle::shutdown`] leaves the server running
/// until the runtime ends.
pub struct SimHandle {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    traffic: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// Binds the listener, starts the HTTP/WebSocket server and the traffic thread.
pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: cfg.listen,
        source,
    })?;
    for key in [&cfg.wbi_img_key, &cfg.wbi_sub_key] {
        if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SimError::Config(format!(
                "WBI key {key:?} is not 32 alphanumerics"
            )));
        }
    }
    let dir = rooms::Directory::build(&cfg)?;
    let truth = Truth::new(cfg.truth_capacity, cfg.truth_log.as_deref())?;
    let identity = Identity::new(cfg.seed, WbiKeys::new(&cfg.wbi_img_key, &cfg.wbi_sub_key));
    let public_host = cfg.public_host.clone().unwrap_or_else(|| {
        let ip = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        ip.to_string()
    });
    let replay = replay::ReplayFeed::load(&cfg.replay, &batch::Packer::for_config(&cfg), cfg.seed)?;
    let cancel = CancellationToken::new();
    let shared = Arc::new(Shared::new(
        cfg,
        dir,
        truth,
        identity,
        addr,
        public_host,
        cancel.clone(),
        replay,
    ));
    // In load mode no connection listens to generated traffic: rendering it would only take
    // CPU from the client being measured.
    let traffic = match &shared.replay {
        Some(_) => None,
        None => Some(traffic::spawn(shared.clone())?),
    };
    let app = http::router(shared.clone());
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    tracing::info!(%addr, rooms = shared.dir.rooms.len(), "bilipulse-sim listening");
    Ok(SimHandle {
        shared,
        server,
        traffic,
    })
}

impl SimHandle {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://HOST:PORT/`: use as both `api_base` and `live_base` of a resolver.
    pub fn http_base(&self) -> url::Url {
        self.url("http", "/")
    }

    /// `ws://HOST:PORT/sub`.
    pub fn ws_url(&self) -> url::Url {
        self.url("ws", "/sub")
    }

    fn url(&self, scheme: &str, path: &str) -> url::Url {
        url::Url::parse(&format!("{scheme}://{}{path}", self.host_port()))
            .or_else(|_| url::Url::parse(&format!("{scheme}://{}{path}", self.shared.addr)))
            .expect("a socket address is a valid URL authority")
    }

    fn host_port(&self) -> String {
        let host = &self.shared.public_host;
        if host.contains(':') {
            format!("[{host}]:{}", self.shared.addr.port())
        } else {
            format!("{host}:{}", self.shared.addr.port())
        }
    }

    /// Fault injection (same as `POST /admin/faults`).
    pub fn faults(&self) -> Faults {
        Faults {
            shared: self.shared.clone(),
        }
    }

    /// The ground truth so far.
    pub fn truth(&self) -> Truth {
        self.shared.truth.clone()
    }

    /// All served rooms (configured first, then generated ones).
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.shared.dir.infos()
    }

    /// Whether the room is live now (room_init's `live_status` = 1).
    pub fn is_live(&self, room: u64) -> Option<bool> {
        self.shared
            .dir
            .by_real(room)
            .map(|(_, m)| m.live_status() == 1)
    }

    /// Stops generating traffic; returns once the traffic thread has stopped queueing frames
    /// (frames already queued are still written). Virtual time stands still while paused.
    pub async fn pause_traffic(&self) {
        if self.traffic.is_none() {
            return; // load mode: there is no generated traffic
        }
        self.shared.traffic.paused.store(true, Ordering::Release);
        let mut rx = self.shared.traffic.observed.subscribe();
        let _ = rx.wait_for(|observed| *observed).await;
    }

    /// Resumes traffic after [`SimHandle::pause_traffic`] (or `start_paused`).
    pub async fn resume_traffic(&self) {
        if self.traffic.is_none() {
            return;
        }
        self.shared.traffic.paused.store(false, Ordering::Release);
        let mut rx = self.shared.traffic.observed.subscribe();
        let _ = rx.wait_for(|observed| !*observed).await;
    }

    /// The current WBI (img_key, sub_key) that nav publishes.
    pub fn wbi_keys(&self) -> (String, String) {
        let k = self.shared.identity.keys();
        (k.img, k.sub)
    }

    /// Replaces the WBI keys; signatures made with the old ones now get -352.
    pub fn rotate_wbi_keys(&self) -> (String, String) {
        let k = self.shared.identity.rotate_keys();
        (k.img, k.sub)
    }

    /// Issues a buvid3 as finger/spi would (for clients that skip HTTP).
    pub fn issue_buvid(&self) -> String {
        self.shared.identity.issue_buvid().0
    }

    /// Issues a token as getDanmuInfo would, bound to (room, User-Agent, uid), for
    /// `Source::Direct` style clients that skip HTTP.
    pub fn issue_token(&self, room: u64, user_agent: &str, uid: u64) -> String {
        self.shared.identity.issue_token(identity::Binding {
            room,
            user_agent: user_agent.to_owned(),
            uid,
        })
    }

    /// Authenticated connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.hub.total()
    }

    /// Stops everything: connections are closed, the traffic thread ends, the truth log is
    /// flushed.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        let _ = (&mut self.server).await;
        if let Some(t) = self.traffic.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.shared.truth.close();
    }
}
