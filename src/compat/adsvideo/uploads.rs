//! `/api/v1/upload`: an image upload (the uploads service: type from the bytes, size bounds,
//! quota) whose `file_path` a later `videos/generate` takes as `reference_image_url`; and a
//! validation that stores nothing. As the reference documents it, validation needs no
//! sign-in: it is bounded by the body limit (`TASKHUB_MAX_UPLOAD_BYTES` plus multipart
//! overhead) and limited per address in the "other" rate class.

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::DetailBody;
use crate::compat::detail::{DUser, Detail, DetailResult};
use crate::compat::form::{self, FormError, MULTIPART_OVERHEAD};
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{display_filename, IncomingFile, UploadKind, Uploads};

/// The types the reference accepts (taskhub's uploads also take GIF and videos: refused here).
const ALLOWED: &[&str] = &["image/jpeg", "image/png", "image/webp"];
const INVALID_TYPE: &str = "Invalid file type. Allowed types: image/jpeg, image/png, image/webp";

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    let limit = DefaultBodyLimit::max(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD));
    Router::new()
        .route("/upload/image", post(image).layer(limit))
        .route("/upload/validate", post(validate).layer(limit))
}

/// The multipart form both routes take (documentation only).
#[derive(Deserialize, ToSchema)]
#[schema(as = AdsVideoFileForm)]
#[allow(dead_code)]
pub(super) struct FileForm {
    /// A JPEG, PNG or WebP image (read from the bytes), at least `TASKHUB_UPLOAD_MIN_BYTES`
    /// and at most `TASKHUB_MAX_UPLOAD_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoUploaded)]
pub(super) struct UploadedOut {
    /// `File uploaded successfully`.
    message: String,
    /// Where the image is served (a signed `/media` URL); give it as `reference_image_url`
    /// to `videos/generate`.
    file_path: String,
    /// The name the file was sent with (its last component), for display.
    filename: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdsVideoValidated)]
pub(super) struct ValidatedOut {
    /// Whether `upload/image` would take the file (type and size; not the caller's quota).
    valid: bool,
    /// `File is valid`, or why not.
    message: String,
    filename: Option<String>,
    /// Bytes.
    size: u64,
}

/// The `file` part of a multipart body: 415 for a body that is not multipart, 400 for a
/// broken one, 413 over the body limit, 422 without a `file` part (other parts are ignored,
/// as FastAPI ignores unknown form fields).
async fn file_part(req: Request, max_bytes: usize) -> DetailResult<IncomingFile> {
    let form = form::read(req, &[]).await.map_err(|e| match e {
        FormError::NotMultipart => Detail::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected multipart/form-data with a file part",
        ),
        FormError::Broken(why) => Detail::bad_request(format!("invalid multipart body: {why}")),
        FormError::TooLarge => too_large(max_bytes),
    })?;
    form.file
        .ok_or_else(|| Detail::field("body", "file", "field required", "value_error.missing"))
}

fn too_large(max_bytes: usize) -> Detail {
    let mb = max_bytes as f64 / 1_048_576.0;
    Detail::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("File too large. Maximum size: {mb:.1} MB"),
    )
}

/// The reference's refusals for a file the service refuses: 400 for a type it does not
/// take, 413 for a file too large; others (a file under the minimum, too many pixels: 422)
/// keep their native status and message.
fn refusal(e: ApiError, max_bytes: usize) -> Detail {
    match e {
        ApiError::UnsupportedMediaType(_) => Detail::bad_request(INVALID_TYPE),
        ApiError::PayloadTooLarge(_) => too_large(max_bytes),
        other => other.into(),
    }
}

/// The service's check, narrowed to the reference's types.
fn check(uploads: &Uploads, file: &IncomingFile, max_bytes: usize) -> DetailResult<()> {
    let checked = uploads.check(file).map_err(|e| refusal(e, max_bytes))?;
    if checked.kind != UploadKind::Image || !ALLOWED.contains(&checked.content_type) {
        return Err(Detail::bad_request(INVALID_TYPE));
    }
    Ok(())
}

/// Upload a reference image (stored; counts against the caller's upload quota).
#[utoipa::path(post, path = "/api/v1/upload/image", tag = "AdsVideo v1",
    request_body(content((FileForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "Stored", body = UploadedOut),
        (status = 400, description = "not a JPEG, PNG or WebP image, or a broken multipart body", body = DetailBody),
        (status = 401, description = "no valid token", body = DetailBody),
        (status = 409, description = "the caller's uploads would exceed `TASKHUB_UPLOAD_QUOTA_BYTES` (nothing stored)", body = DetailBody),
        (status = 413, description = "the file is over `TASKHUB_MAX_UPLOAD_BYTES`", body = DetailBody),
        (status = 415, description = "not a multipart body", body = DetailBody),
        (status = 422, description = "no `file` part, a file under `TASKHUB_UPLOAD_MIN_BYTES`, or too many pixels", body = DetailBody),
    ))]
pub(super) async fn image(
    State(state): State<AppState>,
    DUser(user): DUser,
    req: Request,
) -> DetailResult<Json<UploadedOut>> {
    let max = state.settings.max_upload_bytes;
    let file = file_part(req, max).await?;
    let uploads = Uploads::from(&state);
    check(&uploads, &file, max)?;
    let upload = uploads
        .store(&user, file)
        .await
        .map_err(|e| refusal(e, max))?;
    Ok(Json(UploadedOut {
        message: "File uploaded successfully".into(),
        file_path: upload.url,
        filename: upload.filename,
    }))
}

/// Check a file's type and size as `upload/image` would, without storing it (no sign-in).
#[utoipa::path(post, path = "/api/v1/upload/validate", tag = "AdsVideo v1", security(()),
    request_body(content((FileForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "Whether the file would be accepted, and why not", body = ValidatedOut),
        (status = 400, description = "a broken multipart body", body = DetailBody),
        (status = 413, description = "the body is over the limit", body = DetailBody),
        (status = 415, description = "not a multipart body", body = DetailBody),
        (status = 422, description = "no `file` part", body = DetailBody),
    ))]
pub(super) async fn validate(
    State(state): State<AppState>,
    req: Request,
) -> DetailResult<Json<ValidatedOut>> {
    let max = state.settings.max_upload_bytes;
    let file = file_part(req, max).await?;
    let problem = match check(&Uploads::from(&state), &file, max) {
        Ok(()) => None,
        Err(d) => Some(match d.detail {
            serde_json::Value::String(m) => m,
            other => other.to_string(),
        }),
    };
    Ok(Json(ValidatedOut {
        valid: problem.is_none(),
        message: problem.unwrap_or_else(|| "File is valid".into()),
        filename: display_filename(file.filename.as_deref()),
        size: file.bytes.len() as u64,
    }))
}
