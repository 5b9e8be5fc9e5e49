//! The REST API (`/api/openapi.json` describes it): [`rooms`] — the desired rooms with their
//! latest state, adding and removing rooms (bearer token) — and [`history`] read from JetStream.
//!
//! Every error is JSON, `{"error":{"code":…,"message":…}}`, with a status code saying whose
//! fault it is.

pub mod history;
pub mod rooms;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::metrics::Label;
use crate::rooms::Lookup;

pub use history::{sessions, summaries};
pub use rooms::{add_room, list_rooms, remove_room};

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

    pub(crate) fn unavailable(what: impl std::fmt::Display) -> ApiError {
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

pub(crate) fn count(app: &App, status: StatusCode) {
    let class = format!("{}xx", status.as_u16() / 100);
    app.metrics.rest.get_or_create(&Label::of(class)).inc();
}

pub(crate) fn answer<T: Serialize>(app: &App, r: Result<(StatusCode, T), ApiError>) -> Response {
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

pub(crate) fn room_id(app: &App, raw: &str) -> Result<u64, ApiError> {
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
