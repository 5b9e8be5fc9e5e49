//! `/ws`: the WebSocket transport of the protocol in `docs/websocket.md`.
//!
//! Each connection is two halves in one task: the reader feeds client frames to its
//! [`Client`], the writer drains the client's queue, feeding every frame queued at that moment
//! and flushing once, so a burst goes out in one socket write.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use futures::stream::SplitSink;
use futures::{SinkExt as _, StreamExt as _};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app::App;
use crate::client::Client;
use crate::frame::{AnnouncedLimits, Control, Frame, PROTOCOL_VERSION};
use crate::metrics::Label;
use crate::queue::{Batch, ClientQueue, CloseReason};

/// Frames taken from the queue per socket write at most.
const WRITE_BATCH: usize = 256;

/// `GET /ws`: checks the origin and the connection limit, then upgrades.
pub async fn upgrade(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Err(refused) = app.check_origin(&headers) {
        return refused.into_response();
    }
    let permit = match app.slot() {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let c = app.conn;
    ws.read_buffer_size(c.read_buffer)
        .write_buffer_size(c.write_buffer)
        .max_write_buffer_size(c.write_buffer.max(c.max_frame_bytes) * 64)
        // The protocol's limit is enforced on whole frames below (then the frame has been read
        // and the close is orderly); tungstenite's own cap only stops frames far over it
        // without reading them.
        .max_message_size(hard_frame_cap(c.max_frame_bytes))
        .max_frame_size(hard_frame_cap(c.max_frame_bytes))
        .on_upgrade(move |socket| serve(socket, app, permit))
}

/// Frames up to this size are read whole and refused by [`read`] with an orderly 1009; larger
/// ones make tungstenite stop reading at once.
fn hard_frame_cap(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_mul(16).max(64 * 1024)
}

/// Why a connection ended, as the close frame says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed or went away.
    ClientGone,
    /// The gateway closed it.
    Closed(CloseReason),
    /// The client sent a frame over the size limit.
    TooLarge,
    /// Nothing arrived for the idle timeout.
    Idle,
}

impl Ending {
    fn close_frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            Ending::ClientGone => return None,
            Ending::Closed(CloseReason::TooSlow) => (close_code::POLICY, "too slow"),
            Ending::Closed(CloseReason::ShuttingDown) => {
                (close_code::AWAY, "gateway shutting down")
            }
            Ending::TooLarge => (close_code::SIZE, "frame too large"),
            Ending::Idle => (close_code::NORMAL, "idle timeout"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

async fn serve(socket: WebSocket, app: App, permit: OwnedSemaphorePermit) {
    let gauge = app
        .metrics
        .connections
        .get_or_create(&Label::of("ws"))
        .clone();
    gauge.inc();
    let (queue, mut client) = app.client();
    queue.push_control(
        Control::Hello {
            version: PROTOCOL_VERSION,
            limits: AnnouncedLimits {
                max_rooms: app.limits.max_rooms,
                max_frame_bytes: app.conn.max_frame_bytes,
                max_msgs_per_sec: app.limits.max_msgs_per_sec.get(),
            },
        }
        .to_frame(),
    );
    let (mut sink, mut stream) = socket.split();
    let ending = tokio::select! {
        e = write(&mut sink, &queue, &app) => e,
        e = read(&mut stream, &mut client, &app) => e,
        _ = app.shutdown.cancelled() => Ending::Closed(CloseReason::ShuttingDown),
    };
    if let Some(frame) = ending.close_frame() {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
    drop(client); // leaves every topic
    gauge.dec();
    drop(permit);
}

/// Reads client frames until the client leaves, errs, idles out or sends too large a frame.
async fn read(
    stream: &mut futures::stream::SplitStream<WebSocket>,
    client: &mut Client,
    app: &App,
) -> Ending {
    loop {
        let next = tokio::time::timeout(app.conn.idle_timeout, stream.next()).await;
        let msg = match next {
            Err(_) => return Ending::Idle,
            Ok(None) => return Ending::ClientGone,
            Ok(Some(Err(e))) => {
                return match e.into_inner().downcast::<tungstenite_error::Error>() {
                    Ok(inner) if matches!(*inner, tungstenite_error::Error::Capacity(_)) => {
                        Ending::TooLarge
                    }
                    _ => Ending::ClientGone,
                };
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(text) if text.len() > app.conn.max_frame_bytes => {
                return Ending::TooLarge;
            }
            Message::Binary(b) if b.len() > app.conn.max_frame_bytes => return Ending::TooLarge,
            Message::Text(text) => client.on_text(text.as_str()),
            Message::Binary(_) => client.on_binary(),
            Message::Ping(_) | Message::Pong(_) => {} // answered by tungstenite; counts as activity
            Message::Close(_) => return Ending::ClientGone,
        }
    }
}

/// The tungstenite error type behind axum's WebSocket errors, to tell "frame too large" apart.
mod tungstenite_error {
    pub use tokio_tungstenite::tungstenite::Error;
}

/// Writes queued frames (coalesced) and pings until the queue closes or the socket fails.
async fn write(sink: &mut SplitSink<WebSocket, Message>, queue: &ClientQueue, app: &App) -> Ending {
    let mut ping = tokio::time::interval_at(
        Instant::now() + app.conn.ping_interval,
        app.conn.ping_interval,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The earliest moment of the next write: one write interval after the last one. A full
    // batch does not wait; after a quiet spell the moment is in the past and nothing waits.
    let mut next_write = Instant::now();
    loop {
        if next_write > Instant::now() && queue.len() < WRITE_BATCH {
            tokio::time::sleep_until(next_write).await;
        }
        let batch = tokio::select! {
            b = queue.next(WRITE_BATCH) => b,
            _ = ping.tick() => {
                if send_within(sink, Message::Ping(Default::default()), app).await.is_err() {
                    return Ending::ClientGone;
                }
                continue;
            }
        };
        let frames: Vec<Frame> = match batch {
            Batch::Close(reason) => return Ending::Closed(reason),
            Batch::Frames(f) => f,
        };
        let n = frames.len() as u64;
        if frames
            .first()
            .is_some_and(|f| f.as_str().starts_with(r#"{"type":"lag""#))
        {
            app.metrics.lags.inc();
        }
        let wrote = tokio::time::timeout(app.conn.stuck_after, async {
            for f in frames {
                sink.feed(Message::Text(f)).await?;
            }
            sink.flush().await
        })
        .await;
        match wrote {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ending::ClientGone,
            Err(_) => {
                app.metrics.closed_slow.inc();
                return Ending::Closed(CloseReason::TooSlow);
            }
        }
        next_write = Instant::now() + app.conn.write_interval;
        app.metrics.writes.inc();
        app.metrics.frames.inc_by(n);
        if n > 1 {
            app.metrics.coalesced_writes.inc();
        }
    }
}

async fn send_within(
    sink: &mut SplitSink<WebSocket, Message>,
    msg: Message,
    app: &App,
) -> Result<(), ()> {
    match tokio::time::timeout(app.conn.stuck_after, sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async fn returns, without calling it.
    fn future_size<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every connection's task holds this future: at 19 000 connections each kilobyte here is
    /// 19 MB of gateway memory (docs/benchmarks.md, "memory per connection"). It was 5.5 KiB
    /// while `App` was held by value.
    #[test]
    fn a_connections_future_stays_small() {
        let size = future_size(serve);
        assert!(size <= 2048, "the connection future grew to {size} bytes");
        assert_eq!(std::mem::size_of::<App>(), std::mem::size_of::<usize>());
    }
}
