//! `GET /media/{file}?exp=…&sig=…`: finished videos and thumbnails, streamed from the store
//! (folder or S3) with one HTTP range (browsers seek with them: `206 Partial Content`, an
//! unsatisfiable range 416), or with `TASKHUB_MEDIA_DELIVERY=presigned` a 302 to the store's
//! presigned URL. No bearer token: a
//! `<video>` element cannot send one, so the URL's signature is the permission (see
//! [`crate::media::urls`]). A forged or missing signature is 403 `invalidSignature`, an
//! expired one 403 `mediaUrlExpired` (re-read the task for a fresh URL); both are decided
//! before the file is looked at, so they say nothing about whether it exists.

mod ranges;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::error::ApiError;
use crate::media::settings::MediaDelivery;
use crate::media::storage::StorageError;
use crate::media::{Denied, MediaStore, ROUTE};
use crate::state::AppState;
use crate::wire::ErrorEnvelope;

pub fn router() -> Router<AppState> {
    Router::new().route(&format!("{ROUTE}/{{file}}"), get(serve))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SigQuery {
    /// Unix seconds the URL expires at.
    exp: Option<String>,
    /// The URL's signature.
    sig: Option<String>,
}

/// A finished video (`{videoId}.mp4`) or thumbnail (`.jpg`) at its signed, expiring URL;
/// Range requests get 206.
#[utoipa::path(get, path = "/media/{file}", tag = "media", security(()),
    params(
        ("file" = String, Path, description = "`{videoId}.mp4` or `{videoId}.jpg`"),
        SigQuery,
    ),
    responses(
        (status = 200, description = "The file", content(
            (Vec<u8> = "video/mp4"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"))),
        (status = 302, description = "`TASKHUB_MEDIA_DELIVERY=presigned`: the store's presigned URL (Location)"),
        (status = 206, description = "The requested range", content(
            (Vec<u8> = "video/mp4"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"))),
        (status = 403, description = "`mediaUrlExpired` or `invalidSignature`", body = ErrorEnvelope),
        (status = 404, description = "no such file", body = ErrorEnvelope),
        (status = 416, description = "the range is outside the file"),
    ))]
async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<SigQuery>,
    req: Request,
) -> Response {
    let media = &state.video.media;
    if !MediaStore::is_valid_name(&file) {
        return ApiError::not_found("media").into_response();
    }
    let now = crate::domain::time::now_ms() / 1000;
    let exp = match media
        .urls()
        .check(&file, q.exp.as_deref(), q.sig.as_deref(), now)
    {
        Ok(exp) => exp,
        Err(Denied::Expired) => {
            return ApiError::Forbidden(
                "mediaUrlExpired",
                "this media URL has expired; read the task again for a fresh one".into(),
            )
            .into_response()
        }
        Err(Denied::Invalid) => {
            return ApiError::Forbidden(
                "invalidSignature",
                "the media URL's signature is missing or invalid".into(),
            )
            .into_response()
        }
    };
    let key = MediaStore::key(&file);
    let mut resp = if media.delivery() == MediaDelivery::Presigned {
        redirect(media, &key).await
    } else {
        let head = req.method() == Method::HEAD;
        ranges::stream(
            media.storage(),
            &key,
            req.headers(),
            head,
            content_type(&file),
        )
        .await
    };
    // The content of a name never changes; caches may keep it while the URL is valid.
    let max_age = (exp - now).clamp(0, 86_400);
    if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={max_age}, immutable")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// 302 to the store's presigned GET URL (made per request, short-lived).
async fn redirect(media: &MediaStore, key: &str) -> Response {
    match media.storage().head(key).await {
        Ok(_) => {}
        Err(StorageError::NotFound) => return ApiError::not_found("media").into_response(),
        Err(e) => return ApiError::Internal(anyhow::Error::from(e)).into_response(),
    }
    match media
        .storage()
        .presigned_get(key, media.presign_ttl())
        .await
    {
        Some(Ok(url)) => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&url) {
                h.insert(header::LOCATION, v);
            }
            (StatusCode::FOUND, h, Body::empty()).into_response()
        }
        Some(Err(e)) => ApiError::Internal(anyhow::Error::from(e)).into_response(),
        None => ApiError::not_found("media").into_response(),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "image/jpeg",
    }
}
