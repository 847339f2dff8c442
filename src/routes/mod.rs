//! The HTTP surface: one module per resource, assembled into one router here.

pub mod auth;
pub mod docs;
mod extract;
pub mod health;
mod home;
pub mod media;
pub mod payments;
mod refunds;
pub mod task_input;
pub mod tasks;
pub mod users;
pub mod ws;

use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let mut app = Router::new()
        .merge(health::router())
        .merge(home::router())
        .merge(auth::router())
        .merge(docs::router())
        .merge(tasks::router(settings.max_upload_bytes))
        .merge(users::router())
        .merge(payments::router())
        .merge(media::router())
        .merge(ws::router())
        .merge(crate::ops::admin::router(&settings))
        .merge(crate::providers::simulator::router(
            crate::providers::simulator::MOUNT_V1,
            crate::providers::simulator::Simulator::new(settings.poller.simulator_seconds),
        ));
    if settings.test_pages_enabled() {
        let root = settings.assets_dir();
        app = app
            .nest_service("/test-pages", ServeDir::new(root.join("test-pages")))
            .nest_service("/clients/js", ServeDir::new(root.join("clients/js")));
    }
    app.fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .layer(crate::ops::http::RequestLayer)
        .with_state(state)
}

async fn fallback(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> impl IntoResponse {
    let body = serde_json::json!({"success": false, "error": {"code": "methodNotAllowed", "message": "method not allowed for this route"}});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}
