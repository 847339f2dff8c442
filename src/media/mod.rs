//! Finished videos and thumbnails, copied from the provider into the store ([`storage`]:
//! `media/{file}` under the data dir, or in the S3 bucket) and served at
//! `/media/{videoId}.{ext}?exp=…&sig=…`.
//!
//! Why a signature: a `<video>` element cannot send a bearer token, and a `videoId` alone is
//! not a secret (UUIDv7, partly a timestamp). Tasks store the media key (the file name); the
//! signed, expiring URL is made when a task is read for its owner ([`urls`]). Deleting a task
//! deletes its files.

pub mod fit;
pub mod settings;
pub mod storage;
pub mod urls;

use self::settings::{MediaDelivery, MediaSettings};
pub use self::storage::{SaveError, Storage, StorageError};
pub use self::urls::{Denied, MediaUrls};
use crate::providers::{Download, Variant};

/// Path prefix of media URLs.
pub const ROUTE: &str = "/media";
const EXTENSIONS: [&str; 6] = ["mp4", "webm", "mov", "jpg", "png", "webp"];

#[derive(Clone)]
pub struct MediaStore {
    storage: Storage,
    urls: MediaUrls,
    max_bytes: u64,
    delivery: MediaDelivery,
    presign_ttl: std::time::Duration,
}

/// Folder (key prefix) of finished media in the store.
const DIR: &str = "media";
/// Folder (key prefix) of user uploads (`POST /api/uploads`), served at `/media/upl_….ext`
/// too. Apart from `uploads/` (task input images), which the task upload sweep owns.
pub const UPLOADS_DIR: &str = "user-uploads";
/// Extensions of user uploads.
const UPLOAD_EXTENSIONS: [&str; 7] = ["png", "jpg", "webp", "gif", "mp4", "webm", "mov"];

impl MediaStore {
    /// Files under `media/` in `storage`, URLs signed by `urls`.
    pub fn new(storage: Storage, urls: MediaUrls, settings: &MediaSettings) -> Self {
        Self {
            storage,
            urls,
            max_bytes: settings.media_max_bytes,
            delivery: settings.media_delivery,
            presign_ttl: std::time::Duration::from_secs(settings.media_presign_ttl_secs.max(1)),
        }
    }

    /// The store media (and uploads) live in.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// How `/media` hands files out.
    pub fn delivery(&self) -> MediaDelivery {
        self.delivery
    }

    /// How long a presigned store URL works.
    pub fn presign_ttl(&self) -> std::time::Duration {
        self.presign_ttl
    }

    /// Signs and checks media URLs.
    pub fn urls(&self) -> &MediaUrls {
        &self.urls
    }

    /// `video_….mp4` for the content type the provider stated.
    pub fn file_name(video_id: &str, variant: Variant, content_type: Option<&str>) -> String {
        let ct = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let ext = match (variant, ct) {
            (Variant::Video, "video/webm") => "webm",
            (Variant::Video, "video/quicktime") => "mov",
            (Variant::Video, _) => "mp4",
            (Variant::Thumbnail, "image/png") => "png",
            (Variant::Thumbnail, "image/webp") => "webp",
            (Variant::Thumbnail, _) => "jpg",
        };
        format!("{video_id}.{ext}")
    }

    /// Only names this module makes: `video_<uuid>.<known ext>`, or a user upload's
    /// `upl_<uuid>.<known ext>` (no paths, no dots inside).
    pub fn is_valid_name(file: &str) -> bool {
        let Some((stem, ext)) = file.rsplit_once('.') else {
            return false;
        };
        let uuid = |u: &str| uuid::Uuid::try_parse(u).is_ok();
        match stem.strip_prefix("upl_") {
            Some(u) => UPLOAD_EXTENSIONS.contains(&ext) && uuid(u),
            None => EXTENSIONS.contains(&ext) && stem.strip_prefix("video_").is_some_and(uuid),
        }
    }

    /// The store key of `file` (`media/…`, or `user-uploads/…` for an upload).
    pub fn key(file: &str) -> String {
        if file.starts_with("upl_") {
            format!("{UPLOADS_DIR}/{file}")
        } else {
            format!("{DIR}/{file}")
        }
    }

    /// Streams a download into `file` (an atomic write, so a half-written file is never
    /// served; multipart for large bodies), refusing more than `media_max_bytes`. Returns
    /// the size.
    pub async fn save(&self, file: &str, download: Download) -> Result<u64, SaveError> {
        if download.content_length.is_some_and(|n| n > self.max_bytes) {
            return Err(SaveError::TooLarge(self.max_bytes));
        }
        self.storage
            .put_stream(&Self::key(file), download.body, self.max_bytes)
            .await
    }

    /// Copies media file `from` to `to` (both names as [`MediaStore::is_valid_name`] checks).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.storage.copy(&Self::key(from), &Self::key(to)).await
    }

    /// Deletes one media file; a missing one is not an error.
    pub async fn remove(&self, file: &str) -> Result<(), StorageError> {
        self.storage.delete(&Self::key(file)).await
    }

    /// Deletes a task's files (best effort).
    pub async fn remove_task(&self, video_id: &str) {
        for ext in EXTENSIONS {
            let key = Self::key(&format!("{video_id}.{ext}"));
            if let Err(e) = self.storage.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "could not delete media");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_names_are_valid() {
        assert!(MediaStore::is_valid_name(
            "video_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.jpg"
        ));
        let upload = "upl_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.gif";
        assert!(MediaStore::is_valid_name(upload));
        assert_eq!(MediaStore::key(upload), format!("user-uploads/{upload}"));
        for bad in [
            "../x.mp4",
            "video_x.mp4",
            "video_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.exe",
            "jwt_secret",
            "upl_x.png",
            "upl_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.html",
        ] {
            assert!(!MediaStore::is_valid_name(bad), "{bad}");
        }
    }
}
