//! `GET /api/rooms/{id}/stream?channels=…&history=…`: the WebSocket protocol's frames as
//! Server-Sent Events, for `curl -N` and `EventSource`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream};
use serde::Deserialize;

use crate::app::App;
use crate::client::Client;
use crate::frame::{self, Frame};
use crate::metrics::Label;
use crate::queue::{Batch, ClientQueue};
use crate::rest::ApiError;

/// Query of the SSE endpoint.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated channel names.
    channels: Option<String>,
    /// Send history first (default true).
    history: Option<bool>,
}

/// Opens the event stream, or answers 400/404/503 before it starts.
pub async fn stream(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = app.check_origin(&headers) {
        return refused.into_response();
    }
    let Ok(id) = id.parse::<u64>() else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "room ids are integers",
        )
        .into_response();
    };
    let channels: Vec<String> = q
        .channels
        .as_deref()
        .unwrap_or("1s")
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let permit = match app.slot() {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let (queue, mut client) = app.client();
    if let Err((code, message)) = client.check(&[id], &channels) {
        let status = match code {
            frame::ErrorCode::UnknownRoom => StatusCode::NOT_FOUND,
            frame::ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        return ApiError::new(status, code.as_str(), message).into_response();
    }
    client.subscribe(None, &[id], &channels, q.history.unwrap_or(true));
    let gauge = app
        .metrics
        .connections
        .get_or_create(&Label::of("sse"))
        .clone();
    gauge.inc();
    let guard = ConnectionGuard {
        _client: client,
        _permit: permit,
        gauge,
    };
    Sse::new(events(queue, guard, app.clone()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Holds what a stream owns: dropping the stream (client gone) leaves the topics, frees the
/// slot and counts the connection down.
struct ConnectionGuard {
    _client: Client,
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn events(
    queue: Arc<ClientQueue>,
    guard: ConnectionGuard,
    app: App,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (queue, guard, Vec::<Frame>::new().into_iter()),
        move |(queue, guard, mut pending)| {
            let app = app.clone();
            async move {
                loop {
                    if let Some(f) = pending.next() {
                        let kind = frame::kind_of(f.as_str()).unwrap_or("message").to_owned();
                        let event = Event::default().event(kind).data(f.as_str());
                        return Some((Ok(event), (queue, guard, pending)));
                    }
                    let batch = tokio::select! {
                        b = queue.next(256) => b,
                        _ = app.shutdown.cancelled() => return None,
                    };
                    match batch {
                        Batch::Close(_) => return None,
                        Batch::Frames(f) => {
                            app.metrics.writes.inc();
                            app.metrics.frames.inc_by(f.len() as u64);
                            pending = f.into_iter();
                        }
                    }
                }
            }
        },
    )
}
