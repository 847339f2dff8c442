//! User uploads: images and videos a user uploads once (`POST /api/uploads`) and then
//! refers to, by id (`referenceImageUploadId`) or by URL. This module owns their checks
//! (type from the bytes, size bounds, dimensions), the per-user quota, their files (store
//! keys `user-uploads/upl_<uuid>.<ext>`, never a client's name) and their rows (`uploads`).
//!
//! A file is written before its row; the row is inserted under the quota in one
//! transaction, and the file removed again when that fails. A file without a row (a crash
//! in between) is removed by [`sweep`] once older than `TASKHUB_UPLOAD_ORPHAN_GRACE_SECS`.
//! A task made from an upload gets its own copy (`tasks::uploads`), so deleting an upload
//! never breaks a task.

mod check;
pub mod sweep;
mod task_image;

use bytes::Bytes;

use crate::auth::AuthUser;
use crate::domain::time::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::media::MediaStore;
use crate::store::{Store, StoreError, UploadRow};

/// A file as it arrived, not checked yet.
pub struct IncomingFile {
    pub bytes: Bytes,
    /// The client's name for it (display only).
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadKind {
    Image,
    Video,
}

impl UploadKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

/// What the bytes are (decided from the bytes only).
#[derive(Debug, Clone)]
pub struct Checked {
    pub kind: UploadKind,
    pub content_type: &'static str,
    pub ext: &'static str,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A stored upload, as its owner sees it.
#[derive(Debug, Clone)]
pub struct Upload {
    /// `upl_<uuid v7>`.
    pub upload_id: String,
    /// A signed, expiring `/media/upl_….ext` URL (with `TASKHUB_MEDIA_DELIVERY=presigned`
    /// it redirects to the store), relative unless `TASKHUB_MEDIA_BASE_URL` is set, like
    /// task URLs.
    pub url: String,
    pub content_type: String,
    pub kind: UploadKind,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// As sent, sanitised; display only.
    pub filename: Option<String>,
    pub created_at_ms: i64,
}

/// The bounds of `TASKHUB_UPLOAD_*` and `TASKHUB_MAX_UPLOAD_BYTES`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub quota_bytes: u64,
    pub max_pixels: u64,
    pub fit_concurrency: usize,
}

/// The upload use cases over the store and media storage.
#[derive(Clone)]
pub struct Uploads {
    pub store: Store,
    pub media: MediaStore,
    pub limits: Limits,
}

/// Whether `raw` has the shape of an upload id (`upl_` + a UUID).
pub fn is_upload_id(raw: &str) -> bool {
    raw.strip_prefix("upl_")
        .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
}

/// A file name as a client sent it, made safe to show (its last path component, no control
/// characters, at most 255 characters; blank is `None`), as stored uploads keep it.
pub fn display_filename(raw: Option<&str>) -> Option<String> {
    check::sanitize_filename(raw)
}

fn not_found() -> ApiError {
    ApiError::not_found("upload")
}

impl Uploads {
    /// Sniffs and bounds-checks without storing. 413 `payloadTooLarge` above the maximum,
    /// 422 `fileTooSmall` below the minimum, 422 `imageTooLarge` above the pixel limit, 415
    /// `unsupportedMediaType` for anything but an accepted image or video.
    pub fn check(&self, file: &IncomingFile) -> ApiResult<Checked> {
        check::check(&self.limits, file)
    }

    /// Checks, then stores within the user's quota (409 `quotaExceeded`: nothing stored).
    pub async fn store(&self, user: &AuthUser, file: IncomingFile) -> ApiResult<Upload> {
        let checked = self.check(&file)?;
        let quota = i64::try_from(self.limits.quota_bytes).unwrap_or(i64::MAX);
        let size = i64::try_from(checked.bytes).unwrap_or(i64::MAX);
        let used = self.store.upload_bytes_used(&user.id).await?;
        if used.saturating_add(size) > quota {
            return Err(quota_exceeded(format!(
                "upload quota exceeded: {used} of {quota} bytes used, this file is {size} bytes"
            )));
        }
        let id = format!("upl_{}", uuid::Uuid::now_v7());
        let file_name = format!("{id}.{}", checked.ext);
        let key = MediaStore::key(&file_name);
        let row = UploadRow {
            id,
            user_id: user.id.clone(),
            storage_key: key.clone(),
            content_type: checked.content_type.to_string(),
            kind: checked.kind.as_str().to_string(),
            bytes: size,
            width: checked.width.map(i64::from),
            height: checked.height.map(i64::from),
            filename: check::sanitize_filename(file.filename.as_deref()),
            created_at: now_ms(),
        };
        let storage = self.media.storage();
        if let Err(e) = storage.put(&key, file.bytes).await {
            return Err(ApiError::Internal(
                anyhow::Error::from(e).context("storing an upload"),
            ));
        }
        if let Err(e) = self.store.insert_upload_within_quota(&row, quota).await {
            if let Err(e) = storage.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "could not remove a refused upload");
            }
            return Err(match e {
                StoreError::Conflict(m) => quota_exceeded(m),
                StoreError::NotFound => ApiError::Unauthorized("user no longer exists".into()),
                other => other.into(),
            });
        }
        Ok(self.view(row))
    }

    /// The user's own upload (someone else's is 404, like a missing one).
    pub async fn get(&self, user: &AuthUser, upload_id: &str) -> ApiResult<Upload> {
        self.row(user, upload_id).await.map(|r| self.view(r))
    }

    /// If `url` is the URL (or `/media` path) of one of the user's own uploads, that upload.
    /// Recognised by its last path segment, `upl_<uuid>.<ext>`, after `/media/` (our URL)
    /// or `user-uploads/` (a presigned store URL); the signature does not matter, the row's
    /// owner does.
    pub async fn own_by_url(&self, user: &AuthUser, url: &str) -> ApiResult<Option<Upload>> {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let Some((before, file)) = path.rsplit_once('/') else {
            return Ok(None);
        };
        let ours =
            before.ends_with(crate::media::ROUTE) || before.ends_with(crate::media::UPLOADS_DIR);
        if !ours || !file.starts_with("upl_") || !MediaStore::is_valid_name(file) {
            return Ok(None);
        }
        let id = file.split('.').next().unwrap_or("");
        match self.store.get_user_upload(&user.id, id).await? {
            Some(row) if row.storage_key == MediaStore::key(file) => Ok(Some(self.view(row))),
            _ => Ok(None),
        }
    }

    /// Deletes the user's upload and its file (frees its quota); 404 if not the user's.
    pub async fn delete(&self, user: &AuthUser, upload_id: &str) -> ApiResult<()> {
        if !is_upload_id(upload_id) {
            return Err(not_found());
        }
        let row = self.store.delete_user_upload(&user.id, upload_id).await?;
        let row = row.ok_or_else(not_found)?;
        self.remove_file(&row.storage_key).await;
        Ok(())
    }

    /// Deletes all of a user's uploads and their files (account deletion).
    pub async fn purge_user(&self, user_id: &str) -> ApiResult<usize> {
        let keys = self.store.delete_user_uploads(user_id).await?;
        for key in &keys {
            self.remove_file(key).await;
        }
        Ok(keys.len())
    }

    async fn remove_file(&self, key: &str) {
        if let Err(e) = self.media.storage().delete(key).await {
            tracing::warn!(key = %key, error = %e, "could not delete an upload's file");
        }
    }

    async fn row(&self, user: &AuthUser, upload_id: &str) -> ApiResult<UploadRow> {
        if !is_upload_id(upload_id) {
            return Err(not_found());
        }
        let row = self.store.get_user_upload(&user.id, upload_id).await?;
        row.ok_or_else(not_found)
    }

    fn view(&self, row: UploadRow) -> Upload {
        let file = row.storage_key.rsplit('/').next().unwrap_or("");
        let dim = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Upload {
            url: self.media.urls().url(file),
            upload_id: row.id,
            content_type: row.content_type,
            kind: if row.kind == "video" {
                UploadKind::Video
            } else {
                UploadKind::Image
            },
            bytes: u64::try_from(row.bytes).unwrap_or(0),
            width: dim(row.width),
            height: dim(row.height),
            filename: row.filename,
            created_at_ms: row.created_at,
        }
    }
}

fn quota_exceeded(m: String) -> ApiError {
    ApiError::ConflictCode("quotaExceeded", m)
}
