//! `GET /`: a plain page linking the QA pages (when served), the API docs and health.

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// A page linking the QA pages (development), the docs and health.
#[utoipa::path(get, path = "/", tag = "docs", security(()),
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
async fn home(State(state): State<AppState>) -> Html<String> {
    let pages = if state.settings.test_pages_enabled() {
        r#"<li><a href="/test-pages/websocket-test.html">WebSocket test page</a>: log in, create tasks, watch them live</li>
<li><a href="/test-pages/api-test.html">REST API test page</a>: a form for every route</li>"#
    } else {
        ""
    };
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>taskhub</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}</style></head>
<body><h1>taskhub {version}</h1><p>WebSocket-first hub for AI video generation tasks.</p><ul>
{pages}
<li><a href="/docs">API documentation</a> (<a href="/openapi.json">openapi.json</a>)</li>
<li><a href="/health">/health</a> · <a href="/ready">/ready</a></li></ul></body></html>"#,
        version = env!("CARGO_PKG_VERSION"),
    ))
}
