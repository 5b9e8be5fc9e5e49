//! One WebSocket connection, from handshake to its end.

use std::time::Duration;

use bilipulse_runtime::clock::now_ms;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::dial::Dialer;
use super::disconnect::{DisconnectReason, Outbound};
use super::supervise::{Events, Stop};
use super::{ClientConfig, ClientEvent, CommandBatch, ConnectionState, MaskReason};
use crate::commands;
use crate::wire::{self, AuthBody, FrameDecoder, Limits, Packet};

/// Bytes read from the socket at a time. Small on purpose: a pod holds ~1000 mostly idle
/// connections, and tungstenite allocates this eagerly per connection.
const READ_BUFFER: usize = 4 << 10;
/// Outgoing data is tiny (auth, heartbeats); cap what may queue up behind a stuck socket.
const MAX_WRITE_BUFFER: usize = 64 << 10;
/// How long a clean close may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The command the server sends to anonymous connections.
const LOG_IN_NOTICE: &str = "LOG_IN_NOTICE";

/// What the supervisor needs to know to connect: the same for every host of a resolution.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Real room id for the auth packet.
    pub room: u64,
    pub token: Option<String>,
    pub buvid: Option<String>,
    pub user_agent: String,
    /// Never empty.
    pub endpoints: Vec<Endpoint>,
}

/// One server to try.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// `host:port`, for states and logs.
    pub label: String,
    pub url: url::Url,
}

/// How a connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// Cancelled or nobody listens any more: the client stops.
    Stop,
    /// The connection is over; the supervisor decides what next.
    Over {
        reason: DisconnectReason,
        /// The server kept answering heartbeats for a full period after auth: the failure
        /// streak is broken.
        healthy: bool,
    },
}

impl From<Stop> for End {
    fn from(_: Stop) -> End {
        End::Stop
    }
}

fn over(reason: DisconnectReason) -> End {
    End::Over {
        reason,
        healthy: false,
    }
}

/// Runs one connection to `ep` until it ends, emitting its events.
pub(super) async fn run<D: Dialer>(
    cfg: &ClientConfig,
    target: &Target,
    ep: &Endpoint,
    events: &Events,
    dialer: &D,
) -> End {
    let mut ws = match connect(cfg, target, ep, events, dialer).await {
        Ok(ws) => ws,
        Err(end) => return end,
    };
    cfg.stats.connect();
    let mut conn = Connection {
        cfg,
        events,
        host: &ep.label,
        decoder: FrameDecoder::new(Limits {
            max_packet_len: cfg.max_frame,
            ..Limits::default()
        }),
        packets: Vec::new(),
        authenticated: false,
        healthy_at: None,
        healthy: false,
        masked: false,
        heartbeat: None,
    };
    let end = conn.drive(&mut ws, target).await;
    close(&mut ws, matches!(end, End::Stop)).await;
    end
}

async fn connect<D: Dialer>(
    cfg: &ClientConfig,
    target: &Target,
    ep: &Endpoint,
    events: &Events,
    dialer: &D,
) -> Result<WebSocketStream<D::Stream>, End> {
    let mut request = ep.url.as_str().into_client_request().map_err(|e| {
        over(DisconnectReason::BadUrl {
            url: ep.url.to_string(),
            detail: e.to_string(),
        })
    })?;
    let ua = HeaderValue::from_str(&target.user_agent)
        .map_err(|_| over(DisconnectReason::BadUserAgent))?;
    request.headers_mut().insert(header::USER_AGENT, ua);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(cfg.max_frame))
        .max_frame_size(Some(cfg.max_frame));
    // Boxed: the handshake future is several KiB and lives only while connecting; inline it
    // would enlarge every client task for the connection's whole life.
    let handshake = Box::pin(dialer.dial(request, ws_config));
    tokio::select! {
        _ = events.cancelled() => Err(End::Stop),
        r = tokio::time::timeout(cfg.auth_timeout, handshake) => match r {
            Err(_) => Err(over(DisconnectReason::HandshakeTimeout(cfg.auth_timeout))),
            Ok(Err(e)) => Err(over(DisconnectReason::Connect { detail: e.to_string() })),
            Ok(Ok(ws)) => Ok(ws),
        },
    }
}

/// Per-connection state.
struct Connection<'a> {
    cfg: &'a ClientConfig,
    events: &'a Events,
    host: &'a str,
    decoder: FrameDecoder,
    packets: Vec<Packet>,
    authenticated: bool,
    /// A heartbeat reply from this moment on makes the connection healthy: one full period
    /// after auth, so a server that accepts and then drops or stalls (commands such as
    /// `LOG_IN_NOTICE` may still come) never resets the back-off.
    healthy_at: Option<Instant>,
    healthy: bool,
    /// `Masked` is reported at most once per connection.
    masked: bool,
    heartbeat: Option<Interval>,
}

impl Connection<'_> {
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        target: &Target,
    ) -> End {
        let auth = wire::encode_auth(&AuthBody {
            uid: self.cfg.uid,
            roomid: target.room,
            protover: self.cfg.protover,
            platform: "web".to_owned(),
            kind: 2,
            buvid: target.buvid.clone().unwrap_or_default(),
            key: target.token.clone(),
        });
        if let Err(e) = ws.send(Message::Binary(auth.into())).await {
            return over(DisconnectReason::Send {
                what: Outbound::Auth,
                detail: e.to_string(),
            });
        }
        let auth_deadline = Instant::now() + self.cfg.auth_timeout;
        let mut last_frame = Instant::now();
        loop {
            let deadline = if self.authenticated {
                last_frame + self.cfg.dead_after
            } else {
                auth_deadline
            };
            tokio::select! {
                // Heartbeats before reading so a flood cannot starve them; reading before the
                // deadline so frames already waiting count even after a slow consumer.
                biased;
                _ = self.events.cancelled() => return End::Stop,
                _ = tick(&mut self.heartbeat) => {
                    if let Err(e) = ws.send(Message::Binary(wire::encode_heartbeat().into())).await {
                        return self.end(DisconnectReason::Send {
                            what: Outbound::Heartbeat,
                            detail: e.to_string(),
                        });
                    }
                }
                msg = ws.next() => {
                    let msg = match msg {
                        None => return self.end(DisconnectReason::Closed),
                        Some(Err(e)) => return self.end(DisconnectReason::Read { detail: e.to_string() }),
                        Some(Ok(m)) => m,
                    };
                    last_frame = Instant::now();
                    match msg {
                        Message::Binary(frame) => {
                            if let Some(end) = self.on_frame(ws, frame).await {
                                return end;
                            }
                        }
                        Message::Text(t) => {
                            self.cfg.stats.frame(t.len());
                            self.cfg.stats.malformed(1);
                            tracing::warn!(host = self.host, len = t.len(), "unexpected text frame ignored");
                        }
                        Message::Close(frame) => {
                            let (code, reason) = frame.map_or((None, String::new()), |f| {
                                (Some(u16::from(f.code)), f.reason.to_string())
                            });
                            return self.end(DisconnectReason::ServerClosed { code, reason });
                        }
                        // Ping/pong: tungstenite answers pings itself; they still prove liveness.
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return self.end(if self.authenticated {
                        DisconnectReason::Dead(self.cfg.dead_after)
                    } else {
                        DisconnectReason::NoAuthReply(self.cfg.auth_timeout)
                    });
                }
            }
        }
    }

    /// Decodes one binary frame and emits its packets. `Some` ends the connection.
    async fn on_frame<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        frame: bytes::Bytes,
    ) -> Option<End> {
        self.cfg.stats.frame(frame.len());
        let recv_ms = now_ms();
        if let Err(e) = self.decoder.decode(frame, &mut self.packets) {
            let n = self.decoder.errors_in_last_frame().max(1);
            self.cfg.stats.malformed(n);
            tracing::warn!(host = self.host, errors = n, kind = e.kind(), error = %e,
                "malformed frame; kept the packets before the error");
        }
        let mut packets = std::mem::take(&mut self.packets);
        let mut batch = Vec::with_capacity(packets.len());
        let mut result = None;
        for packet in packets.drain(..) {
            if let Err(end) = self.on_packet(ws, packet, &mut batch, recv_ms).await {
                result = Some(end);
                break;
            }
        }
        if result.is_none()
            && let Err(end) = self.flush(&mut batch, recv_ms).await
        {
            result = Some(end);
        }
        packets.clear();
        self.packets = packets;
        result
    }

    /// Adds a command to the frame's batch; a `LOG_IN_NOTICE` first sends the batch so far and
    /// then the `Masked` state, so that states and commands stay in arrival order.
    async fn on_command(
        &mut self,
        body: bytes::Bytes,
        batch: &mut Vec<bytes::Bytes>,
        recv_ms: i64,
    ) -> Result<(), End> {
        if !self.masked && commands::peek_cmd(&body).is_some_and(|c| c == LOG_IN_NOTICE) {
            self.flush(batch, recv_ms).await?;
            self.mask(MaskReason::LogInNotice).await?;
        }
        batch.push(body);
        Ok(())
    }

    /// Emits the commands collected so far, if any, as one [`ClientEvent::Commands`].
    async fn flush(&mut self, batch: &mut Vec<bytes::Bytes>, recv_ms: i64) -> Result<(), End> {
        if batch.is_empty() {
            return Ok(());
        }
        self.cfg.stats.commands(batch.len());
        let bodies = std::mem::take(batch);
        self.events
            .emit(ClientEvent::Commands(CommandBatch { bodies, recv_ms }))
            .await?;
        Ok(())
    }

    /// Handles one packet of a frame: commands join `batch`; anything else first sends the
    /// batch so far, so that the consumer sees events in arrival order.
    async fn on_packet<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        packet: Packet,
        batch: &mut Vec<bytes::Bytes>,
        recv_ms: i64,
    ) -> Result<(), End> {
        if !matches!(packet, Packet::Command(_)) {
            self.flush(batch, recv_ms).await?;
        }
        match packet {
            Packet::Command(body) => self.on_command(body, batch, recv_ms).await,
            Packet::AuthReply(body) => self.on_auth_reply(ws, &body).await,
            Packet::HeartbeatReply { popularity } => {
                self.healthy |= self.healthy_at.is_some_and(|t| Instant::now() >= t);
                self.events
                    .emit(ClientEvent::Popularity(popularity))
                    .await?;
                Ok(())
            }
            Packet::Other { op, body } => {
                tracing::debug!(
                    host = self.host,
                    op,
                    len = body.len(),
                    "ignoring packet with unexpected op"
                );
                Ok(())
            }
        }
    }

    async fn on_auth_reply<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        body: &[u8],
    ) -> Result<(), End> {
        if self.authenticated {
            tracing::debug!(host = self.host, "ignoring a second auth reply");
            return Ok(());
        }
        let code = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
        if code != Some(0) {
            self.cfg.stats.auth_failure();
            return Err(over(DisconnectReason::AuthRejected { code }));
        }
        self.authenticated = true;
        self.events
            .emit(ClientEvent::State(ConnectionState::Authenticated {
                host: self.host.to_owned(),
            }))
            .await?;
        if self.cfg.uid == 0 && !self.masked {
            self.mask(MaskReason::AnonymousUid).await?;
        }
        // Heartbeat right away (the server expects it), then on the period.
        if let Err(e) = ws
            .send(Message::Binary(wire::encode_heartbeat().into()))
            .await
        {
            return Err(self.end(DisconnectReason::Send {
                what: Outbound::Heartbeat,
                detail: e.to_string(),
            }));
        }
        let period = self.cfg.heartbeat.max(Duration::from_millis(1));
        self.healthy_at = Some(Instant::now() + period);
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.heartbeat = Some(interval);
        Ok(())
    }

    async fn mask(&mut self, reason: MaskReason) -> Result<(), Stop> {
        self.masked = true;
        self.events
            .emit(ClientEvent::State(ConnectionState::Masked { reason }))
            .await
    }

    fn end(&self, reason: DisconnectReason) -> End {
        End::Over {
            reason,
            healthy: self.healthy,
        }
    }
}

/// The heartbeat timer, or never before authentication.
async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sends a close frame. When stopping, also waits briefly for the server's reply so it sees
/// a clean close; after a failure the peer is likely gone, so reconnecting is not delayed.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    wait_for_reply: bool,
) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(None).await.is_ok() && wait_for_reply {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
