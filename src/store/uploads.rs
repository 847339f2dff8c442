//! User uploads (`uploads` table): one row per file a user uploaded, with its store key. The
//! per-user quota is checked and the row written in one transaction that starts by locking
//! the user's row, so two concurrent uploads cannot both slip under the quota.

use super::{Store, StoreError, StoreResult};

/// A stored upload.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UploadRow {
    /// `upl_<uuid v7>`.
    pub id: String,
    pub user_id: String,
    /// `user-uploads/upl_<uuid>.<ext>`.
    pub storage_key: String,
    pub content_type: String,
    /// `image` or `video`.
    pub kind: String,
    pub bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub filename: Option<String>,
    pub created_at: i64,
}

const UPLOAD_COLS: &str =
    "id, user_id, storage_key, content_type, kind, bytes, width, height, filename, created_at";

impl Store {
    /// Bytes of the user's stored uploads.
    pub async fn upload_bytes_used(&self, user_id: &str) -> StoreResult<i64> {
        let (used,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM uploads WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(used)
    }

    /// Inserts `row` unless the user's uploads would then exceed `quota` bytes
    /// ([`StoreError::Conflict`] then, nothing written). A deleted or missing user is
    /// [`StoreError::NotFound`].
    pub async fn insert_upload_within_quota(&self, row: &UploadRow, quota: i64) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        // A write first: the user's row lock (PostgreSQL) or the write lock (SQLite).
        let locked = sqlx::query(
            "UPDATE users SET updated_at = updated_at WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(&row.user_id)
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let (used,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM uploads WHERE user_id = $1",
        )
        .bind(&row.user_id)
        .fetch_one(&mut *tx)
        .await?;
        if used.saturating_add(row.bytes) > quota {
            return Err(StoreError::Conflict(format!(
                "upload quota exceeded: {used} of {quota} bytes used, this file is {} bytes",
                row.bytes
            )));
        }
        let q = format!(
            "INSERT INTO uploads ({UPLOAD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(&q)
            .bind(&row.id)
            .bind(&row.user_id)
            .bind(&row.storage_key)
            .bind(&row.content_type)
            .bind(&row.kind)
            .bind(row.bytes)
            .bind(row.width)
            .bind(row.height)
            .bind(&row.filename)
            .bind(row.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's upload `id` (someone else's is `None`, like a missing one).
    pub async fn get_user_upload(&self, user_id: &str, id: &str) -> StoreResult<Option<UploadRow>> {
        let q = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND user_id = $2");
        Ok(sqlx::query_as::<_, UploadRow>(&q)
            .bind(id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Deletes the user's upload `id`; returns its row (its file is the caller's to remove).
    pub async fn delete_user_upload(
        &self,
        user_id: &str,
        id: &str,
    ) -> StoreResult<Option<UploadRow>> {
        let q =
            format!("DELETE FROM uploads WHERE id = $1 AND user_id = $2 RETURNING {UPLOAD_COLS}");
        Ok(sqlx::query_as::<_, UploadRow>(&q)
            .bind(id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Deletes every upload row of the user; returns their store keys.
    pub async fn delete_user_uploads(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("DELETE FROM uploads WHERE user_id = $1 RETURNING storage_key")
                .bind(user_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    /// Whether an upload row refers to the store key `key`.
    pub async fn upload_key_in_use(&self, key: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM uploads WHERE storage_key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}
