//! Liveness and readiness; no auth.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;
use crate::wire::{Envelope, ErrorBody, ErrorEnvelope, HealthView, ReadyChecks};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "The process answers", body = Envelope<HealthView>)))]
async fn health() -> impl IntoResponse {
    Json(Envelope::new(HealthView {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// Readiness: 200 when the database and the bus both answer, 503 (naming which is down)
/// otherwise.
#[utoipa::path(get, path = "/ready", tag = "health", security(()),
    responses(
        (status = 200, description = "Database and bus up", body = Envelope<ReadyChecks>),
        (status = 503, description = "`unavailable`: `error.checks` names what is down", body = ErrorEnvelope),
    ))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let (db, bus) = tokio::join!(state.store.ping(), state.bus.is_healthy());
    let checks = ReadyChecks {
        database: up(db),
        bus: up(bus),
    };
    if db && bus {
        (StatusCode::OK, Json(Envelope::new(checks))).into_response()
    } else {
        let error = ErrorBody {
            checks: Some(checks),
            ..ErrorBody::new("unavailable", "a dependency is down")
        };
        let body = ErrorEnvelope {
            success: false,
            error,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

fn up(ok: bool) -> String {
    if ok { "up" } else { "down" }.to_string()
}
