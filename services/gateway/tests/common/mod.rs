//! The world the gateway scenarios run in: a real `nats-server` with JetStream, the gateway as
//! a real process (the `bilipulse-gateway` binary), summaries and events published into the
//! bus's streams exactly as the windower and the ingesters store them, and WebSocket clients
//! over real sockets.

#![allow(dead_code)] // each scenario file uses a different part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream;
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{Danmaku, Payload, RoomEvent, SCHEMA_VERSION, WindowSummary, streams};
use bilipulse_runtime::bus;
pub use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::config::{NatsConfig, StreamOverrides};
use bilipulse_testkit::NatsServer;
use bilipulse_testkit::process::ServiceProcess;
#[allow(unused_imports)] // used by the multi-process scenarios only
pub use bilipulse_testkit::stack::scenario_windower_flags;
pub use bilipulse_testkit::wait::{converge, eventually};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Upper bound for anything the scenarios wait for; generous because the box is shared.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The API token the scenarios configure.
pub const TOKEN: &str = "test-token-8f2c";

/// NATS, a client of our own, and a directory for logs.
pub struct World {
    /// The NATS server.
    pub nats: NatsServer,
    /// JetStream context.
    pub js: jetstream::Context,
    /// `bili_rooms`.
    pub rooms: jetstream::kv::Store,
    /// Where gateway logs go.
    pub dir: tempfile::TempDir,
}

/// A running gateway process and its public address.
pub struct Gateway {
    /// The process.
    pub process: ServiceProcess,
    /// Where `/ws` and `/api` listen.
    pub addr: SocketAddr,
}

impl Gateway {
    /// `http://addr`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://addr/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Its metrics, summed over labels.
    pub async fn metric(&self, name: &str) -> f64 {
        self.process
            .metrics()
            .await
            .map(|m| m.sum(name))
            .unwrap_or(f64::NAN)
    }
}

impl World {
    /// Starts NATS with the bus's streams, or `None` (nats-server missing: test skipped).
    pub async fn start() -> Option<World> {
        let nats = NatsServer::start()?;
        let client = NatsConfig::new(nats.url());
        Some(World::on(nats, &client).await)
    }

    /// The world on a server already started, the scenario's own client connecting with
    /// `client` (a user allowed to create the bus's streams and write desired rooms).
    pub async fn on(nats: NatsServer, client: &NatsConfig) -> World {
        let client = bus::connect(client, "scenario")
            .await
            .expect("test client connects");
        let js = bus::jetstream(client);
        bus::ensure_streams(&js, &StreamOverrides::default())
            .await
            .expect("streams");
        let rooms = bus::ensure_bucket(&js, &streams::ROOMS, &StreamOverrides::default())
            .await
            .expect("rooms bucket");
        let dir = tempfile::Builder::new()
            .prefix("gateway-test-")
            .tempdir()
            .expect("temp dir");
        World {
            nats,
            js,
            rooms,
            dir,
        }
    }

    /// Adds a desired room.
    pub async fn add_room(&self, room: u64, alias: Option<u64>) {
        bilipulse_runtime::rooms::put(&self.rooms, room, alias, "test room")
            .await
            .expect("room written");
    }

    /// Starts a gateway with the test defaults plus `overrides` (flag → value; a value of ""
    /// removes the flag), and waits until it is ready. Unless `--listen` is given it listens
    /// on a port the kernel picks, learnt from its log (no other process can take the port
    /// between choosing and binding it); a restart that must keep the address passes
    /// `--listen` with the first one's.
    pub async fn gateway(&self, id: &str, overrides: &[(&str, &str)]) -> Gateway {
        let mut flags: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("--nats-url", self.nats.url().as_str()),
            ("--listen", "127.0.0.1:0"),
            ("--log", "info"),
            ("--api-token", TOKEN),
            ("--no-resolve", "true"),
        ] {
            flags.insert(k.into(), v.into());
        }
        for (k, v) in overrides {
            if v.is_empty() {
                flags.remove(*k);
            } else {
                flags.insert((*k).into(), (*v).into());
            }
        }
        let asked: SocketAddr = flags["--listen"].parse().expect("--listen is an address");
        let process = ServiceProcess::spawn(
            env!("CARGO_BIN_EXE_bilipulse-gateway").as_ref(),
            id,
            self.dir.path(),
            &flags,
        );
        // The gateway logs the address it bound (`gateway starting listen=…`) before anything
        // else can be ready; a test filter quieter than info would hide it.
        let addr = eventually(&format!("{id}'s listen address"), DEADLINE, async || {
            process.logged_addr("gateway starting", "listen").ok()
        })
        .await;
        assert!(
            asked.port() == 0 || addr == asked,
            "{id} listens on {addr}, not on the --listen {asked}"
        );
        let gw = Gateway { process, addr };
        eventually(&format!("{id} ready"), DEADLINE, async || {
            gw.process.is_ready().await.then_some(())
        })
        .await;
        gw
    }

    /// Publishes a summary into `BILI_SUMMARY` as the windower stores it; returns its sequence.
    pub async fn publish_summary(&self, s: &WindowSummary) -> u64 {
        let w: Window = s.window.parse().expect("window");
        let payload = bilipulse_proto::encode(s).expect("encodes");
        self.js
            .publish(subject::summary(s.room, w), payload.into())
            .await
            .expect("publish")
            .await
            .expect("ack")
            .sequence
    }

    /// Publishes a danmaku into `BILI_EVENTS` as an ingester does; returns its sequence.
    pub async fn publish_danmaku(&self, room: u64, n: u64, text: &str) -> u64 {
        let ev = danmaku(room, n, text);
        let payload = bilipulse_proto::encode(&ev).expect("encodes");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", ev.id.as_str());
        self.js
            .publish_with_headers(subject::event(room, ev.kind()), headers, payload.into())
            .await
            .expect("publish")
            .await
            .expect("ack")
            .sequence
    }

    /// Publishes raw bytes to any subject (garbage, in the scenarios that need it).
    pub async fn publish_raw(&self, subject: &str, payload: &'static [u8]) -> u64 {
        self.js
            .publish(subject.to_owned(), payload.into())
            .await
            .expect("publish")
            .await
            .expect("ack")
            .sequence
    }

    /// Stream sequences stored on `subject` of `stream`, in order.
    pub async fn sequences(&self, stream: &str, subject: &str) -> Vec<u64> {
        bilipulse_testkit::jetstream::read(&self.js, stream, subject)
            .await
            .into_iter()
            .map(|m| m.seq)
            .collect()
    }
}

/// A `1s` summary of `room` for the window starting at `start`.
pub fn summary(room: u64, window: Window, start: i64, rev: u32, danmaku: u64) -> WindowSummary {
    WindowSummary {
        v: SCHEMA_VERSION,
        room,
        window: window.to_string(),
        start,
        end: start + window.millis(),
        rev,
        events: danmaku,
        danmaku,
        chatters: danmaku.min(3),
        chatters_reliable: true,
        online_count: Some(1000 + danmaku),
        ..WindowSummary::default()
    }
}

/// The `n`-th danmaku of a scenario.
pub fn danmaku(room: u64, n: u64, text: &str) -> RoomEvent {
    let ts = now_ms();
    RoomEvent {
        v: SCHEMA_VERSION,
        room,
        cmd: "DANMU_MSG".into(),
        ts,
        recv: ts,
        id: format!("gw-test-{room}-{n}"),
        src: "scenario".into(),
        payload: Payload::Danmaku(Danmaku {
            uid: 1000 + n,
            uname: format!("viewer{n}"),
            text: text.to_owned(),
            ..Danmaku::default()
        }),
    }
}

/// A WebSocket client over a real socket.
pub struct WsClient {
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Close(u16),
    /// The socket ended without a close frame, or failed.
    Gone,
}

impl WsClient {
    /// Connects and reads the `hello`.
    pub async fn connect(url: &str) -> WsClient {
        WsClient::connect_with(url, None).await
    }

    /// Connects with a 4 KiB socket receive buffer, for a client that stops reading: the
    /// gateway's socket fills after a few hundred KiB instead of megabytes.
    pub async fn connect_small(url: &str) -> WsClient {
        WsClient::connect_with(url, Some(4096)).await
    }

    async fn connect_with(url: &str, recv_buffer: Option<u32>) -> WsClient {
        let addr: SocketAddr = url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.parse().ok())
            .expect("ws://127.0.0.1:port/… URL");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(n) = recv_buffer {
            socket.set_recv_buffer_size(n).expect("SO_RCVBUF");
        }
        let tcp = socket.connect(addr).await.expect("tcp connects");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .expect("ws handshake");
        let mut c = WsClient { ws };
        let hello = c.next().await;
        assert_eq!(hello["type"], "hello", "first frame is hello: {hello}");
        c
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// Sends a JSON request.
    pub async fn request(&mut self, v: Value) {
        self.send(v.to_string()).await;
    }

    /// The next frame as JSON (panics on close or after the deadline).
    pub async fn next(&mut self) -> Value {
        match self.next_or_end(DEADLINE).await {
            Ok(v) => v,
            Err(e) => panic!("connection ended: {e:?}"),
        }
    }

    /// The next text frame as JSON, or how the connection ended.
    pub async fn next_or_end(&mut self, within: Duration) -> Result<Value, Ended> {
        loop {
            let m = tokio::time::timeout(within, self.ws.next())
                .await
                .expect("a frame within the deadline");
            match m {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("frames are JSON"));
                }
                Some(Ok(Message::Close(Some(f)))) => return Err(Ended::Close(f.code.into())),
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Err(Ended::Gone),
                Some(Ok(_)) => continue, // ping/pong
            }
        }
    }

    /// Reads frames until one satisfies `pick`; returns it and everything before it.
    pub async fn until(&mut self, mut pick: impl FnMut(&Value) -> bool) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let v = self.next().await;
            if pick(&v) {
                return (v, before);
            }
            before.push(v);
        }
    }

    /// Pings and waits for the pong: proves the connection is alive and everything sent
    /// before was answered. Returns the frames that came before the pong.
    pub async fn alive(&mut self) -> Vec<Value> {
        self.request(serde_json::json!({"op": "ping", "req": "alive"}))
            .await;
        let (_, before) = self
            .until(|v| v["type"] == "pong" && v["req"] == "alive")
            .await;
        before
    }

    /// Leaves: sends a close frame if the socket takes it within a second, then drops the
    /// connection either way. (tokio-tungstenite's close handshake can wait for a read-side
    /// wake-up that never comes while the socket stays writable, so it is not awaited without
    /// bound; the gateway must release the client whichever way it goes.)
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// Collects one topic's messages (history and live) from `frames`: `(seq, in_history)`.
pub fn seqs_of(frames: &[Value], room: u64, channel: &str) -> Vec<(u64, bool)> {
    let mut out = Vec::new();
    for f in frames {
        let is_topic = f["room"] == room && f["channel"] == channel;
        match f["type"].as_str() {
            Some("history") if is_topic => {
                for m in f["messages"].as_array().expect("messages") {
                    out.push((m["seq"].as_u64().expect("seq"), true));
                }
            }
            Some("message") if is_topic => out.push((f["seq"].as_u64().expect("seq"), false)),
            _ => {}
        }
    }
    out
}

/// The ingester and windower binaries of the multi-process scenarios, from this test's target
/// directory (`cargo build --workspace --bins` first when running one file alone), or `None`
/// (skipped; a failure under CI).
pub fn service_binaries() -> Option<(PathBuf, PathBuf)> {
    let tools = bilipulse_testkit::tools::workspace_bin;
    let ingester = bilipulse_testkit::require(
        "the bilipulse-ingester binary next to this test (cargo build --workspace --bins)",
        tools("bilipulse-ingester"),
    )?;
    let windower = bilipulse_testkit::require(
        "the bilipulse-windower binary next to this test (cargo build --workspace --bins)",
        tools("bilipulse-windower"),
    )?;
    Some((ingester, windower))
}

/// Bilibili for the multi-process scenarios: the simulator with one busy room (20 commands/s)
/// and an account `uid` whose SESSDATA the returned cookie file in `dir` holds, so an ingester
/// logs in and identities are not masked.
pub async fn simulated_room(
    room: u64,
    sessdata: &str,
    uid: u64,
    dir: &Path,
) -> (bilipulse_sim::SimHandle, PathBuf) {
    let mut cfg = bilipulse_sim::SimConfig::for_tests(&[bilipulse_sim::RoomSpec::new(
        room,
        bilipulse_sim::Profile::Busy,
    )
    .with_rate(20.0)]);
    cfg.heartbeat_timeout_ms = 120_000;
    cfg.accounts = vec![bilipulse_sim::Account {
        sessdata: sessdata.into(),
        uid,
        uname: format!("account-{uid}"),
    }];
    let sim = bilipulse_sim::start(cfg).await.expect("simulator starts");
    let cookie = dir.join("sessdata");
    std::fs::write(&cookie, sessdata).expect("cookie file");
    (sim, cookie)
}

/// Flags for a [`ServiceProcess`] from `(flag, value)` pairs.
pub fn flags(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
