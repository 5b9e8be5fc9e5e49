//! The REST API (`/api/openapi.json` describes it): the desired rooms with their latest state,
//! adding and removing rooms (bearer token), and history read from JetStream.
//!
//! Every error is JSON, `{"error":{"code":…,"message":…}}`, with a status code saying whose
//! fault it is.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bilipulse_bilibili::resolve::ResolveError;
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{LiveSession, RoomConfig, RoomStatus, WindowSummary, streams};
use bilipulse_runtime::clock::now_ms;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::auth::{Refusal, Token};
use crate::channel::Channel;
use crate::metrics::Label;
use crate::rooms::Lookup;

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code (a closed set per endpoint, see the OpenAPI document)
    /// and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unavailable(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "nats_unavailable",
            format!("cannot read NATS: {what}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        if self.status == StatusCode::UNAUTHORIZED {
            return (self.status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (self.status, body).into_response()
    }
}

fn count(app: &App, status: StatusCode) {
    let class = format!("{}xx", status.as_u16() / 100);
    app.metrics.rest.get_or_create(&Label::of(class)).inc();
}

fn answer<T: Serialize>(app: &App, r: Result<(StatusCode, T), ApiError>) -> Response {
    match r {
        Ok((status, body)) => {
            count(app, status);
            (status, Json(body)).into_response()
        }
        Err(e) => {
            count(app, e.status);
            e.into_response()
        }
    }
}

fn room_id(app: &App, raw: &str) -> Result<u64, ApiError> {
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "room ids are integers",
        )
    })?;
    match app.rooms.lookup(id) {
        Lookup::Room(r) => Ok(r),
        Lookup::Unknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_room",
            format!("room {id} is not observed"),
        )),
        Lookup::Loading => Err(ApiError::unavailable("the desired rooms are still loading")),
    }
}

/// One room of `GET /api/rooms`.
#[derive(Debug, Serialize)]
pub struct RoomView {
    /// Real room id.
    pub room: u64,
    /// Short id the room was added by.
    pub alias: Option<u64>,
    /// Label.
    pub label: String,
    /// When it was added, Unix ms.
    pub added: i64,
    /// The latest status report of its ingester.
    pub status: Option<RoomStatus>,
    /// The latest published `1m` summary.
    pub latest: Option<WindowSummary>,
    /// The latest session update.
    pub session: Option<LiveSession>,
}

async fn last<T: serde::de::DeserializeOwned>(
    stream: &jetstream::stream::Stream,
    subject: &str,
) -> Option<T> {
    let m = stream.get_last_raw_message_by_subject(subject).await.ok()?;
    bilipulse_proto::decode(&m.payload).ok()
}

/// `GET /api/rooms`.
pub async fn list_rooms(State(app): State<App>) -> Response {
    let r = async {
        let rooms = app
            .rooms
            .all()
            .ok_or_else(|| ApiError::unavailable("the desired rooms are still loading"))?;
        let status = app
            .js
            .get_stream(streams::STATUS.name)
            .await
            .map_err(ApiError::unavailable)?;
        let summary = app
            .js
            .get_stream(streams::SUMMARY.name)
            .await
            .map_err(ApiError::unavailable)?;
        let views: Vec<RoomView> = futures::stream::iter(rooms)
            .map(|c: RoomConfig| {
                let (status, summary) = (&status, &summary);
                async move {
                    RoomView {
                        status: last(status, &subject::status(c.room)).await,
                        latest: last(summary, &subject::summary(c.room, Window::M1)).await,
                        session: last(summary, &subject::session(c.room)).await,
                        room: c.room,
                        alias: c.alias,
                        label: c.label,
                        added: c.added,
                    }
                }
            })
            .buffered(16)
            .collect()
            .await;
        Ok((StatusCode::OK, json!({ "rooms": views })))
    }
    .await;
    answer(&app, r)
}

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    Token::check(app.token.as_ref(), headers).map_err(|r| match r {
        Refusal::WritesDisabled => ApiError::new(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "this gateway has no API token configured (--api-token-file), so it accepts no writes",
        ),
        Refusal::Missing => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the API token as `Authorization: Bearer <token>`",
        ),
        Refusal::Wrong => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong API token")
        }
    })
}

/// Body of `POST /api/rooms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRoom {
    /// Real or short room id.
    pub id: u64,
    /// A note for people.
    #[serde(default)]
    pub label: String,
}

/// `POST /api/rooms`: resolves a short id like `bilipulse rooms add` and writes the room.
pub async fn add_room(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        authorize(&app, &headers)?;
        let req: AddRoom = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("body: {e}"))
        })?;
        if req.id == 0 || req.label.len() > 200 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "id must be positive and label at most 200 bytes",
            ));
        }
        let (room, alias) = match &app.resolver {
            None => (req.id, None),
            Some(r) => match r.room_info(req.id).await {
                Ok(info) => (
                    info.room,
                    bilipulse_runtime::rooms::alias_for(req.id, info.room, info.short_id),
                ),
                Err(e) => return Err(resolve_error(req.id, &e)),
            },
        };
        let cfg = bilipulse_runtime::rooms::put(&app.rooms_kv, room, alias, &req.label)
            .await
            .map_err(ApiError::unavailable)?;
        tracing::info!(room, ?alias, "room added over the API");
        Ok((
            StatusCode::CREATED,
            json!({"room": cfg.room, "alias": cfg.alias, "label": cfg.label}),
        ))
    }
    .await;
    answer(&app, r)
}

fn resolve_error(id: u64, e: &ResolveError) -> ApiError {
    match e {
        // 60004: "房间不存在"; 1: no such room on get_info.
        ResolveError::Api {
            code: 60004 | 1, ..
        } => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_room",
            format!("Bilibili has no room {id}"),
        ),
        ResolveError::RiskControl { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "bilibili_refused",
            format!("Bilibili refused to resolve room {id} for now ({e}); retry later"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "resolve_failed",
            format!("cannot resolve room {id}: {e}"),
        ),
    }
}

/// `DELETE /api/rooms/{id}`: real or short id.
pub async fn remove_room(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        authorize(&app, &headers)?;
        let room = room_id(&app, &id)?;
        bilipulse_runtime::rooms::delete(&app.rooms_kv, room)
            .await
            .map_err(ApiError::unavailable)?;
        tracing::info!(room, "room removed over the API");
        Ok((StatusCode::NO_CONTENT, ()))
    }
    .await;
    match r {
        Ok((status, ())) => {
            count(&app, status);
            status.into_response()
        }
        Err(e) => answer::<()>(&app, Err(e)),
    }
}

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
