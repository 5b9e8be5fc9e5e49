//! State shared by the HTTP handlers, WebSocket connections, the traffic thread and the
//! public handles.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};

use bytes::Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::batch::{Encoding, Packer};
use crate::config::SimConfig;
use crate::faults::FaultState;
use crate::hub::Hub;
use crate::identity::Identity;
use crate::render::LOG_IN_NOTICE;
use crate::replay::ReplayFeed;
use crate::rooms::Directory;
use crate::truth::Truth;

/// Pausing the traffic thread: tests pause, then compare what arrived with the truth.
pub(crate) struct TrafficControl {
    pub paused: AtomicBool,
    /// Set by the traffic thread once it has seen `paused` and stopped sending.
    pub observed: watch::Sender<bool>,
}

pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub dir: Directory,
    pub hub: Hub,
    pub truth: Truth,
    pub faults: FaultState,
    pub identity: Identity,
    pub packer: Packer,
    pub next_conn: AtomicU64,
    pub addr: SocketAddr,
    pub public_host: String,
    pub traffic: TrafficControl,
    pub cancel: CancellationToken,
    /// Load mode's frames, when it is on: connections are sent these instead of their room's
    /// traffic.
    pub replay: Option<ReplayFeed>,
    login_notice: [Bytes; 3],
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: SimConfig,
        dir: Directory,
        truth: Truth,
        identity: Identity,
        addr: SocketAddr,
        public_host: String,
        cancel: CancellationToken,
        replay: Option<ReplayFeed>,
    ) -> Shared {
        let packer = Packer::for_config(&cfg);
        let mut inner = Vec::new();
        Packer::inner_packet(&mut inner, LOG_IN_NOTICE.as_bytes());
        let login_notice = [Encoding::Plain, Encoding::Zlib, Encoding::Brotli]
            .map(|enc| packer.container(enc, &inner));
        let (observed, _) = watch::channel(cfg.start_paused);
        Shared {
            hub: Hub::new(dir.rooms.len()),
            faults: FaultState::new(cfg.fault_refuse_auth, cfg.fault_risk_control),
            traffic: TrafficControl {
                paused: AtomicBool::new(cfg.start_paused),
                observed,
            },
            cfg,
            dir,
            truth,
            identity,
            packer,
            next_conn: AtomicU64::new(1),
            addr,
            public_host,
            cancel,
            replay,
            login_notice,
        }
    }

    /// The LOG_IN_NOTICE frame in `enc`.
    pub fn login_notice(&self, enc: Encoding) -> Bytes {
        self.login_notice[match enc {
            Encoding::Plain => 0,
            Encoding::Zlib => 1,
            Encoding::Brotli => 2,
        }]
        .clone()
    }
}
