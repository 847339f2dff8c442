//! The poller's leases: which node drives which open task, until when.
//!
//! A task is due when `next_poll_at <= now` (NULL once terminal). A node claims due tasks by
//! writing its id and an expiry into `lease_owner` / `lease_until` in one statement; a live
//! lease hides the task from every other node, and an expired one (its node died) is simply
//! claimed again. On PostgreSQL the inner `SELECT … FOR UPDATE SKIP LOCKED` makes concurrent
//! claims skip each other's rows instead of waiting or double-claiming; SQLite has a single
//! writer, so the same statement is atomic there without it.

use super::{Dialect, Store, StoreResult, Task, TASK_COLS};

impl Store {
    /// Claims up to `limit` due, unleased (or lease-expired) tasks whose provider is one of
    /// `providers` for `owner` until `lease_until`, oldest due first.
    pub async fn claim_due_tasks(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        providers: &[String],
    ) -> StoreResult<Vec<Task>> {
        if providers.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let names = (0..providers.len())
            .map(|i| format!("${}", i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let lock = match self.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let q = format!(
            "UPDATE tasks SET lease_owner = $1, lease_until = $2
             WHERE id IN (
                SELECT id FROM tasks
                WHERE next_poll_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                  AND provider IN ({names})
                ORDER BY next_poll_at, id LIMIT $4{lock})
             RETURNING {TASK_COLS}"
        );
        self.count_takeovers(now, limit).await;
        let mut query = sqlx::query_as::<_, Task>(&q)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit);
        for p in providers {
            query = query.bind(p);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// Extends `owner`'s lease on an open task; false when the lease was lost (expired and
    /// taken, or the task ended).
    pub async fn extend_lease(&self, id: &str, owner: &str, until: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET lease_until = $3
             WHERE id = $1 AND lease_owner = $2 AND next_poll_at IS NOT NULL",
        )
        .bind(id)
        .bind(owner)
        .bind(until)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends `owner`'s lease on an open task and schedules its next poll (and remembers when
    /// the provider deletes its content). A task that ended meanwhile stays as it is.
    pub async fn release_task(
        &self,
        id: &str,
        owner: &str,
        next_poll_at: i64,
        provider_expires_at: Option<i64>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET next_poll_at = $3, lease_owner = NULL, lease_until = NULL,
                poll_attempts = poll_attempts + 1,
                provider_expires_at = COALESCE($4, provider_expires_at)
             WHERE id = $1 AND lease_owner = $2 AND next_poll_at IS NOT NULL",
        )
        .bind(id)
        .bind(owner)
        .bind(next_poll_at)
        .bind(provider_expires_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Drops every lease `owner` holds (a node shutting down), so other nodes take over now.
    pub async fn release_leases(&self, owner: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE tasks SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Counts expired leases that are still owned (their node died without releasing them)
    /// and are about to be claimed, for `taskhub_poller_lease_takeovers_total`. One small
    /// count per claim; approximate when several nodes claim at once.
    async fn count_takeovers(&self, now: i64, limit: i64) {
        let found: Result<(i64,), _> = sqlx::query_as(
            "SELECT COUNT(*) FROM tasks
             WHERE next_poll_at <= $1 AND lease_owner IS NOT NULL AND lease_until < $1",
        )
        .bind(now)
        .fetch_one(self.pool())
        .await;
        if let Ok((n,)) = found {
            let n = n.min(limit).max(0) as u64;
            if n > 0 {
                crate::ops::metrics::get().lease_takeovers.increment(n);
            }
        }
    }
}
