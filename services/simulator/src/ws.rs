//! The `/sub` WebSocket: auth within the deadline, token/room/UA/uid checks, op-8 reply,
//! heartbeat replies with the echo quirk, the heartbeat timeout, and writing the frames the
//! traffic thread queues. One task per connection, a bounded queue, no other per-connection
//! state, so thousands of connections stay cheap.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket};
use bilipulse_bilibili::wire::{self, HEADER_LEN, Header, op};
use futures::SinkExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use crate::batch::Encoding;
use crate::clock::unix_ms;
use crate::hub::{Outgoing, Sub};
use crate::shared::Shared;
use crate::traffic::event::{Body, Ev};
use crate::truth::{ConnEvent, ConnRecord};

/// Largest client message accepted (auth and heartbeats are tiny).
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 << 10;

struct Authed {
    room_idx: usize,
    room: u64,
    uid: u64,
    masked: bool,
    enc: Encoding,
}

fn conn_record(conn: u64, event: ConnEvent) -> ConnRecord {
    ConnRecord {
        conn,
        event,
        room: None,
        masked: None,
        protover: None,
        uid: None,
        reason: None,
        unsent_events: None,
        ts: unix_ms(),
    }
}

/// A field that may arrive as a number or a numeric string.
fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Splits one client packet (header + body) out of a binary message.
pub(crate) fn client_packet(data: &[u8]) -> Option<(Header, &[u8])> {
    let h = Header::parse(data).ok()?;
    if usize::from(h.header_len) != HEADER_LEN {
        return None;
    }
    let end = (h.packet_len as usize).min(data.len());
    Some((h, data.get(HEADER_LEN..end).unwrap_or_default()))
}

fn check_auth(shared: &Shared, body: &[u8], user_agent: &str) -> Result<Authed, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("auth body is not JSON: {e}"))?;
    let room = as_u64(v.get("roomid")).ok_or("auth without roomid")?;
    let uid = as_u64(v.get("uid")).unwrap_or(0);
    let (room_idx, _) = shared
        .dir
        .by_real(room)
        .ok_or_else(|| format!("room {room} is not a real room id served here"))?;
    let key = v.get("key").and_then(Value::as_str).unwrap_or("");
    let buvid = v.get("buvid").and_then(Value::as_str).unwrap_or("");
    let strict = !shared.cfg.lenient_auth;
    if strict || !buvid.is_empty() {
        if buvid.is_empty() {
            return Err("auth without buvid".into());
        }
        if !shared.identity.knows_buvid(buvid) {
            return Err("buvid was not issued by this server".into());
        }
    }
    let token_uid = if key.is_empty() {
        if strict {
            return Err("auth without key".into());
        }
        // Degraded tokenless mode: always anonymous.
        0
    } else {
        let b = shared.identity.token(key).ok_or("unknown or expired key")?;
        if b.room != room {
            return Err(format!("key was issued for room {}, not {room}", b.room));
        }
        if b.user_agent != user_agent {
            return Err("key was issued to another User-Agent".into());
        }
        if b.uid != uid {
            return Err(format!("key was issued to uid {}, auth says {uid}", b.uid));
        }
        b.uid
    };
    if shared.faults.take_refuse_auth() {
        return Err("fault: refuse_auth".into());
    }
    let enc = Encoding::from_protover(as_u64(v.get("protover")), shared.cfg.default_protover);
    Ok(Authed {
        room_idx,
        room,
        uid,
        masked: token_uid == 0,
        enc,
    })
}

/// Waits for the auth packet until the deadline. `Err` carries the reason to log.
async fn read_auth(socket: &mut WebSocket, deadline: Instant) -> Result<Vec<u8>, String> {
    loop {
        let msg = match timeout_at(deadline, socket.recv()).await {
            Err(_) => return Err("no auth before the deadline".into()),
            Ok(None) => return Err("closed before auth".into()),
            Ok(Some(Err(e))) => return Err(format!("socket error before auth: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(data) => {
                return match client_packet(&data) {
                    Some((h, body)) if h.op == op::AUTH => Ok(body.to_vec()),
                    Some((h, _)) => Err(format!("first packet is op {}, not auth", h.op)),
                    None => Err("first packet is malformed".into()),
                };
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Text(_) => return Err("text message before auth".into()),
            Message::Close(_) => return Err("closed before auth".into()),
        }
    }
}

/// Serves one `/sub` connection to its end.
pub(crate) async fn serve(mut socket: WebSocket, shared: Arc<Shared>, user_agent: String) {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    shared.truth.record_conn(conn_record(conn, ConnEvent::Open));
    let deadline = Instant::now() + shared.cfg.auth_timeout();
    let authed = match read_auth(&mut socket, deadline).await {
        Ok(body) => check_auth(&shared, &body, &user_agent),
        Err(reason) => {
            let mut rec = conn_record(conn, ConnEvent::Refused);
            rec.reason = Some(reason);
            shared.truth.record_conn(rec);
            return;
        }
    };
    let a = match authed {
        Ok(a) => a,
        Err(reason) => {
            tracing::debug!(conn, %reason, "auth refused");
            let _ = socket
                .send(Message::Binary(wire::encode_auth_reply(-101).into()))
                .await;
            let _ = socket.send(Message::Close(None)).await;
            let mut rec = conn_record(conn, ConnEvent::Refused);
            rec.reason = Some(reason);
            shared.truth.record_conn(rec);
            return;
        }
    };
    let (tx, rx) = mpsc::channel(shared.cfg.conn_queue.max(1));
    let cancel = shared.cancel.child_token();
    // The connection joins its room before the reply goes out, and the truth says so first:
    // whatever the room emits from the moment the client can know it is in is queued for it
    // (and sent after the reply and the notice), so "authenticated from here on" in the truth
    // log never covers an event the connection could not get.
    let live = shared.replay.is_none();
    if live {
        shared.hub.subscribe(
            a.room_idx,
            Sub {
                conn,
                masked: a.masked,
                enc: a.enc,
                tx,
                cancel: cancel.clone(),
            },
        );
    }
    let mut rec = conn_record(conn, ConnEvent::Auth);
    rec.room = Some(a.room);
    rec.masked = Some(a.masked);
    rec.protover = Some(a.enc.protover());
    rec.uid = Some(a.uid);
    shared.truth.record_conn(rec);
    if socket
        .send(Message::Binary(wire::encode_auth_reply(0).into()))
        .await
        .is_err()
    {
        if live {
            shared.hub.unsubscribe(a.room_idx, conn);
        }
        let mut rec = conn_record(conn, ConnEvent::Close);
        rec.room = Some(a.room);
        rec.masked = Some(a.masked);
        rec.reason = Some("client gone before the auth reply".to_owned());
        shared.truth.record_conn(rec);
        return;
    }
    if a.masked {
        // Anonymous connections are told right away that names are hidden.
        let notice = shared.login_notice(a.enc);
        if socket.send(Message::Binary(notice)).await.is_ok() {
            let ev = Ev {
                seq: 0,
                room_seq: 0,
                ts_ms: unix_ms(),
                dup_of: None,
                body: Body::LogInNotice,
            };
            shared.truth.record_conn_message(a.room, &ev, conn);
        }
    }
    if let Some(feed) = &shared.replay {
        let end =
            crate::replay::pump(socket, feed, a.enc, shared.cfg.heartbeat_timeout(), &cancel).await;
        tracing::info!(conn, room = a.room, frames = end.frames, commands = end.commands,
            reason = %end.reason, "load-mode connection ended");
        let mut rec = conn_record(conn, ConnEvent::Close);
        rec.room = Some(a.room);
        rec.masked = Some(a.masked);
        rec.reason = Some(end.reason);
        shared.truth.record_conn(rec);
        return;
    }
    let (reason, unsent) = pump(&mut socket, &shared, &a, rx, &cancel).await;
    shared.hub.unsubscribe(a.room_idx, conn);
    let mut rec = conn_record(conn, ConnEvent::Close);
    rec.room = Some(a.room);
    rec.masked = Some(a.masked);
    rec.reason = Some(reason);
    rec.unsent_events = Some(unsent);
    shared.truth.record_conn(rec);
}

/// The authenticated phase; returns why it ended and how many queued events were not sent.
async fn pump(
    socket: &mut WebSocket,
    shared: &Shared,
    a: &Authed,
    mut rx: mpsc::Receiver<Outgoing>,
    cancel: &CancellationToken,
) -> (String, u64) {
    let hb_timeout = shared.cfg.heartbeat_timeout();
    let mut hb_deadline = Instant::now() + hb_timeout;
    let reason = loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                break if shared.cancel.is_cancelled() { "shutdown" } else { "dropped (fault or slow consumer)" }.to_owned();
            }
            () = sleep_until(hb_deadline) => break "heartbeat timeout".to_owned(),
            msg = socket.recv() => match msg {
                None => break "client closed".to_owned(),
                Some(Err(e)) => break format!("socket error: {e}"),
                Some(Ok(Message::Close(_))) => break "client closed".to_owned(),
                Some(Ok(Message::Binary(data))) => {
                    let Some((h, body)) = client_packet(&data) else { continue };
                    if h.op == op::HEARTBEAT {
                        hb_deadline = Instant::now() + hb_timeout;
                        if shared.faults.stalled(a.room) {
                            continue;
                        }
                        let reply = wire::encode_heartbeat_reply(1, body);
                        if socket.send(Message::Binary(reply.into())).await.is_err() {
                            break "write failed".to_owned();
                        }
                    }
                }
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                None => break "queue closed".to_owned(),
                Some(Outgoing::Raw(b)) => {
                    if socket.send(Message::Binary(b)).await.is_err() {
                        break "write failed".to_owned();
                    }
                }
                Some(Outgoing::Frames { frames, .. }) => {
                    let mut ok = true;
                    for f in frames.iter() {
                        if socket.feed(Message::Binary(f.clone())).await.is_err() {
                            ok = false;
                            break;
                        }
                    }
                    if !ok || socket.flush().await.is_err() {
                        break "write failed".to_owned();
                    }
                }
            },
        }
    };
    rx.close();
    let mut unsent = 0u64;
    while let Ok(o) = rx.try_recv() {
        if let Outgoing::Frames { events, .. } = o {
            unsent += u64::from(events);
        }
    }
    (reason, unsent)
}
