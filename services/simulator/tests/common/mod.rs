//! Helpers shared by the simulator's scenario tests: a plain HTTP client that resolves a room
//! like Bilibili's web client does, and a raw WebSocket client (tokio-tungstenite) that speaks
//! the packet protocol through the protocol library's `wire` module.

#![allow(dead_code)]

use std::time::Duration;

use bilipulse_bilibili::wbi;
use bilipulse_bilibili::wire::{self, FrameDecoder, Limits, Packet, op, protover};
use bilipulse_sim::{SimConfig, SimHandle};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// A current desktop Chrome, as the spec recommends.
pub const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36";

/// Upper bound for anything to happen on a loaded CI machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub async fn start(cfg: SimConfig) -> SimHandle {
    bilipulse_sim::start(cfg).await.expect("simulator starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(UA)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

pub async fn get_json(client: &reqwest::Client, url: &str, cookie: Option<&str>) -> Value {
    let mut req = client.get(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body")
}

/// finger/spi → buvid3.
pub async fn buvid3(sim: &SimHandle, client: &reqwest::Client) -> String {
    let v = get_json(
        client,
        &format!("{}x/frontend/finger/spi", sim.http_base()),
        None,
    )
    .await;
    v["data"]["b_3"].as_str().expect("b_3").to_owned()
}

/// nav → mixin key (anonymous call).
pub async fn mixin_key(sim: &SimHandle, client: &reqwest::Client) -> String {
    let v = get_json(
        client,
        &format!("{}x/web-interface/nav", sim.http_base()),
        None,
    )
    .await;
    let img = wbi::key_from_url(v["data"]["wbi_img"]["img_url"].as_str().expect("img_url"))
        .expect("img key");
    let sub = wbi::key_from_url(v["data"]["wbi_img"]["sub_url"].as_str().expect("sub_url"))
        .expect("sub key");
    wbi::mixin_key(img, sub)
}

/// The signed getDanmuInfo URL for `room` at `wts`.
pub fn danmu_info_url(sim: &SimHandle, room: u64, mixin: &str, wts: i64) -> String {
    let id = room.to_string();
    let q = wbi::sign(
        &[
            ("id", id.as_str()),
            ("type", "0"),
            ("web_location", "444.8"),
        ],
        mixin,
        wts,
    );
    format!(
        "{}xlive/web-room/v1/index/getDanmuInfo?{}",
        sim.http_base(),
        q.query()
    )
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Everything a client needs to authenticate: the full web flow over HTTP.
pub struct Creds {
    pub buvid: String,
    pub token: String,
}

pub async fn resolve(sim: &SimHandle, room: u64, sessdata: Option<&str>) -> Creds {
    let client = http();
    let buvid = buvid3(sim, &client).await;
    let mixin = mixin_key(sim, &client).await;
    let cookie = match sessdata {
        Some(s) => format!("buvid3={buvid}; SESSDATA={s}"),
        None => format!("buvid3={buvid}"),
    };
    let v = get_json(
        &client,
        &danmu_info_url(sim, room, &mixin, now_s()),
        Some(&cookie),
    )
    .await;
    assert_eq!(v["code"], 0, "getDanmuInfo: {v}");
    Creds {
        buvid,
        token: v["data"]["token"].as_str().expect("token").to_owned(),
    }
}

/// A raw `/sub` client.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub decoder: FrameDecoder,
}

/// What one WebSocket message decoded to.
#[derive(Debug)]
pub enum Frame {
    /// Packets of a binary message (and the raw bytes).
    Packets {
        raw: Bytes,
        packets: Vec<Packet>,
        error: Option<String>,
    },
    /// The server closed or the connection ended.
    Closed,
}

impl Ws {
    pub async fn connect(sim: &SimHandle, user_agent: Option<&str>) -> Ws {
        let mut req = sim
            .ws_url()
            .as_str()
            .into_client_request()
            .expect("request");
        if let Some(ua) = user_agent {
            req.headers_mut()
                .insert("User-Agent", ua.parse().expect("header"));
        }
        let (stream, _) = connect_async(req).await.expect("websocket connects");
        Ws {
            stream,
            decoder: FrameDecoder::new(Limits::default()),
        }
    }

    pub async fn send_packet(&mut self, op: u32, body: &[u8]) {
        let p = wire::encode_packet(op, protover::PLAIN, 1, body);
        self.stream
            .send(Message::Binary(p.into()))
            .await
            .expect("send");
    }

    pub async fn auth(&mut self, uid: u64, room: u64, protover: u16, creds: &Creds) {
        let body = serde_json::json!({
            "uid": uid, "roomid": room, "protover": protover, "platform": "web", "type": 2,
            "buvid": creds.buvid, "key": creds.token,
        });
        self.send_packet(op::AUTH, body.to_string().as_bytes())
            .await;
    }

    pub async fn heartbeat(&mut self, body: &[u8]) {
        self.send_packet(op::HEARTBEAT, body).await;
    }

    /// The next message, or `None` at the deadline.
    pub async fn next(&mut self, deadline: Instant) -> Option<Frame> {
        loop {
            let msg = match timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Frame::Closed),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Binary(raw) => {
                    let mut packets = Vec::new();
                    let error = self
                        .decoder
                        .decode(raw.clone(), &mut packets)
                        .err()
                        .map(|e| e.to_string());
                    return Some(Frame::Packets {
                        raw,
                        packets,
                        error,
                    });
                }
                Message::Close(_) => return Some(Frame::Closed),
                _ => continue,
            }
        }
    }

    /// Waits for the auth reply and returns its code.
    pub async fn auth_code(&mut self) -> i64 {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.next(deadline).await {
                Some(Frame::Packets { packets, .. }) => {
                    for p in packets {
                        if let Packet::AuthReply(body) = p {
                            let v: Value = serde_json::from_slice(&body).expect("auth reply JSON");
                            return v["code"].as_i64().expect("code");
                        }
                    }
                }
                other => panic!("no auth reply: {other:?}"),
            }
        }
    }

    /// Connects, authenticates and checks the reply is code 0.
    pub async fn open(sim: &SimHandle, room: u64, protover: u16, uid: u64, creds: &Creds) -> Ws {
        let mut ws = Ws::connect(sim, Some(UA)).await;
        ws.auth(uid, room, protover, creds).await;
        assert_eq!(ws.auth_code().await, 0, "auth accepted");
        ws
    }

    /// Reads until the connection ends; returns how long that took, or `None` at the deadline.
    pub async fn wait_closed(&mut self, deadline: Instant) -> Option<Duration> {
        let start = Instant::now();
        loop {
            match self.next(deadline).await {
                None => return None,
                Some(Frame::Closed) => return Some(start.elapsed()),
                Some(_) => continue,
            }
        }
    }
}

/// A command body's `cmd` with Bilibili's suffixes stripped (`DANMU_MSG:4:0:2:2:2:0`).
pub fn base_cmd(v: &Value) -> String {
    let cmd = v["cmd"].as_str().unwrap_or_default();
    cmd.split(':').next().unwrap_or_default().to_owned()
}
