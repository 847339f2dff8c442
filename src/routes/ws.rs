//! `GET /ws`: the WebSocket upgrade (PROTOCOL §3). The socket itself is the hub's; this
//! only sizes its buffers and passes on `?token=`.

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::BadRequest(format!("expected a WebSocket upgrade: {e}"))
                .into_response();
        }
    };
    if state.shutdown.is_cancelled() {
        return ApiError::Unavailable("unavailable", "shutting down".into()).into_response();
    }
    let token = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .filter(|t| !t.is_empty())
    });
    let hub = state.hub.clone();
    let s = hub.settings();
    ws.read_buffer_size(s.ws_read_buffer_bytes)
        .write_buffer_size(s.ws_write_buffer_bytes)
        .max_message_size(s.ws_max_frame_bytes)
        .max_frame_size(s.ws_max_frame_bytes)
        .on_upgrade(move |socket| async move { hub.serve(socket, token).await })
}
