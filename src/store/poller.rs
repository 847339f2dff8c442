//! The poller's leases: which node drives which open task, until when.
//!
//! A task is due when `next_poll_at <= now` (NULL once terminal). A node claims due tasks by
//! writing its id and an expiry into `lease_owner` / `lease_until` in one statement; a live
//! lease hides the task from every other node, and an expired one (its node died) is simply
//! claimed again. On PostgreSQL the inner `SELECT … FOR UPDATE SKIP LOCKED` makes concurrent
//! claims skip each other's rows instead of waiting or double-claiming; SQLite has a single
//! writer, so the same statement is atomic there without it.

use super::{Dialect, Store, StoreResult, Task, TASK_COLS};

/// A claimed task and who held its (expired) lease before, if anyone.
#[derive(sqlx::FromRow)]
struct Claimed {
    #[sqlx(flatten)]
    task: Task,
    prev_owner: Option<String>,
}

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
        // The previous owner comes along so a takeover (a dead node's expired lease) is counted.
        let q = format!(
            "UPDATE tasks SET lease_owner = $1, lease_until = $2
             FROM (
                SELECT id AS claim_id, lease_owner AS prev_owner FROM tasks
                WHERE next_poll_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                  AND provider IN ({names})
                ORDER BY next_poll_at, id LIMIT $4{lock}) AS claim
             WHERE tasks.id = claim.claim_id
             RETURNING {TASK_COLS}, claim.prev_owner"
        );
        let mut query = sqlx::query_as::<_, Claimed>(&q)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(limit);
        for p in providers {
            query = query.bind(p);
        }
        let claimed = query.fetch_all(self.pool()).await?;
        let taken = claimed.iter().filter(|c| c.prev_owner.is_some()).count();
        if taken > 0 {
            crate::ops::metrics::get()
                .lease_takeovers
                .increment(taken as u64);
        }
        Ok(claimed.into_iter().map(|c| c.task).collect())
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
}
