//! Files under `user-uploads/` that no `uploads` row refers to (a node died between writing
//! a file and its row) are removed once older than `TASKHUB_UPLOAD_ORPHAN_GRACE_SECS`, every
//! `TASKHUB_UPLOAD_SWEEP_INTERVAL_SECS`. A file with a row is never touched here.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Uploads;
use crate::media::{MediaStore, UPLOADS_DIR};

/// Runs [`Uploads::sweep_orphans`] every `every` until `shutdown`.
pub fn spawn(uploads: Uploads, every: Duration, grace: Duration, shutdown: CancellationToken) {
    crate::periodic::spawn_every(every, shutdown, move || {
        let uploads = uploads.clone();
        async move {
            match uploads.sweep_orphans(grace).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "removed orphaned user uploads"),
                Err(e) => tracing::warn!(error = %e, "user upload sweep failed"),
            }
        }
    });
}

impl Uploads {
    /// Removes files under `user-uploads/` older than `grace` without an `uploads` row (and
    /// anything there whose name this module does not make); returns how many.
    pub async fn sweep_orphans(&self, grace: Duration) -> anyhow::Result<usize> {
        let storage = self.media.storage();
        let now = chrono::Utc::now();
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut removed = 0;
        for (key, written) in storage.list(UPLOADS_DIR).await? {
            if now.signed_duration_since(written) < grace {
                continue;
            }
            let file = key.rsplit('/').next().unwrap_or("");
            let ours = MediaStore::is_valid_name(file) && file.starts_with("upl_");
            if ours && self.store.upload_key_in_use(&key).await? {
                continue;
            }
            storage.delete(&key).await?;
            removed += 1;
        }
        Ok(removed)
    }
}
