//! History read from JetStream: a room's window summaries over a range, and its sessions.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use bilipulse_proto::subject;
use bilipulse_proto::{LiveSession, WindowSummary, streams};
use bilipulse_runtime::clock::now_ms;
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, answer, room_id};
use crate::app::App;
use crate::channel::Channel;

/// Query of `GET /api/rooms/{id}/summaries`.
#[derive(Debug, Deserialize)]
pub struct SummariesQuery {
    /// Window width (`1s`, `10s`, `1m`, `1h`); default `1m`.
    window: Option<String>,
    /// First window start, Unix ms (default: an hour ago).
    from: Option<i64>,
    /// Last window start, Unix ms (default: now).
    to: Option<i64>,
}

/// At most this many windows per request.
pub const MAX_WINDOWS: i64 = 10_000;

/// A window starting this long after the last one asked for ends a history read: every
/// revision of the windows asked for is stored before it (the windower's revision horizon is
/// a minute by default).
const REVISION_SLACK_MS: i64 = 10 * 60 * 1000;

/// `GET /api/rooms/{id}/summaries?window=&from=&to=`: the windows starting in `[from, to]`, the
/// highest revision of each, oldest first.
pub async fn summaries(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<SummariesQuery>,
) -> Response {
    let r = async {
        let room = room_id(&app, &id)?;
        let name = q.window.as_deref().unwrap_or("1m");
        let Some(Channel::Window(window)) = Channel::parse(name) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_window",
                format!("{name:?} is not a window; windows are 1s, 10s, 1m, 1h"),
            ));
        };
        let to = q.to.unwrap_or_else(now_ms);
        let from = q.from.unwrap_or(to.saturating_sub(3_600_000));
        if from > to {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_range",
                "from is after to",
            ));
        }
        if to.saturating_sub(from) / window.millis() > MAX_WINDOWS {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "range_too_large",
                format!(
                    "at most {MAX_WINDOWS} windows per request; narrow from/to or widen window"
                ),
            ));
        }
        let subject = subject::summary(room, window);
        // Summaries are stored in window order (revisions follow within the revision
        // horizon), live or replayed, so a window starting well after `to` ends the read.
        let beyond = to.saturating_add(REVISION_SLACK_MS);
        let read = read_subject(&app.js, streams::SUMMARY.name, &subject, Some(from), |p| {
            bilipulse_proto::decode::<WindowSummary>(p).is_ok_and(|s| s.start > beyond)
        });
        let messages = tokio::time::timeout(Duration::from_secs(15), read)
            .await
            .map_err(|_| ApiError::unavailable("history read timed out"))?
            .map_err(ApiError::unavailable)?;
        let mut by_start: BTreeMap<i64, WindowSummary> = BTreeMap::new();
        for payload in messages {
            let Ok(s) = bilipulse_proto::decode::<WindowSummary>(&payload) else {
                app.metrics.garbage.inc();
                continue;
            };
            if s.start < from || s.start > to {
                continue;
            }
            match by_start.get(&s.start) {
                Some(old) if old.rev >= s.rev => {}
                _ => {
                    by_start.insert(s.start, s);
                }
            }
        }
        let summaries: Vec<WindowSummary> = by_start.into_values().collect();
        Ok((
            StatusCode::OK,
            json!({"room": room, "window": window.to_string(), "from": from, "to": to,
                   "summaries": summaries, "truncated": false}),
        ))
    }
    .await;
    answer(&app, r)
}

/// `GET /api/rooms/{id}/sessions`: every session still in the stream, the latest update of
/// each, newest first.
pub async fn sessions(State(app): State<App>, Path(id): Path<String>) -> Response {
    let r = async {
        let room = room_id(&app, &id)?;
        let subject = subject::session(room);
        let read = read_subject(&app.js, streams::SUMMARY.name, &subject, None, |_| false);
        let messages = tokio::time::timeout(Duration::from_secs(15), read)
            .await
            .map_err(|_| ApiError::unavailable("history read timed out"))?
            .map_err(ApiError::unavailable)?;
        let mut by_id: BTreeMap<String, LiveSession> = BTreeMap::new();
        for payload in messages {
            let Ok(s) = bilipulse_proto::decode::<LiveSession>(&payload) else {
                app.metrics.garbage.inc();
                continue;
            };
            match by_id.get(&s.id) {
                Some(old) if old.rev > s.rev => {}
                _ => {
                    by_id.insert(s.id.clone(), s);
                }
            }
        }
        let mut sessions: Vec<LiveSession> = by_id.into_values().collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.start));
        Ok((StatusCode::OK, json!({"room": room, "sessions": sessions})))
    }
    .await;
    answer(&app, r)
}

/// Payloads stored on `subject` from storage time `from_ms` (or the beginning) until the end
/// of the stream or the first payload for which `stop` is true.
async fn read_subject(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    from_ms: Option<i64>,
    stop: impl Fn(&[u8]) -> bool,
) -> Result<Vec<bytes::Bytes>, String> {
    let stream = js.get_stream(stream).await.map_err(|e| e.to_string())?;
    let deliver_policy = match from_ms
        .and_then(|ms| async_nats::datetime::from_nanos(i128::from(ms) * 1_000_000).ok())
    {
        Some(start_time) => consumer::DeliverPolicy::ByStartTime { start_time },
        None => consumer::DeliverPolicy::All,
    };
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if c.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut messages = c.messages().await.map_err(|e| e.to_string())?;
    while let Some(m) = messages.try_next().await.map_err(|e| e.to_string())? {
        let Ok(info) = m.info() else { continue };
        let pending = info.pending;
        if stop(&m.payload) {
            break;
        }
        out.push(m.payload.clone());
        if pending == 0 {
            break;
        }
    }
    Ok(out)
}
