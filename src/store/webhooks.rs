//! The outgoing-webhook outbox: one `webhook_deliveries` row per message (written inside the
//! transaction that commits the task event it carries, so a message is never lost to a
//! crash), its `webhook_attempts`, and each user's signing secret (`webhook_secrets`).
//!
//! Any node's worker claims due messages with a lease, like the poller claims tasks
//! (`store::poller`): a live lease hides a message from every other node, an expired one
//! (its node died) is claimed again, and `FOR UPDATE SKIP LOCKED` keeps concurrent claims
//! apart on PostgreSQL (SQLite has a single writer).

use super::{DbTx, Dialect, Store, StoreResult, Task};
use crate::domain::TaskEvent;

/// A message waiting for, or done with, delivery.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: String,
    pub task_id: String,
    pub user_id: String,
    pub event_seq: i64,
    pub event_type: String,
    /// The JSON body sent (the event's WS frame).
    pub payload: String,
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLS: &str = "id, task_id, user_id, event_seq, event_type, payload, url, status,
    attempts, next_attempt_at, last_status_code, last_error, created_at, delivered_at";

/// One try at delivering a message.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebhookAttempt {
    pub delivery_id: String,
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What an attempt decided for its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// Given up (410 Gone, or too old).
    Failed,
}

/// A new message for `task`'s webhook carrying `event` (as clients see it), inside `tx`.
pub(super) async fn enqueue(
    tx: &mut DbTx<'_>,
    task: &Task,
    url: &str,
    event: &TaskEvent,
) -> StoreResult<()> {
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, task_id, user_id, event_seq, event_type, payload,
            url, status, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
    )
    .bind(id)
    .bind(&task.id)
    .bind(&task.user_id)
    .bind(event.seq)
    .bind(event.event_type.as_str())
    .bind(event.frame_text())
    .bind(url)
    .bind(event.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes a deleted account's messages and secret, inside `tx`.
pub(super) async fn forget_user(tx: &mut DbTx<'_>, user_id: &str) -> StoreResult<()> {
    for q in [
        "DELETE FROM webhook_deliveries WHERE user_id = $1",
        "DELETE FROM webhook_secrets WHERE user_id = $1",
    ] {
        sqlx::query(q).bind(user_id).execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Claims up to `limit` pending messages that are due and not leased (or whose lease
    /// expired) for `owner` until `lease_until`, oldest due first.
    pub async fn claim_webhook_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let lock = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let q = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
             WHERE id IN (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= $3
                  AND (lease_until IS NULL OR lease_until < $3)
                ORDER BY next_attempt_at, id LIMIT $4{lock})
             RETURNING {DELIVERY_COLS}"
        );
        Ok(sqlx::query_as(&q)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Records `attempt` and what it decided, and ends `owner`'s lease, in one transaction.
    /// False (nothing written) when the lease was lost meanwhile.
    pub async fn finish_webhook_attempt(
        &self,
        owner: &str,
        attempt: &WebhookAttempt,
        next: NextStep,
    ) -> StoreResult<bool> {
        let (status, next_at, delivered_at) = match next {
            NextStep::Delivered => ("delivered", None, Some(attempt.at)),
            NextStep::RetryAt(t) => ("pending", Some(t), None),
            NextStep::Failed => ("failed", None, None),
        };
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5,
                delivered_at = $6, last_status_code = $7, last_error = $8,
                lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
        )
        .bind(&attempt.delivery_id)
        .bind(owner)
        .bind(status)
        .bind(attempt.attempt)
        .bind(next_at)
        .bind(delivered_at)
        .bind(attempt.status_code)
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&attempt.delivery_id)
        .bind(attempt.attempt)
        .bind(attempt.at)
        .bind(attempt.status_code)
        .bind(&attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Drops every message lease `owner` holds (a node shutting down).
    pub async fn release_webhook_leases(&self, owner: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The task's messages, oldest first (at most `limit`), each with its attempts
    /// (at most `attempts_limit` per message, the latest ones).
    pub async fn task_webhook_deliveries(
        &self,
        task_id: &str,
        limit: i64,
        attempts_limit: i64,
    ) -> StoreResult<Vec<(WebhookDelivery, Vec<WebhookAttempt>)>> {
        let q = format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE task_id = $1
             ORDER BY created_at, id LIMIT $2"
        );
        let deliveries: Vec<WebhookDelivery> = sqlx::query_as(&q)
            .bind(task_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            let mut attempts: Vec<WebhookAttempt> = sqlx::query_as(
                "SELECT delivery_id, attempt, at, status_code, error, duration_ms
                 FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt DESC LIMIT $2",
            )
            .bind(&d.id)
            .bind(attempts_limit)
            .fetch_all(self.pool())
            .await?;
            attempts.reverse();
            out.push((d, attempts));
        }
        Ok(out)
    }

    /// The user's webhook secret and when it was made, if any.
    pub async fn webhook_secret(&self, user_id: &str) -> StoreResult<Option<(String, i64)>> {
        Ok(
            sqlx::query_as("SELECT secret, created_at FROM webhook_secrets WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The user's secret, storing `candidate` first if they have none (two nodes racing
    /// both end up with the one stored first).
    pub async fn ensure_webhook_secret(
        &self,
        user_id: &str,
        candidate: &str,
        now: i64,
    ) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO webhook_secrets (user_id, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(candidate)
        .bind(now)
        .execute(self.pool())
        .await?;
        let (secret, _) = self
            .webhook_secret(user_id)
            .await?
            .ok_or(super::StoreError::NotFound)?;
        Ok(secret)
    }

    /// Stores `secret` as the user's secret, replacing any other.
    pub async fn rotate_webhook_secret(
        &self,
        user_id: &str,
        secret: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_secrets (user_id, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret,
                created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
