//! The WebSocket client against a scripted peer on 127.0.0.1, on tokio's paused clock: the
//! production timers (30 s heartbeat, 70 s dead-connection limit, 10 s auth limit, 1 s – 60 s
//! back-off) run in virtual time, so their exact schedule is checked without waiting.
//!
//! The scripted peer plays the server side of the protocol step by step so each rule (auth
//! body, immediate heartbeat, dead detection, rejection, malformed frames) is observed from the
//! server's side. The end-to-end runs against the simulator are in the simulator crate.

use std::io::Write;
use std::time::Duration;

use bilipulse_bilibili::client::{
    self, ClientConfig, ClientEvent, ConnectionState, MaskReason, Source,
};
use bilipulse_bilibili::wire::{self, FrameDecoder, Limits, Packet, op, protover};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

const UA: &str = "bilipulse-client-test/1.0";
const ROOM: u64 = 14073662;
/// Long enough in virtual time for anything the client should do on its own.
const WAIT: Duration = Duration::from_secs(600);

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
    async fn accept(&self) -> (Ws, String) {
        let (tcp, _) = tokio::time::timeout(WAIT, self.listener.accept()).await.expect("client connects").unwrap();
        let mut ua = String::new();
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            assert_eq!(req.uri().path(), "/sub");
            ua = req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
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
        cfg
    }
}

/// The next client packet (op and body), skipping nothing.
async fn client_packet(ws: &mut Ws) -> Option<(u32, Bytes)> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(Message::Binary(b)) => {
                let mut out = Vec::new();
                FrameDecoder::new(Limits::default()).decode(b, &mut out).unwrap();
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
    ws.send(Message::Binary(wire::encode_auth_reply(code).into())).await.unwrap();
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
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an event in time").expect("channel open")
}

async fn next_state(rx: &mut Receiver<ClientEvent>) -> ConnectionState {
    match next(rx).await {
        ClientEvent::State(s) => s,
        other => panic!("expected a state, got {other:?}"),
    }
}

fn cmd_of(ev: &ClientEvent) -> String {
    match ev {
        ClientEvent::Command { body, .. } => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            v["cmd"].as_str().unwrap().to_owned()
        }
        other => panic!("expected a command, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn authenticates_heartbeats_at_once_and_delivers_commands() {
    let peer = Peer::start().await;
    let cancel = CancellationToken::new();
    let cfg = peer.config(0);
    let stats = cfg.stats.clone();
    let (mut rx, handle) = client::spawn(cfg, cancel.clone());

    assert!(matches!(next_state(&mut rx).await, ConnectionState::Connecting { attempt: 0, .. }));
    let (mut ws, ua) = peer.accept().await;
    assert_eq!(ua, UA, "the handshake carries the configured User-Agent");
    authenticate(&mut ws, 0, 0).await;
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Authenticated { .. }));
    assert_eq!(
        next_state(&mut rx).await,
        ConnectionState::Masked { reason: MaskReason::AnonymousUid }
    );
    // A heartbeat follows the auth reply without waiting for the period.
    let t0 = Instant::now();
    let (hb, _) = client_packet(&mut ws).await.unwrap();
    assert_eq!(hb, op::HEARTBEAT);
    assert_eq!(Instant::now(), t0);
    ws.send(Message::Binary(wire::encode_heartbeat_reply(7, wire::HEARTBEAT_BODY).into())).await.unwrap();
    assert_eq!(next(&mut rx).await, ClientEvent::Popularity(7));

    // Several packets per frame, compressed and not; LOG_IN_NOTICE does not re-report Masked.
    let mut frame = brotli_container(&[command("DANMU_MSG", 1), command("LOG_IN_NOTICE", 2)]);
    frame.extend(command("INTERACT_WORD_V2", 3));
    ws.send(Message::Binary(frame.into())).await.unwrap();
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let got: Vec<ClientEvent> = vec![next(&mut rx).await, next(&mut rx).await, next(&mut rx).await];
    let cmds: Vec<String> = got.iter().map(cmd_of).collect();
    assert_eq!(cmds, ["DANMU_MSG", "LOG_IN_NOTICE", "INTERACT_WORD_V2"]);
    for ev in &got {
        let ClientEvent::Command { recv_ms, .. } = ev else { unreachable!() };
        assert!((*recv_ms - before).abs() < 60_000, "recv_ms is wall-clock ms");
    }
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
    assert_eq!(next_state(&mut rx).await, ConnectionState::Stopped);
    handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_logged_in_connection_is_masked_only_on_log_in_notice() {
    let peer = Peer::start().await;
    let (mut rx, _handle) = client::spawn(peer.config(42), CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 42, 0).await;
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Authenticated { .. }));
    ws.send(Message::Binary(command("LOG_IN_NOTICE", 1).into())).await.unwrap();
    ws.send(Message::Binary(command("LOG_IN_NOTICE", 2).into())).await.unwrap();
    assert_eq!(next_state(&mut rx).await, ConnectionState::Masked { reason: MaskReason::LogInNotice });
    assert_eq!(cmd_of(&next(&mut rx).await), "LOG_IN_NOTICE");
    // Once per connection: the second notice is only a command.
    assert_eq!(cmd_of(&next(&mut rx).await), "LOG_IN_NOTICE");
}

#[tokio::test(start_paused = true)]
async fn heartbeats_every_30s_and_a_silent_server_is_dead_after_70s() {
    let peer = Peer::start().await;
    let (mut rx, _handle) = client::spawn(peer.config(7), CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 7, 0).await;
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Authenticated { .. }));
    let start = Instant::now();
    // The server never answers: it just records when heartbeats arrive.
    let mut beats = Vec::new();
    while let Some((o, _)) = client_packet(&mut ws).await {
        assert_eq!(o, op::HEARTBEAT);
        beats.push((Instant::now() - start).as_secs());
    }
    assert_eq!(beats, [0, 30, 60]);
    match next_state(&mut rx).await {
        ConnectionState::Disconnected { reason, retry_in } => {
            assert!(reason.contains("dead"), "{reason}");
            assert!(retry_in <= Duration::from_secs(1), "first retry within the 1 s ceiling");
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert_eq!((Instant::now() - start).as_secs(), 70);
    // Authenticated but no data ever flowed: that counts as a failure.
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Connecting { attempt: 1, .. }));
}

#[tokio::test(start_paused = true)]
async fn answered_heartbeats_keep_a_quiet_connection_alive() {
    let peer = Peer::start().await;
    let (mut rx, _handle) = client::spawn(peer.config(7), CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 7, 0).await;
    next_state(&mut rx).await;
    let start = Instant::now();
    let server = tokio::spawn(async move {
        while let Some((o, body)) = client_packet(&mut ws).await {
            if o == op::HEARTBEAT {
                let reply = wire::encode_heartbeat_reply(1, &body);
                if ws.send(Message::Binary(reply.into())).await.is_err() {
                    break;
                }
            }
        }
    });
    // Ten minutes of virtual time: one reply at auth and every 30 s, and no state change.
    for _ in 0..21 {
        match next(&mut rx).await {
            ClientEvent::Popularity(1) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((Instant::now() - start).as_secs(), 600);
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn rejected_auth_backs_off_exponentially_and_a_healthy_connection_resets_it() {
    let peer = Peer::start().await;
    let cfg = peer.config(0);
    let stats = cfg.stats.clone();
    let (mut rx, _handle) = client::spawn(cfg, CancellationToken::new());
    let mut waited: Option<(Instant, Duration)> = None;
    for (attempt, ceiling) in [1u64, 2, 4, 8].into_iter().enumerate() {
        match next_state(&mut rx).await {
            ConnectionState::Connecting { attempt: a, .. } => assert_eq!(a as usize, attempt),
            other => panic!("{other:?}"),
        }
        if let Some((since, retry_in)) = waited {
            let slept = Instant::now() - since;
            assert!(slept >= retry_in && slept <= retry_in + Duration::from_millis(2), "{slept:?} vs {retry_in:?}");
        }
        let (mut ws, _) = peer.accept().await;
        authenticate(&mut ws, 0, -101).await;
        match next_state(&mut rx).await {
            ConnectionState::Disconnected { reason, retry_in } => {
                assert!(reason.contains("auth rejected"), "{reason}");
                assert!(retry_in <= Duration::from_secs(ceiling), "{retry_in:?} > {ceiling}s");
                waited = Some((Instant::now(), retry_in));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stats.snapshot().auth_failures, 4);

    // Fifth attempt succeeds and data flows; when it then drops, the schedule starts over.
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Connecting { attempt: 4, .. }));
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 0, 0).await;
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Authenticated { .. }));
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Masked { .. }));
    ws.send(Message::Binary(command("DANMU_MSG", 1).into())).await.unwrap();
    assert_eq!(cmd_of(&next(&mut rx).await), "DANMU_MSG");
    drop(ws);
    match next_state(&mut rx).await {
        ConnectionState::Disconnected { retry_in, .. } => assert!(retry_in <= Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Connecting { attempt: 0, .. }));
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_auth_times_out_after_10s() {
    let peer = Peer::start().await;
    let (mut rx, _handle) = client::spawn(peer.config(0), CancellationToken::new());
    next_state(&mut rx).await;
    let (mut ws, _) = peer.accept().await;
    let start = Instant::now();
    let (o, _) = client_packet(&mut ws).await.unwrap();
    assert_eq!(o, op::AUTH);
    match next_state(&mut rx).await {
        ConnectionState::Disconnected { reason, .. } => assert!(reason.contains("no auth reply"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!((Instant::now() - start).as_secs(), 10);
}

#[tokio::test(start_paused = true)]
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
    ws.send(Message::Binary(command("LIKE_INFO_V3_UPDATE", 3).into())).await.unwrap();

    let cmds: Vec<String> = [next(&mut rx).await, next(&mut rx).await, next(&mut rx).await].iter().map(cmd_of).collect();
    assert_eq!(cmds, ["DANMU_MSG", "SEND_GIFT", "LIKE_INFO_V3_UPDATE"]);
    assert_eq!(stats.snapshot().malformed, 3);
    assert_eq!(stats.snapshot().connects, 1, "still the first connection");
}

#[tokio::test(start_paused = true)]
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
        ConnectionState::Disconnected { reason, .. } => assert!(reason.contains("read"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Connecting { .. }));
    let (mut ws, _) = peer.accept().await;
    authenticate(&mut ws, 5, 0).await;
    assert!(matches!(next_state(&mut rx).await, ConnectionState::Authenticated { .. }));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_receiver_ends_the_task() {
    let peer = Peer::start().await;
    let (rx, handle) = client::spawn(peer.config(5), CancellationToken::new());
    let (mut ws, _) = peer.accept().await;
    drop(rx);
    authenticate(&mut ws, 5, 0).await;
    tokio::time::timeout(WAIT, handle).await.expect("task ends").unwrap();
}
