//! The WebSocket client against a scripted server on real 127.0.0.1 sockets: the handshake
//! headers, the auth body, packets and containers, malformed and oversized frames, cancellation.
//! Timers are set far out so nothing here depends on timing; the timer schedule itself is
//! tested on the paused clock in `src/client/tests.rs`, and the whole path against the
//! simulator in the simulator crate.

use std::io::Write;
use std::time::Duration;

use bilipulse_bilibili::client::{
    self, ClientConfig, ClientEvent, ConnectionState, DisconnectReason, MaskReason, Source,
};
use bilipulse_bilibili::wire::{self, FrameDecoder, Limits, Packet, op, protover};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

const UA: &str = "bilipulse-client-test/1.0";
const ROOM: u64 = 14073662;
/// Deadline for anything to happen.
const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<TcpStream>;

struct Peer {
    listener: TcpListener,
    url: url::Url,
}

impl Peer {
    async fn start() -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("ws://{}/sub", listener.local_addr().unwrap())).unwrap();
        Peer { listener, url }
    }

    /// Accepts one WebSocket, returning it with the handshake's User-Agent.
    // The handshake callback's error type is tungstenite's, not ours.
    #[allow(clippy::result_large_err)]
    async fn accept(&self) -> (Ws, String) {
        let (tcp, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("client connects")
            .unwrap();
        let mut ua = String::new();
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            assert_eq!(req.uri().path(), "/sub");
            ua = req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Ok(resp)
        })
        .await
        .unwrap();
        (ws, ua)
    }

    fn config(&self, uid: u64) -> ClientConfig {
        let mut cfg = ClientConfig::new(
            ROOM,
            Source::Direct {
                url: self.url.clone(),
                token: Some("tok-123".into()),
                buvid: Some("BUVID-1infoc".into()),
            },
        );
        cfg.uid = uid;
        cfg.user_agent = UA.into();
        // Far out: nothing in these tests may depend on a timer firing.
        cfg.heartbeat = Duration::from_secs(3600);
        cfg.dead_after = Duration::from_secs(7200);
        cfg.auth_timeout = Duration::from_secs(3600);
        cfg.backoff_min = Duration::from_millis(10);
        cfg.backoff_max = Duration::from_millis(10);
        cfg
    }
}

/// The next client packet (op and body), skipping nothing.
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

/// Reads the auth packet, checks it, and answers with `code`.
async fn authenticate(ws: &mut Ws, uid: u64, code: i64) {
    let (op_code, body) = client_packet(ws).await.expect("auth packet");
    assert_eq!(op_code, op::AUTH);
    let auth: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(auth["uid"], uid);
    assert_eq!(auth["roomid"], ROOM);
    assert_eq!(auth["protover"], 3);
    assert_eq!(auth["platform"], "web");
    assert_eq!(auth["type"], 2);
    assert_eq!(auth["buvid"], "BUVID-1infoc");
    assert_eq!(auth["key"], "tok-123");
    ws.send(Message::Binary(wire::encode_auth_reply(code).into()))
        .await
        .unwrap();
}

fn command(cmd: &str, n: u32) -> Vec<u8> {
    let body = format!(r#"{{"cmd":"{cmd}","data":{{"n":{n}}}}}"#);
    wire::encode_packet(op::MESSAGE, protover::JSON, 0, body.as_bytes())
}

/// A brotli (protover 3) container of the given packets, as the web server sends them.
fn brotli_container(packets: &[Vec<u8>]) -> Vec<u8> {
    let inner: Vec<u8> = packets.concat();
    let mut packed = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut packed, 4096, 5, 22);
        w.write_all(&inner).unwrap();
    }
    wire::encode_packet(op::MESSAGE, protover::BROTLI, 0, &packed)
}

async fn next(rx: &mut Receiver<ClientEvent>) -> ClientEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

async fn next_state(rx: &mut Receiver<ClientEvent>) -> ConnectionState {
    match next(rx).await {
        ClientEvent::State(s) => s,
        other => panic!("expected a state, got {other:?}"),
    }
}

/// The cmds of a frame's batch, in order.
fn cmds_of(ev: &ClientEvent) -> Vec<String> {
    match ev {
        ClientEvent::Commands(batch) => {
            assert!(!batch.bodies.is_empty(), "a batch is never empty");
            batch
                .bodies
                .iter()
                .map(|body| {
                    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
                    v["cmd"].as_str().unwrap().to_owned()
                })
                .collect()
        }
        other => panic!("expected commands, got {other:?}"),
    }
}

#[tokio::test]
async fn authenticates_heartbeats_at_once_and_delivers_commands() {
    let peer = Peer::start().await;
    let cancel = CancellationToken::new();
    let cfg = peer.config(0);
    let stats = cfg.stats.clone();
    let (mut rx, handle) = client::spawn(cfg, cancel.clone());

    assert!(matches!(
        next_state(&mut rx).await,
        ConnectionState::Connecting { attempt: 0, .. }
    ));
    let (mut ws, ua) = peer.accept().await;
    assert_eq!(ua, UA, "the handshake carries the configured User-Agent");
    authenticate(&mut ws, 0, 0).await;
    assert!(matches!(
        next_state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
    assert_eq!(
        next_state(&mut rx).await,
        ConnectionState::Masked {
            reason: MaskReason::AnonymousUid
        }
    );
    // The period is an hour, so this heartbeat is the one sent right after auth.
    let (hb, _) = client_packet(&mut ws).await.unwrap();
    assert_eq!(hb, op::HEARTBEAT);
    ws.send(Message::Binary(
        wire::encode_heartbeat_reply(7, wire::HEARTBEAT_BODY).into(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut rx).await, ClientEvent::Popularity(7));

    // Several packets per frame, compressed and not; LOG_IN_NOTICE does not re-report Masked.
    let mut frame = brotli_container(&[command("DANMU_MSG", 1), command("LOG_IN_NOTICE", 2)]);
    frame.extend(command("INTERACT_WORD_V2", 3));
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // The frame's commands arrive as one batch, in order.
    let got = next(&mut rx).await;
    assert_eq!(
        cmds_of(&got),
        ["DANMU_MSG", "LOG_IN_NOTICE", "INTERACT_WORD_V2"]
    );
    let ClientEvent::Commands(batch) = &got else {
        unreachable!()
    };
    assert!(
        (batch.recv_ms - before).abs() < 60_000,
        "recv_ms is wall-clock ms"
    );
    assert_eq!(stats.snapshot().commands, 3);

    // Cancel: a close frame reaches the server, then Stopped, then the task ends.
    cancel.cancel();
    let closed = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(_))) => break true,
            Some(Ok(_)) => continue,
            _ => break false,
        }
    };
    assert!(closed, "the client sent a close frame");
    // Reading on sends our half of the closing handshake, which the client waits for.
    assert!(
        tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .is_none()
    );
    drop(ws);
    assert_eq!(next_state(&mut rx).await, ConnectionState::Stopped);
    handle.await.unwrap();
}

#[tokio::test]
async fn a_logged_in_connection_is_masked_only_on_log_in_notice() {
    let peer = Peer::start().await;
    let (mut rx, _handle) = client::spawn(peer.config(42), CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 42, 0).await;
    assert!(matches!(
        next_state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
    // The notice in the middle of a frame: the commands before it, then Masked, then the rest,
    // so that a consumer sees the state change where it happened.
    let mut frame = command("DANMU_MSG", 1);
    frame.extend(command("LOG_IN_NOTICE", 2));
    frame.extend(command("SEND_GIFT", 3));
    ws.send(Message::Binary(frame.into())).await.unwrap();
    ws.send(Message::Binary(command("LOG_IN_NOTICE", 4).into()))
        .await
        .unwrap();
    assert_eq!(cmds_of(&next(&mut rx).await), ["DANMU_MSG"]);
    assert_eq!(
        next_state(&mut rx).await,
        ConnectionState::Masked {
            reason: MaskReason::LogInNotice
        }
    );
    assert_eq!(
        cmds_of(&next(&mut rx).await),
        ["LOG_IN_NOTICE", "SEND_GIFT"]
    );
    // Once per connection: the second notice is only a command.
    assert_eq!(cmds_of(&next(&mut rx).await), ["LOG_IN_NOTICE"]);
}

#[tokio::test]
async fn malformed_frames_are_counted_and_the_good_packets_and_connection_kept() {
    let peer = Peer::start().await;
    let cfg = peer.config(5);
    let stats = cfg.stats.clone();
    let (mut rx, _handle) = client::spawn(cfg, CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 5, 0).await;
    next_state(&mut rx).await;

    // A good packet followed by a truncated header.
    let mut frame = command("DANMU_MSG", 1);
    frame.extend_from_slice(&[0, 0, 0, 99, 0, 16]);
    ws.send(Message::Binary(frame.into())).await.unwrap();
    // A brotli container with garbage inside, then a good packet in the same frame.
    let mut frame = wire::encode_packet(op::MESSAGE, protover::BROTLI, 0, b"definitely not brotli");
    frame.extend(command("SEND_GIFT", 2));
    ws.send(Message::Binary(frame.into())).await.unwrap();
    // A text frame is not part of the protocol either.
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.send(Message::Binary(command("LIKE_INFO_V3_UPDATE", 3).into()))
        .await
        .unwrap();

    // One batch per frame, each with the good packet of its frame.
    let cmds: Vec<String> = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ]
    .iter()
    .flat_map(cmds_of)
    .collect();
    assert_eq!(cmds, ["DANMU_MSG", "SEND_GIFT", "LIKE_INFO_V3_UPDATE"]);
    assert_eq!(stats.snapshot().malformed, 3);
    assert_eq!(stats.snapshot().connects, 1, "still the first connection");
}

#[tokio::test]
async fn an_oversized_frame_ends_the_connection_and_the_client_reconnects() {
    let peer = Peer::start().await;
    let mut cfg = peer.config(5);
    cfg.max_frame = 64 << 10;
    let (mut rx, _handle) = client::spawn(cfg, CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 5, 0).await;
    next_state(&mut rx).await;
    let big = wire::encode_packet(op::MESSAGE, protover::JSON, 0, &vec![b' '; 100 << 10]);
    let _ = ws.send(Message::Binary(big.into())).await;
    match next_state(&mut rx).await {
        ConnectionState::Disconnected { reason, .. } => {
            assert!(matches!(reason, DisconnectReason::Read { .. }), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next_state(&mut rx).await,
        ConnectionState::Connecting { .. }
    ));
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 5, 0).await;
    assert!(matches!(
        next_state(&mut rx).await,
        ConnectionState::Authenticated { .. }
    ));
}

#[tokio::test]
async fn dropping_the_receiver_ends_the_task() {
    let peer = Peer::start().await;
    let (rx, handle) = client::spawn(peer.config(5), CancellationToken::new());
    let (mut ws, _) = peer.accept().await;
    drop(rx);
    authenticate(&mut ws, 5, 0).await;
    tokio::time::timeout(WAIT, handle)
        .await
        .expect("task ends")
        .unwrap();
}
