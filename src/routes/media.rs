//! `GET /media/{file}?sig=…`: finished videos and thumbnails, with HTTP range requests
//! (browsers seek with them; `ServeFile` answers `206 Partial Content`). No bearer token: a
//! `<video>` element cannot send one, so the URL's signature is the permission (see
//! [`crate::media`]). A bad signature looks exactly like a missing file.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::error::ApiError;
use crate::media::{MediaStore, ROUTE};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(&format!("{ROUTE}/{{file}}"), get(serve))
}

#[derive(Deserialize)]
struct SigQuery {
    sig: Option<String>,
}

async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<SigQuery>,
    req: Request,
) -> Response {
    let media = &state.video.media;
    let allowed = MediaStore::is_valid_name(&file)
        && q.sig.as_deref().is_some_and(|sig| media.verify(&file, sig));
    if !allowed {
        return ApiError::not_found("media").into_response();
    }
    let path = media.path(&file);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return ApiError::not_found("media").into_response();
    }
    let mut resp = match ServeFile::new(path).oneshot(req).await {
        Ok(r) => r.into_response(),
        Err(never) => match never {},
    };
    // The content of a name never changes; the signature keeps it private to its holders.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    resp
}
