//! The client's timers on tokio's paused clock: production values (30 s heartbeat, 70 s
//! dead-connection limit, 10 s auth limit, 1 s – 60 s back-off) checked exactly in virtual
//! time. The scripted server speaks real WebSocket over an in-memory pipe, because with real
//! sockets the paused clock may jump ahead while bytes are in flight.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::dial::Dialer;
use super::{ClientConfig, ClientEvent, ConnectionState, DisconnectReason, Source, spawn_with};
use crate::wire::{self, FrameDecoder, Limits, Packet, op, protover};

const ROOM: u64 = 14073662;
const WAIT: Duration = Duration::from_secs(3600);

type Ws = WebSocketStream<DuplexStream>;

/// Hands the server end of each new pipe to the test.
struct PipeDialer(mpsc::UnboundedSender<DuplexStream>);

impl Dialer for PipeDialer {
    type Stream = DuplexStream;

    async fn dial(
        &self,
        request: Request,
        config: WebSocketConfig,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let (client, server) = tokio::io::duplex(64 << 10);
        self.0
            .send(server)
            .map_err(|_| std::io::Error::other("no server"))?;
        tokio_tungstenite::client_async_with_config(request, client, Some(config))
            .await
            .map(|(ws, _)| ws)
    }
}

struct Peer(mpsc::UnboundedReceiver<DuplexStream>);

impl Peer {
    /// The server end of the next connection, before the WebSocket handshake.
    async fn raw(&mut self) -> DuplexStream {
        tokio::time::timeout(WAIT, self.0.recv())
            .await
            .expect("client dials")
            .expect("dialer alive")
    }

    async fn accept(&mut self) -> Ws {
        tokio_tungstenite::accept_async(self.raw().await)
            .await
            .expect("handshake")
    }
}

fn start(uid: u64) -> (mpsc::Receiver<ClientEvent>, Peer, CancellationToken) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut cfg = ClientConfig::new(
        ROOM,
        Source::Direct {
            url: url::Url::parse("ws://127.0.0.1:9/sub").unwrap(),
            token: Some("tok".into()),
            buvid: Some("B-1infoc".into()),
        },
    );
    cfg.uid = uid;
    let cancel = CancellationToken::new();
    let (events, _handle) = spawn_with(cfg, cancel.clone(), PipeDialer(tx));
    (events, Peer(rx), cancel)
}

async fn client_packet(ws: &mut Ws) -> Option<(u32, Bytes)> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(Message::Binary(b)) => {
                let mut out = Vec::new();
                FrameDecoder::new(Limits::default())
                    .decode(b, &mut out)
                    .unwrap();
                return match out.into_iter().next()? {
                    Packet::Other { op, body } => Some((op, body)),
                    other => panic!("unexpected client packet {other:?}"),
                };
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn authenticate(ws: &mut Ws, code: i64) {
    let (o, _) = client_packet(ws).await.expect("auth packet");
    assert_eq!(o, op::AUTH);
    ws.send(Message::Binary(wire::encode_auth_reply(code).into()))
        .await
        .unwrap();
}

async fn reply_heartbeat(ws: &mut Ws) {
    let (o, body) = client_packet(ws).await.expect("heartbeat");
    assert_eq!(o, op::HEARTBEAT);
    ws.send(Message::Binary(
        wire::encode_heartbeat_reply(1, &body).into(),
    ))
    .await
    .unwrap();
}

fn command(cmd: &str) -> Vec<u8> {
    let body = format!(r#"{{"cmd":"{cmd}"}}"#);
    wire::encode_packet(op::MESSAGE, protover::JSON, 0, body.as_bytes())
}

async fn next(rx: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event")
        .expect("channel open")
}

async fn state(rx: &mut mpsc::Receiver<ClientEvent>) -> ConnectionState {
    match next(rx).await {
        ClientEvent::State(s) => s,
        other => panic!("expected a state, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_first_heartbeat_follows_the_auth_reply_at_once() {
    let (mut rx, mut peer, _cancel) = start(0);
    let mut ws = peer.accept().await;
    authenticate(&mut ws, 0).await;
    let t0 = Instant::now();
    let (o, _) = client_packet(&mut ws).await.unwrap();
    assert_eq!(o, op::HEARTBEAT);
    assert_eq!(Instant::now(), t0);
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Connecting { attempt: 0, .. }
    ));
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_every_30s_and_a_silent_server_is_dead_after_70s() {
    let (mut rx, mut peer, _cancel) = start(7);
    let mut ws = peer.accept().await;
    authenticate(&mut ws, 0).await;
    let start = Instant::now();
    let mut beats = Vec::new();
    while let Some((o, _)) = client_packet(&mut ws).await {
        assert_eq!(o, op::HEARTBEAT);
        beats.push((Instant::now() - start).as_secs());
    }
    assert_eq!(beats, [0, 30, 60]);
    assert_eq!(
        (Instant::now() - start).as_secs(),
        70,
        "closed when declared dead"
    );
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Connecting { attempt: 0, .. }
    ));
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
    match state(&mut rx).await {
        ConnectionState::Disconnected { reason, retry_in } => {
            assert!(matches!(reason, DisconnectReason::Dead(_)), "{reason}");
            assert!(retry_in <= Duration::from_secs(1));
        }
        other => panic!("{other:?}"),
    }
    // Authenticated but the server never answered: still a failure.
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Connecting { attempt: 1, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn answered_heartbeats_keep_a_quiet_connection_alive() {
    let (mut rx, mut peer, _cancel) = start(7);
    let mut ws = peer.accept().await;
    authenticate(&mut ws, 0).await;
    let start = Instant::now();
    let server = tokio::spawn(async move {
        loop {
            reply_heartbeat(&mut ws).await;
        }
    });
    state(&mut rx).await; // Connecting
    state(&mut rx).await; // Authenticated
    for _ in 0..21 {
        assert_eq!(next(&mut rx).await, ClientEvent::Popularity(1));
    }
    assert_eq!((Instant::now() - start).as_secs(), 600);
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn no_auth_reply_within_10s_ends_the_attempt() {
    let (mut rx, mut peer, _cancel) = start(0);
    let mut ws = peer.accept().await;
    let start = Instant::now();
    assert_eq!(client_packet(&mut ws).await.unwrap().0, op::AUTH);
    state(&mut rx).await; // Connecting
    match state(&mut rx).await {
        ConnectionState::Disconnected { reason, .. } => {
            assert_eq!(
                reason,
                DisconnectReason::NoAuthReply(Duration::from_secs(10))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((Instant::now() - start).as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_completes_times_out() {
    let (mut rx, mut peer, _cancel) = start(0);
    let _silent = peer.raw().await;
    let start = Instant::now();
    state(&mut rx).await; // Connecting
    match state(&mut rx).await {
        ConnectionState::Disconnected { reason, .. } => {
            assert_eq!(
                reason,
                DisconnectReason::HandshakeTimeout(Duration::from_secs(10))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((Instant::now() - start).as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_and_a_healthy_connection_resets_the_schedule() {
    let (mut rx, mut peer, _cancel) = start(0);
    let mut last: Option<(Instant, Duration)> = None;
    for (attempt, ceiling) in [1u64, 2, 4, 8, 16, 32, 60, 60].into_iter().enumerate() {
        match state(&mut rx).await {
            ConnectionState::Connecting { attempt: a, .. } => assert_eq!(a as usize, attempt),
            other => panic!("{other:?}"),
        }
        if let Some((since, retry_in)) = last {
            // Timers have millisecond resolution.
            let slept = Instant::now() - since;
            assert!(
                slept >= retry_in && slept <= retry_in + Duration::from_millis(1),
                "{slept:?} {retry_in:?}"
            );
        }
        let mut ws = peer.accept().await;
        authenticate(&mut ws, -101).await;
        match state(&mut rx).await {
            ConnectionState::Disconnected { reason, retry_in } => {
                assert_eq!(reason, DisconnectReason::AuthRejected { code: Some(-101) });
                assert!(
                    retry_in <= Duration::from_secs(ceiling),
                    "{retry_in:?} above {ceiling}s"
                );
                last = Some((Instant::now(), retry_in));
            }
            other => panic!("{other:?}"),
        }
    }
    // Accepted, and the server still answers a full heartbeat period later: healthy.
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Connecting { attempt: 8, .. }
    ));
    let mut ws = peer.accept().await;
    authenticate(&mut ws, 0).await;
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Masked { .. }
    ));
    for _ in 0..2 {
        reply_heartbeat(&mut ws).await;
        assert_eq!(next(&mut rx).await, ClientEvent::Popularity(1));
    }
    drop(ws);
    match state(&mut rx).await {
        ConnectionState::Disconnected { retry_in, .. } => {
            assert!(retry_in <= Duration::from_secs(1))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Connecting { attempt: 0, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_server_that_drops_soon_after_auth_does_not_reset_the_back_off() {
    let (mut rx, mut peer, _cancel) = start(9);
    for attempt in 0..3u32 {
        match state(&mut rx).await {
            ConnectionState::Connecting { attempt: a, .. } => assert_eq!(a, attempt),
            other => panic!("{other:?}"),
        }
        let mut ws = peer.accept().await;
        authenticate(&mut ws, 0).await;
        assert!(matches!(
            state(&mut rx).await,
            ConnectionState::Authenticated { .. }
        ));
        // A command and a heartbeat reply right away do not make it healthy.
        ws.send(Message::Binary(command("DANMU_MSG").into()))
            .await
            .unwrap();
        reply_heartbeat(&mut ws).await;
        assert!(matches!(next(&mut rx).await, ClientEvent::Commands(_)));
        assert_eq!(next(&mut rx).await, ClientEvent::Popularity(1));
        drop(ws);
        assert!(matches!(
            state(&mut rx).await,
            ConnectionState::Disconnected { .. }
        ));
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_back_off_stops_at_once() {
    let (mut rx, mut peer, cancel) = start(0);
    let mut ws = peer.accept().await;
    authenticate(&mut ws, -101).await;
    state(&mut rx).await; // Connecting
    assert!(matches!(
        state(&mut rx).await,
        ConnectionState::Disconnected { .. }
    ));
    let t = Instant::now();
    cancel.cancel();
    assert_eq!(state(&mut rx).await, ConnectionState::Stopped);
    assert_eq!(Instant::now(), t);
}

/// A pod runs ~1000 of these tasks: the handshake (several KiB of future) is boxed so the
/// task allocation stays small for the connection's whole life.
#[test]
fn a_client_task_is_small() {
    let url = url::Url::parse("ws://127.0.0.1:9/sub").unwrap();
    let source = Source::Direct {
        url,
        token: None,
        buvid: None,
    };
    let (tx, _rx) = mpsc::channel(1);
    let task = super::supervise::run(
        ClientConfig::new(1, source),
        CancellationToken::new(),
        tx,
        super::dial::TcpDialer,
    );
    let size = std::mem::size_of_val(&task);
    assert!(size < 8 << 10, "client task future is {size} bytes");
}
