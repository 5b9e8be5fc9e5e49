//! The reconnect loop: resolve, pick a host, run a connection, decide how long to wait.

use std::sync::Arc;
use std::time::Duration;

use bilipulse_runtime::backoff::{Backoff, Delays, Jitter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::dial::Dialer;
use super::session::{self, End, Endpoint, Target};
use super::{ClientConfig, ClientEvent, ConnectionState, Source, WsScheme};
use crate::resolve::{ResolveError, Resolver};

/// How long the final `Stopped` event may wait for room in the channel.
const STOPPED_GRACE: Duration = Duration::from_secs(5);

/// The client must stop: cancelled, or the receiver is gone.
#[derive(Debug)]
pub(super) struct Stop;

/// The event channel plus the cancellation token, so every wait can be interrupted.
pub(super) struct Events {
    tx: mpsc::Sender<ClientEvent>,
    cancel: CancellationToken,
}

impl Events {
    /// Sends an event, waiting for room in the channel unless cancelled meanwhile.
    pub(super) async fn emit(&self, event: ClientEvent) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop),
            r = self.tx.send(event) => r.map_err(|_| Stop),
        }
    }

    /// Resolves when the client is cancelled.
    pub(super) async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Sleeps unless cancelled.
    async fn sleep(&self, d: Duration) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }
}

/// Task body of [`super::spawn`].
pub(super) async fn run<D: Dialer>(
    cfg: ClientConfig,
    cancel: CancellationToken,
    tx: mpsc::Sender<ClientEvent>,
    dialer: D,
) {
    let events = Events { tx, cancel };
    let mut sup = Supervisor {
        backoff: Backoff::doubling(cfg.backoff_min, cfg.backoff_max)
            .with_jitter(Jitter::Full)
            .delays(),
        risk: Backoff::doubling(cfg.risk_backoff_min, cfg.risk_backoff_max)
            .with_jitter(Jitter::AboveCeiling)
            .delays(),
        cfg,
        real_room: None,
        target: None,
        failures: 0,
        since_resolve: 0,
    };
    let _ = sup.run(&events, &dialer).await;
    tracing::debug!(room = sup.cfg.room, "client stopped");
    // Bounded: a consumer that cancelled us but stopped reading must not keep the task alive.
    let stopped = events.tx.send(ClientEvent::State(ConnectionState::Stopped));
    let _ = tokio::time::timeout(STOPPED_GRACE, stopped).await;
}

struct Supervisor {
    cfg: ClientConfig,
    /// Reconnect delays: full jitter under a doubling ceiling.
    backoff: Delays,
    /// Waits after risk control or an unknown room: never shorter than the schedule.
    risk: Delays,
    /// Real id once known; it never changes, so it is resolved once.
    real_room: Option<u64>,
    /// Credentials and hosts; `None` = resolve before the next connection.
    target: Option<Target>,
    /// Consecutive unhealthy connections: picks the host and is reported as `attempt`.
    failures: u32,
    /// Unhealthy connections since the last resolution.
    since_resolve: u32,
}

impl Supervisor {
    async fn run<D: Dialer>(&mut self, events: &Events, dialer: &D) -> Result<(), Stop> {
        loop {
            if events.cancel.is_cancelled() {
                return Err(Stop);
            }
            let target = match self.target.clone() {
                Some(t) => t,
                None => match self.resolve(events).await? {
                    Some(t) => {
                        self.target = Some(t.clone());
                        t
                    }
                    None => continue,
                },
            };
            let ep = &target.endpoints[self.failures as usize % target.endpoints.len()];
            events
                .emit(ClientEvent::State(ConnectionState::Connecting {
                    host: ep.label.clone(),
                    attempt: self.failures,
                }))
                .await?;
            let (reason, healthy) = match session::run(&self.cfg, &target, ep, events, dialer).await
            {
                End::Stop => return Err(Stop),
                End::Over { reason, healthy } => (reason, healthy),
            };
            let auth_rejected = reason.is_auth_rejected();
            if healthy {
                self.failures = 0;
                self.since_resolve = 0;
                self.backoff.reset();
            } else {
                self.failures = self.failures.saturating_add(1);
                self.since_resolve = self.since_resolve.saturating_add(1);
            }
            let resolvable = matches!(self.cfg.source, Source::Resolve(_));
            if resolvable
                && (auth_rejected || self.since_resolve >= self.cfg.reresolve_after.max(1))
            {
                self.target = None;
            }
            let retry_in = self.backoff.next_delay();
            tracing::info!(room = self.cfg.room, host = %ep.label, %reason, ?retry_in, "disconnected");
            events
                .emit(ClientEvent::State(ConnectionState::Disconnected {
                    reason,
                    retry_in,
                }))
                .await?;
            events.sleep(retry_in).await?;
        }
    }

    /// Produces a target, or reports the failure, waits, and returns `None`.
    async fn resolve(&mut self, events: &Events) -> Result<Option<Target>, Stop> {
        let resolver = match &self.cfg.source {
            Source::Direct { url, token, buvid } => {
                return Ok(Some(self.direct(url, token, buvid)));
            }
            Source::Resolve(r) => Arc::clone(r),
        };
        events
            .emit(ClientEvent::State(ConnectionState::Resolving))
            .await?;
        let result = tokio::select! {
            biased;
            _ = events.cancelled() => return Err(Stop),
            r = self.resolve_with(&resolver) => r,
        };
        match result {
            Ok(target) => {
                self.since_resolve = 0;
                self.risk.reset();
                Ok(Some(target))
            }
            Err(e) => {
                self.cfg.stats.resolve_failure();
                // Risk control and unknown rooms do not get better by asking again soon.
                let retry_in = if e.is_risk_control() || matches!(e, ResolveError::NotFound { .. })
                {
                    self.risk.next_delay()
                } else {
                    self.backoff.next_delay()
                };
                tracing::warn!(room = self.cfg.room, error = %e, ?retry_in, "resolve failed");
                events
                    .emit(ClientEvent::State(ConnectionState::ResolveFailed {
                        kind: e.kind(),
                        error: e.to_string(),
                        retry_in,
                    }))
                    .await?;
                events.sleep(retry_in).await?;
                Ok(None)
            }
        }
    }

    async fn resolve_with(&mut self, resolver: &Resolver) -> Result<Target, ResolveError> {
        let room = match self.real_room {
            Some(r) => r,
            None => {
                let info = resolver.room_info(self.cfg.room).await?;
                self.real_room = Some(info.room);
                info.room
            }
        };
        let buvid = resolver.buvid3().await?;
        let info = resolver.danmu_info(room).await?;
        let endpoints = info
            .hosts
            .iter()
            .filter_map(|h| {
                let (scheme, port) = match self.cfg.scheme {
                    WsScheme::Wss => ("wss", h.wss_port),
                    WsScheme::Ws => ("ws", h.ws_port),
                };
                let label = format!("{}:{port}", h.host);
                let url = url::Url::parse(&format!("{scheme}://{label}/sub")).ok()?;
                Some(Endpoint { label, url })
            })
            .collect::<Vec<_>>();
        if endpoints.is_empty() {
            return Err(ResolveError::Decode {
                endpoint: crate::resolve::GET_DANMU_INFO,
                reason: "no host gives a valid WebSocket URL".into(),
            });
        }
        Ok(Target {
            room,
            token: Some(info.token),
            buvid: Some(buvid),
            user_agent: resolver.user_agent().to_owned(),
            endpoints,
        })
    }

    fn direct(&self, url: &url::Url, token: &Option<String>, buvid: &Option<String>) -> Target {
        let label = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            _ => url.to_string(),
        };
        Target {
            room: self.cfg.room,
            token: token.clone(),
            buvid: buvid.clone(),
            user_agent: self.cfg.user_agent.clone(),
            endpoints: vec![Endpoint {
                label,
                url: url.clone(),
            }],
        }
    }
}
