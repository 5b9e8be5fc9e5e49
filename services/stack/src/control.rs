//! The stack's control listener, for `bilipulse-stack ps` and `scale` (and `curl`):
//! `GET /processes` lists them, `POST /scale/{ingester|windower}/{1|-1}` adds or removes one.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::config::ScalableRole;
use crate::error::StackError;
use crate::stack::Stack;
use crate::supervisor::Status;

/// The control routes over `stack`.
pub fn router(stack: Arc<Stack>) -> axum::Router {
    axum::Router::new()
        .route("/processes", get(processes))
        .route("/scale/{role}/{step}", post(scale))
        .with_state(stack)
}

async fn processes(State(stack): State<Arc<Stack>>) -> Json<Vec<Status>> {
    Json(stack.statuses().await)
}

/// A control request's failure, as JSON `{"error": …}`.
struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

async fn scale(
    State(stack): State<Arc<Stack>>,
    Path((role, step)): Path<(ScalableRole, i32)>,
) -> Result<Json<Status>, ControlError> {
    if step != 1 && step != -1 {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            format!("step {step}: one replica at a time (1 or -1)"),
        ));
    }
    stack.scale(role, step).await.map(Json).map_err(|e| {
        let code = match e {
            StackError::LastReplica(_) | StackError::BusyPorts(_) | StackError::Starting => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ControlError(code, e.to_string())
    })
}
