//! `POST /api/videos/upload`: a file (multipart `file`, and `file_type` `image` or `video`)
//! stored by the uploads service (type from the bytes, size bounds, the user's quota). Its
//! `file_url` is then accepted by image-to-video as one of `image_urls` (the image is read
//! from the store, not fetched over HTTP).

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::detail::{Detail, DetailResult};
use super::super::form::{self, FormError, MULTIPART_OVERHEAD};
use super::dto::DetailOut;
use super::keys::KeyedUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{IncomingFile, UploadKind, Uploads};

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    let limit = DefaultBodyLimit::max(max_upload_bytes.saturating_add(MULTIPART_OVERHEAD));
    Router::new().route("/api/videos/upload", post(upload).layer(limit))
}

/// The multipart form (documentation only).
#[derive(Deserialize, ToSchema)]
#[schema(as = Sora2UploadForm)]
#[allow(dead_code)]
pub struct UploadForm {
    /// JPEG, PNG, WebP or GIF image, or MP4, WebM or MOV video (read from the bytes); at
    /// least `TASKHUB_UPLOAD_MIN_BYTES`, at most `TASKHUB_MAX_UPLOAD_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `image` (default) or `video`: what the file must be.
    #[schema(pattern = "^(image|video)$")]
    file_type: Option<String>,
}

/// A stored upload.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Uploaded)]
pub struct UploadedOut {
    success: bool,
    /// A signed `/media` URL of the file; give it to image-to-video as an `image_urls` entry.
    file_url: String,
    /// The upload's id (`upl_<uuid>`), also its id in taskhub's own `/api/uploads`.
    storage_key: String,
    /// Bytes.
    file_size: u64,
    /// Decided from the bytes.
    content_type: String,
    #[schema(pattern = "^(image|video)$")]
    file_type: String,
    message: String,
}

/// Upload an image or a video (stored; counts against the caller's upload quota).
#[utoipa::path(post, path = "/compat/sora2/api/videos/upload", tag = "Sora 2 compat",
    request_body(content((UploadForm = "multipart/form-data"))),
    responses(
        (status = 200, description = "Stored", body = UploadedOut),
        (status = 400, description = "an unsupported file type, a file under the minimum size, a `file_type` the file is not, or a broken multipart body", body = DetailOut),
        (status = 403, description = "invalid or missing X-API-Key", body = DetailOut),
        (status = 409, description = "the caller's uploads would exceed `TASKHUB_UPLOAD_QUOTA_BYTES` (nothing stored)", body = DetailOut),
        (status = 413, description = "the file is over `TASKHUB_MAX_UPLOAD_BYTES`", body = DetailOut),
        (status = 415, description = "not a multipart body", body = DetailOut),
        (status = 422, description = "no `file` part, or an image with too many pixels", body = DetailOut),
    ))]
async fn upload(
    State(state): State<AppState>,
    KeyedUser(user): KeyedUser,
    req: Request,
) -> DetailResult<Json<UploadedOut>> {
    let max = state.settings.max_upload_bytes;
    let (file, wanted) = read(req, max).await?;
    let uploads = Uploads::from(&state);
    let checked = uploads.check(&file).map_err(|e| refusal(e, max))?;
    if checked.kind != wanted {
        let (is, want) = (kind_name(checked.kind), kind_name(wanted));
        return Err(Detail::bad_request(format!(
            "Invalid file type: the file is {is} ({}), file_type is {want}",
            checked.content_type
        )));
    }
    let upload = uploads
        .store(&user, file)
        .await
        .map_err(|e| refusal(e, max))?;
    let message = match upload.kind {
        UploadKind::Image => "Image uploaded successfully",
        UploadKind::Video => "Video uploaded successfully",
    };
    Ok(Json(UploadedOut {
        success: true,
        file_url: upload.url,
        storage_key: upload.upload_id,
        file_size: upload.bytes,
        content_type: upload.content_type,
        file_type: kind_name(upload.kind).into(),
        message: message.into(),
    }))
}

/// The form's file and its `file_type` (default `image`).
async fn read(req: Request, max: usize) -> DetailResult<(IncomingFile, UploadKind)> {
    let form = form::read(req, &["file_type"]).await.map_err(|e| match e {
        FormError::NotMultipart => Detail::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected multipart/form-data with a file part",
        ),
        FormError::Broken(why) => Detail::bad_request(format!("Invalid upload: {why}")),
        FormError::TooLarge => too_large(max),
    })?;
    let wanted = match form.text("file_type").unwrap_or("image") {
        "image" | "" => UploadKind::Image,
        "video" => UploadKind::Video,
        _ => return Err(Detail::bad_request("file_type must be image or video")),
    };
    let file = form
        .file
        .ok_or_else(|| Detail::field("body", "file", "field required", "value_error.missing"))?;
    Ok((file, wanted))
}

fn kind_name(k: UploadKind) -> &'static str {
    match k {
        UploadKind::Image => "image",
        UploadKind::Video => "video",
    }
}

fn too_large(max: usize) -> Detail {
    Detail::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("File too large: at most {max} bytes"),
    )
}

/// The reference's refusals: 400 for a type or a size it does not take (`Invalid file
/// type…`, `File too small…`), 413 over the maximum; others (quota 409, pixels 422) keep
/// their native status and message.
fn refusal(e: ApiError, max: usize) -> Detail {
    match e {
        ApiError::UnsupportedMediaType(m) => Detail::bad_request(format!("Invalid file type: {m}")),
        ApiError::Unprocessable("fileTooSmall", m) => {
            Detail::bad_request(format!("File too small: {m}"))
        }
        ApiError::PayloadTooLarge(_) => too_large(max),
        other => other.into(),
    }
}
