//! `/api/rooms`: the desired rooms with their latest status, summary and session; adding
//! (short ids resolved as `bilipulse rooms add` does) and removing them with the bearer token.

use async_nats::jetstream;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bilipulse_bilibili::resolve::ResolveError;
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{LiveSession, RoomConfig, RoomStatus, WindowSummary, streams};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, answer, count, room_id};
use crate::app::App;
use crate::auth::{Refusal, Token};

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
        ResolveError::NotFound { .. }
        | ResolveError::Api {
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
