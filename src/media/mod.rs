//! Finished videos and thumbnails, copied from the provider into `{data_dir}/media/` and
//! served at `/media/{videoId}.{ext}?exp=…&sig=…`.
//!
//! Why a signature: a `<video>` element cannot send a bearer token, and a `videoId` alone is
//! not a secret (UUIDv7, partly a timestamp). Tasks store the media key (the file name); the
//! signed, expiring URL is made when a task is read for its owner ([`urls`]). Deleting a task
//! deletes its files.

pub mod settings;
pub mod urls;

use std::path::PathBuf;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use self::settings::MediaSettings;
pub use self::urls::{Denied, MediaUrls};
use crate::providers::{Download, Variant};

/// Path prefix of media URLs.
pub const ROUTE: &str = "/media";
const EXTENSIONS: [&str; 6] = ["mp4", "webm", "mov", "jpg", "png", "webp"];

#[derive(Clone)]
pub struct MediaStore {
    dir: PathBuf,
    urls: MediaUrls,
    max_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Failed(String),
}

impl MediaStore {
    /// Files in `dir` (`{data_dir}/media`), URLs signed by `urls`.
    pub fn new(dir: PathBuf, urls: MediaUrls, settings: &MediaSettings) -> Self {
        Self {
            dir,
            urls,
            max_bytes: settings.media_max_bytes,
        }
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

    /// Only names this module makes: `video_<uuid>.<known ext>` (no paths, no dots inside).
    pub fn is_valid_name(file: &str) -> bool {
        let Some((stem, ext)) = file.rsplit_once('.') else {
            return false;
        };
        EXTENSIONS.contains(&ext)
            && stem
                .strip_prefix("video_")
                .is_some_and(|u| uuid::Uuid::try_parse(u).is_ok())
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Streams a download into `file` (through a temporary name, so a half-written file is
    /// never served), refusing more than `media_max_bytes`. Returns the size.
    pub async fn save(&self, file: &str, mut download: Download) -> Result<u64, SaveError> {
        let io = |e: std::io::Error| SaveError::Failed(format!("writing media: {e}"));
        if download.content_length.is_some_and(|n| n > self.max_bytes) {
            return Err(SaveError::TooLarge(self.max_bytes));
        }
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let tmp = self
            .dir
            .join(format!("{file}.{}.part", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut out = tokio::fs::File::create(&tmp).await.map_err(io)?;
            let mut size = 0u64;
            while let Some(chunk) = download.body.next().await {
                let chunk = chunk.map_err(|e| SaveError::Failed(e.to_string()))?;
                size += chunk.len() as u64;
                if size > self.max_bytes {
                    return Err(SaveError::TooLarge(self.max_bytes));
                }
                out.write_all(&chunk).await.map_err(io)?;
            }
            out.sync_all().await.map_err(io)?;
            if size == 0 {
                return Err(SaveError::Failed("the provider sent an empty file".into()));
            }
            tokio::fs::rename(&tmp, self.path(file)).await.map_err(io)?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Deletes a task's files (best effort).
    pub async fn remove_task(&self, video_id: &str) {
        for ext in EXTENSIONS {
            let path = self.path(&format!("{video_id}.{ext}"));
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not delete media")
                }
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
        for bad in [
            "../x.mp4",
            "video_x.mp4",
            "video_0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.exe",
            "jwt_secret",
        ] {
            assert!(!MediaStore::is_valid_name(bad), "{bad}");
        }
    }
}
