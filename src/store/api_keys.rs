//! API keys: stored as SHA-256 hashes, shown to their owner once at creation.

use super::{Store, StoreError, StoreResult};
use crate::domain::time::now_ms;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The key's first characters, so its owner can tell keys apart.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const KEY_COLS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";

/// Keys one user may hold at once.
pub const MAX_KEYS_PER_USER: i64 = 20;

impl ApiKey {}

impl Store {
    /// Stores a key by hash. At most [`MAX_KEYS_PER_USER`] live keys per user (`Conflict`).
    pub async fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        prefix: &str,
        key_hash: &str,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.pool().begin().await?;
        // Lock the user first so two concurrent creations cannot both pass the limit.
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (live,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        if live >= MAX_KEYS_PER_USER {
            return Err(StoreError::Conflict(format!(
                "at most {MAX_KEYS_PER_USER} API keys; revoke one first"
            )));
        }
        let q = format!(
            "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLS}"
        );
        let key = sqlx::query_as(&q)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(user_id)
            .bind(name)
            .bind(prefix)
            .bind(key_hash)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        let q = format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        Ok(sqlx::query_as(&q)
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Revokes the user's key; someone else's or an unknown key is `NotFound`.
    pub async fn revoke_api_key(&self, user_id: &str, id: &str) -> StoreResult<ApiKey> {
        let q = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
             WHERE id = $1 AND user_id = $2 RETURNING {KEY_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(id)
            .bind(user_id)
            .bind(now_ms())
            .fetch_one(self.pool())
            .await?)
    }

    /// The (user id, username) a live key belongs to. Notes the use at most once a minute.
    pub async fn user_for_api_key(&self, key_hash: &str) -> StoreResult<Option<(String, String)>> {
        let found: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT k.id, u.id, u.username, k.last_used_at FROM api_keys k
             JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some((key_id, user_id, username, last_used)) = found else {
            return Ok(None);
        };
        let now = now_ms();
        if last_used.is_none_or(|t| now - t > 60_000) {
            sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                .bind(&key_id)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(Some((user_id, username)))
    }
}
