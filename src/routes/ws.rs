//! `GET /ws`: the WebSocket upgrade (PROTOCOL §3). The socket itself is the hub's; this
//! checks the handshake and the browser's `Origin` (403 `originNotAllowed` unless it is the
//! server's own or allowed by `TASKHUB_CORS_ORIGINS`: a WebSocket is not covered by CORS, so
//! without this any site could open one with a token it got hold of), counts the socket against the caps on unauthenticated sockets
//! (by peer address), answers 101 and passes on `?token=`.
//!
//! The handshake is answered here rather than by axum's `WebSocketUpgrade`, so the hub gets
//! the raw upgraded connection back for its lingering close (see `hub::transport`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::error::ApiError;
use crate::http::cors::CorsPolicy;
use crate::state::AppState;

pub fn router(cors: Arc<CorsPolicy>) -> Router<AppState> {
    Router::new()
        .route("/ws", get(upgrade))
        .layer(Extension(cors))
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

/// The `Sec-WebSocket-Key` of a valid HTTP/1.1 upgrade request, or what is wrong with it.
fn check_handshake(req: &Request) -> Result<HeaderValue, &'static str> {
    let h = req.headers();
    if req.method() != Method::GET {
        return Err("the method must be GET");
    }
    if !has_token(h, header::CONNECTION, "upgrade") {
        return Err("Connection header did not include 'upgrade'");
    }
    if !has_token(h, header::UPGRADE, "websocket") {
        return Err("`Upgrade` header did not include 'websocket'");
    }
    if !matches!(h.get(header::SEC_WEBSOCKET_VERSION), Some(v) if v.as_bytes() == b"13") {
        return Err("`Sec-WebSocket-Version` header did not include '13'");
    }
    h.get(header::SEC_WEBSOCKET_KEY)
        .cloned()
        .ok_or("`Sec-WebSocket-Key` header missing")
}

async fn upgrade(
    State(state): State<AppState>,
    Extension(cors): Extension<Arc<CorsPolicy>>,
    mut req: Request,
) -> Response {
    let key = match check_handshake(&req) {
        Ok(key) => key,
        Err(e) => {
            return ApiError::BadRequest(format!("expected a WebSocket upgrade: {e}"))
                .into_response();
        }
    };
    let h = req.headers();
    if !cors.allows_socket(h.get(header::ORIGIN), h.get(header::HOST)) {
        return ApiError::Forbidden(
            "originNotAllowed",
            "this page's origin may not open the WebSocket (TASKHUB_CORS_ORIGINS)".into(),
        )
        .into_response();
    }
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return ApiError::BadRequest(
            "expected a WebSocket upgrade: this connection cannot be upgraded".into(),
        )
        .into_response();
    };
    if state.shutdown.is_cancelled() {
        return ApiError::Unavailable("unavailable", "shutting down".into()).into_response();
    }
    let token = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .filter(|t| !t.is_empty())
    });
    // The peer as the listener saw it (no proxy headers: a proxy in front counts as one).
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let hub = state.hub.clone();
    // Counted before the 101, so sockets still upgrading count too.
    let admitted = hub.admit(peer);
    tokio::spawn(hub.serve(Box::new(crate::hub::Upgrade {
        on_upgrade,
        query_token: token,
        admitted,
    })));
    let accept = derive_accept_key(key.as_bytes());
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "upgrade".to_string()),
            (header::UPGRADE, "websocket".to_string()),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}
