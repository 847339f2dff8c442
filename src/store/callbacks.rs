//! What provider callbacks need from the store: finding a task by its provider job id,
//! taking one task's lease at once (a callback settles through the poller's own path, under
//! the same lease, so a callback and a concurrent poll never both apply), and remembering
//! which incoming webhook ids were already settled (a replay is a no-op), and the hashed
//! per-task callback tokens of callback providers.

use super::{Dialect, Store, StoreResult, Task, TASK_COLS};

impl Store {
    /// The task whose provider job is `external_id` at one of `providers`, if any.
    pub async fn find_task_by_external_id(
        &self,
        providers: &[&str],
        external_id: &str,
    ) -> StoreResult<Option<Task>> {
        if providers.is_empty() {
            return Ok(None);
        }
        let names = (0..providers.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let q = format!(
            "SELECT {TASK_COLS} FROM tasks WHERE external_id = $1 AND provider IN ({names})
             ORDER BY created_at LIMIT 1"
        );
        let mut query = sqlx::query_as::<_, Task>(&q).bind(external_id);
        for p in providers {
            query = query.bind(*p);
        }
        Ok(query.fetch_optional(self.pool()).await?)
    }

    /// Claims the open task `id` for `owner` until `lease_until`, whether or not it is due,
    /// unless another node holds a live lease on it (or it ended). `None` then.
    pub async fn claim_task(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<Task>> {
        let lock = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let q = format!(
            "UPDATE tasks SET lease_owner = $2, lease_until = $3
             WHERE id IN (
                SELECT id FROM tasks WHERE id = $1 AND next_poll_at IS NOT NULL
                  AND (lease_until IS NULL OR lease_until < $4){lock})
             RETURNING {TASK_COLS}"
        );
        Ok(sqlx::query_as::<_, Task>(&q)
            .bind(id)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Stores the hash of the callback token of the task `owner` is submitting.
    pub async fn set_callback_hash(&self, id: &str, owner: &str, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET callback_token_hash = $3 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The task whose callback token hashes to `hash`.
    pub async fn find_task_by_callback_hash(&self, hash: &str) -> StoreResult<Option<Task>> {
        let q = format!("SELECT {TASK_COLS} FROM tasks WHERE callback_token_hash = $1");
        Ok(sqlx::query_as::<_, Task>(&q)
            .bind(hash)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Whether webhook `webhook_id` was already settled.
    pub async fn webhook_receipt_seen(&self, webhook_id: &str) -> StoreResult<bool> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT webhook_id FROM provider_webhook_receipts WHERE webhook_id = $1",
        )
        .bind(webhook_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Remembers that webhook `webhook_id` was settled, and forgets receipts older than
    /// `keep_ms` (a replay older than the signature window is refused anyway).
    pub async fn record_webhook_receipt(
        &self,
        webhook_id: &str,
        now: i64,
        keep_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO provider_webhook_receipts (webhook_id, received_at) VALUES ($1, $2)
             ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(webhook_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        sqlx::query("DELETE FROM provider_webhook_receipts WHERE received_at < $1")
            .bind(now - keep_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
