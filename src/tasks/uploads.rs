//! A task's input image in the store (`uploads/<uuid>.<ext>`: under the data dir, or in the
//! S3 bucket every node shares): the bytes of a multipart upload, or of a `referenceImageUrl` fetched once at creation (so the poller never reaches
//! a user's URL). Files are written only after the plan and credit checks, removed when the
//! task's creation fails and when the task is deleted; a periodic sweep removes any upload no
//! task refers to once it is older than `TASKHUB_UPLOAD_ORPHAN_GRACE_SECS`.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use super::context::{TaskContext, TaskSettings};
use crate::error::{ApiError, ApiResult};

/// Folder of uploads inside the data dir (task rows keep `uploads/<uuid>.<ext>`).
pub const DIR: &str = "uploads";

/// An image accepted for a task, not stored yet.
#[derive(Debug, Clone)]
pub struct ImageData {
    pub bytes: Bytes,
    /// `png`, `jpg` or `webp` (`gif` from an upload, made a PNG at creation).
    pub ext: &'static str,
}

/// The extension of an accepted image MIME type.
pub fn ext_for(mime: &str) -> Option<&'static str> {
    match mime {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpg"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// Only paths this module makes: `uploads/<uuid>.<png|jpg|webp>`.
pub fn is_upload_path(rel: &str) -> bool {
    let Some(name) = rel.strip_prefix("uploads/") else {
        return false;
    };
    is_upload_name(name)
}

fn is_upload_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        ["png", "jpg", "webp"].contains(&ext) && uuid::Uuid::try_parse(stem).is_ok()
    })
}

/// Writes `image` under a new name (atomically) and returns its relative path.
pub async fn save(settings: &TaskSettings, image: &ImageData) -> ApiResult<String> {
    let rel = format!("{DIR}/{}.{}", uuid::Uuid::new_v4(), image.ext);
    if let Err(e) = settings.storage.put(&rel, image.bytes.clone()).await {
        return Err(ApiError::Internal(
            anyhow::Error::from(e).context("saving an upload"),
        ));
    }
    Ok(rel)
}

/// The stored image at `rel` (for a retry, which gets its own copy, and for the provider
/// call), if it is still there.
pub async fn read(settings: &TaskSettings, rel: &str) -> Option<ImageData> {
    if !is_upload_path(rel) {
        return None;
    }
    let ext = match rel.rsplit('.').next()? {
        "png" => "png",
        "webp" => "webp",
        _ => "jpg",
    };
    match settings.storage.read(rel).await {
        Ok(bytes) => Some(ImageData { bytes, ext }),
        Err(e) => {
            tracing::warn!(path = rel, error = %e, "uploaded image unreadable");
            None
        }
    }
}

/// Deletes a stored upload (best effort; paths this module did not make are left alone).
pub async fn remove(settings: &TaskSettings, rel: &str) {
    if !is_upload_path(rel) {
        tracing::warn!(path = rel, "not removing an unexpected upload path");
        return;
    }
    if let Err(e) = settings.storage.delete(rel).await {
        tracing::warn!(path = rel, error = %e, "could not delete an upload");
    }
}

/// Fetches a `referenceImageUrl` once, at creation, through the guarded outbound client:
/// at most `TASKHUB_REFERENCE_FETCH_TIMEOUT_MS` in all and `max_upload_bytes` of PNG, JPEG
/// or WebP. Any failure is a 422 on `referenceImageUrl` (nothing has been charged yet).
pub async fn fetch_reference(state: &TaskContext, url: &str) -> ApiResult<ImageData> {
    let ms = state.settings.uploads.reference_fetch_timeout_ms.max(1);
    let refuse = |m: String| ApiError::field("referenceImageUrl", m);
    match tokio::time::timeout(Duration::from_millis(ms), fetch(state, url)).await {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(m)) => Err(refuse(format!("could not be fetched: {m}"))),
        Err(_) => Err(refuse(format!("could not be fetched within {ms} ms"))),
    }
}

async fn fetch(state: &TaskContext, url: &str) -> Result<ImageData, String> {
    let client = state.video.outbound.client_for(url)?;
    let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("it answered {status}"));
    }
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ext = ext_for(&mime).ok_or(format!("it must be PNG, JPEG or WebP (got '{mime}')"))?;
    let max = state.settings.max_upload_bytes;
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("it is larger than {max} bytes"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > max {
            return Err(format!("it is larger than {max} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Err("it is empty".into());
    }
    Ok(ImageData {
        bytes: bytes.into(),
        ext,
    })
}

/// Every `TASKHUB_UPLOAD_SWEEP_INTERVAL_SECS`, removes uploads no task refers to.
pub fn spawn_orphan_sweep(state: TaskContext) {
    let p = &state.settings.uploads;
    let every = Duration::from_secs(p.upload_sweep_interval_secs);
    let grace = Duration::from_secs(p.upload_orphan_grace_secs);
    let shutdown = state.shutdown.clone();
    crate::periodic::spawn_every(every, shutdown, move || {
        let state = state.clone();
        async move {
            match sweep_orphans(&state, grace).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "removed orphaned uploads"),
                Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
            }
        }
    });
}

/// Removes uploads older than `grace` that no task refers to; returns how many. The grace
/// period covers a creation that has written its file but not yet committed its task.
/// (Temporary files of interrupted writes are the store's business: the folder store
/// keeps them out of listings, S3 never shows an unfinished object.)
pub async fn sweep_orphans(state: &TaskContext, grace: Duration) -> anyhow::Result<usize> {
    let storage = &state.settings.storage;
    let now = chrono::Utc::now();
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let mut removed = 0;
    for (key, written) in storage.list(DIR).await? {
        let old = now.signed_duration_since(written) >= grace;
        // `.part`: temporary files of earlier versions.
        let orphan = if is_upload_path(&key) {
            !state.store.upload_in_use(&key).await?
        } else {
            key.ends_with(".part")
        };
        if old && orphan {
            storage.delete(&key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The uploads folder of `settings` (tests look inside it).
pub fn dir(settings: &TaskSettings) -> PathBuf {
    settings.data_dir.join(DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_upload_paths_are_touched() {
        assert!(is_upload_path(
            "uploads/0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.png"
        ));
        for bad in [
            "uploads/../jwt_secret",
            "media/0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.png",
            "uploads/0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b.exe",
            "/etc/passwd",
            "uploads/x.png",
        ] {
            assert!(!is_upload_path(bad), "{bad}");
        }
    }
}
