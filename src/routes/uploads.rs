//! `/api/uploads`: upload a file (multipart `file`), validate one without storing it, read
//! and delete one's own uploads. The uploads service (`crate::uploads`) decides; these parse
//! the multipart body and shape the answers.

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use utoipa::OpenApi;

use crate::auth::AuthUser;
use crate::domain::time::rfc3339;
use crate::error::{ok, ApiError, ApiResult};
use crate::state::AppState;
use crate::uploads::{IncomingFile, Upload, Uploads};
use crate::wire::{Envelope, ErrorEnvelope, UploadDeleted, UploadValidView, UploadView};

/// Multipart bodies may carry this much beyond the largest file (boundaries, headers).
const MULTIPART_OVERHEAD: usize = 64 * 1024;

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    let limit = DefaultBodyLimit::max(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD));
    Router::new()
        .route("/api/uploads", post(upload).layer(limit))
        .route("/api/uploads/validate", post(validate).layer(limit))
        .route("/api/uploads/{upload_id}", get(get_one).delete(delete))
}

#[derive(OpenApi)]
#[openapi(
    paths(upload, validate, get_one, delete),
    tags((name = "uploads", description = "Images and videos uploaded once, used by tasks"))
)]
pub(super) struct UploadsDoc;

/// The multipart body of an upload.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// JPEG, PNG, WebP or GIF image, or MP4, WebM or MOV video; the type is read from the
    /// bytes. At least `TASKHUB_UPLOAD_MIN_BYTES`, at most `TASKHUB_MAX_UPLOAD_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The `file` part of a multipart body (any other part is a 422).
async fn read_file(req: Request) -> ApiResult<IncomingFile> {
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(ApiError::UnsupportedMediaType(
            "expected multipart/form-data with a file part".into(),
        ));
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text())))?;
    let mut file = None;
    while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "file" if file.is_none() => {
                let filename = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some(IncomingFile { bytes, filename });
            }
            "file" => return Err(ApiError::field("file", "send one file per request")),
            other => return Err(crate::error::unknown_field(other)),
        }
    }
    file.ok_or_else(|| ApiError::field("file", "a multipart part named file is required"))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("upload too large".into())
    } else {
        ApiError::BadRequest(format!("invalid multipart body: {}", e.body_text()))
    }
}

fn view(u: Upload) -> UploadView {
    UploadView {
        upload_id: u.upload_id,
        url: u.url,
        content_type: u.content_type,
        bytes: u.bytes,
        width: u.width,
        height: u.height,
        kind: kind_str(u.kind).into(),
        filename: u.filename,
        created_at: rfc3339(u.created_at_ms),
    }
}

fn kind_str(k: crate::uploads::UploadKind) -> &'static str {
    match k {
        crate::uploads::UploadKind::Image => "image",
        crate::uploads::UploadKind::Video => "video",
    }
}

/// Upload an image or a video (stored; counts against the caller's quota).
#[utoipa::path(post, path = "/api/uploads", tag = "uploads",
    request_body(content((UploadForm = "multipart/form-data"))),
    responses(
        (status = 201, description = "The stored upload", body = Envelope<UploadView>),
        (status = 400, description = "`badRequest`: an invalid multipart body", body = ErrorEnvelope),
        (status = 408, description = "`requestTimeout`: the body arrived too slowly", body = ErrorEnvelope),
        (status = 409, description = "`quotaExceeded`: the caller's uploads would exceed `TASKHUB_UPLOAD_QUOTA_BYTES` (nothing stored)", body = ErrorEnvelope),
        (status = 413, description = "`payloadTooLarge`: the file is over `TASKHUB_MAX_UPLOAD_BYTES`", body = ErrorEnvelope),
        (status = 415, description = "`unsupportedMediaType`: not multipart, or the bytes are not an accepted image or video", body = ErrorEnvelope),
        (status = 422, description = "`fileTooSmall`, `imageTooLarge` (pixels), or `validationFailed` (no `file` part, another part)", body = ErrorEnvelope),
    ))]
async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let file = read_file(req).await?;
    let upload = Uploads::from(&state).store(&user, file).await?;
    Ok((StatusCode::CREATED, ok(view(upload))))
}

/// Check a file as an upload would, without storing it.
#[utoipa::path(post, path = "/api/uploads/validate", tag = "uploads",
    request_body(content((UploadForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "The file would be accepted", body = Envelope<UploadValidView>),
        (status = 400, description = "`badRequest`: an invalid multipart body", body = ErrorEnvelope),
        (status = 408, description = "`requestTimeout`: the body arrived too slowly", body = ErrorEnvelope),
        (status = 413, description = "`payloadTooLarge`: the file is over `TASKHUB_MAX_UPLOAD_BYTES`", body = ErrorEnvelope),
        (status = 415, description = "`unsupportedMediaType`: not multipart, or the bytes are not an accepted image or video", body = ErrorEnvelope),
        (status = 422, description = "`fileTooSmall`, `imageTooLarge` (pixels), or `validationFailed` (no `file` part, another part)", body = ErrorEnvelope),
    ))]
async fn validate(
    State(state): State<AppState>,
    _user: AuthUser,
    req: Request,
) -> ApiResult<Json<Value>> {
    let file = read_file(req).await?;
    let c = Uploads::from(&state).check(&file)?;
    Ok(ok(UploadValidView {
        valid: true,
        content_type: c.content_type.into(),
        bytes: c.bytes,
        width: c.width,
        height: c.height,
        kind: kind_str(c.kind).into(),
    }))
}

/// One of the caller's uploads, with a fresh URL.
#[utoipa::path(get, path = "/api/uploads/{uploadId}", tag = "uploads",
    params(("uploadId" = String, Path, description = "`upl_` and a UUID")),
    responses(
        (status = 200, description = "The upload", body = Envelope<UploadView>),
        (status = 404, description = "no such upload of the caller", body = ErrorEnvelope),
    ))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let upload = Uploads::from(&state).get(&user, &id).await?;
    Ok(ok(view(upload)))
}

/// Delete one of the caller's uploads (frees its quota; tasks made from it keep their copy).
#[utoipa::path(delete, path = "/api/uploads/{uploadId}", tag = "uploads",
    params(("uploadId" = String, Path, description = "`upl_` and a UUID")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<UploadDeleted>),
        (status = 404, description = "no such upload of the caller", body = ErrorEnvelope),
    ))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Uploads::from(&state).delete(&user, &id).await?;
    Ok(ok(UploadDeleted {
        upload_id: id,
        deleted: true,
    }))
}
