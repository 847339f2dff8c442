//! Liveness and readiness; no auth.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

async fn health() -> impl IntoResponse {
    Json(
        json!({ "success": true, "data": { "status": "ok", "version": env!("CARGO_PKG_VERSION") } }),
    )
}

/// 200 when the database and the bus both answer, 503 (naming which is down) otherwise.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let (db, bus) = tokio::join!(state.store.ping(), state.bus.is_healthy());
    let body = json!({ "database": up(db), "bus": up(bus) });
    if db && bus {
        (
            StatusCode::OK,
            Json(json!({ "success": true, "data": body })),
        )
    } else {
        let error =
            json!({ "code": "unavailable", "message": "a dependency is down", "checks": body });
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "success": false, "error": error })),
        )
    }
}

fn up(ok: bool) -> &'static str {
    if ok {
        "up"
    } else {
        "down"
    }
}
