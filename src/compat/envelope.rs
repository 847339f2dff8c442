//! Refusals made outside the adapters' handlers (the rate limiter's 429, the request time
//! limits' 408/503, the router's 404/405 for an unknown path, a body over the limit) carry
//! the native envelope `{"success": false, "error": {…}}`; under an adapter's prefix (the
//! Sora 2 prefix, the AdsVideo `/api/v1`) this layer rewrites them to the references'
//! `{"detail": message}`, keeping status and headers (`Retry-After`, `X-RateLimit-*`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use crate::state::AppState;

/// Native error bodies are small; a larger body is passed on untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The middleware (mounted outside the rate limiter and the time limits).
pub async fn native_errors_as_detail(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let sora2 = state.settings.compat_sora2.compat_sora2_prefix.as_str();
    let path = req.uri().path();
    let under = |prefix: &str| {
        !prefix.is_empty()
            && path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let ours = under(sora2) || under(super::adsvideo::PREFIX);
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !ours || !json || resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        parts.headers.remove(CONTENT_LENGTH);
        let body = json!({ "detail": "Internal server error" }).to_string();
        return Response::from_parts(parts, Body::from(body));
    };
    let detail = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(|v| v["success"] == false)
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    match detail {
        Some(message) => {
            parts.headers.remove(CONTENT_LENGTH);
            let body = json!({ "detail": message }).to_string();
            Response::from_parts(parts, Body::from(body))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}
