//! Housekeeping deletes: refresh tokens that can never be used again and Stripe event ids
//! past their replay window. Both are bounded per call so a big backlog never holds one long
//! transaction.

use super::{Store, StoreResult};

impl Store {
    /// Deletes at most `limit` refresh tokens that expired, or were revoked, before `cutoff`
    /// (Unix ms). Spent-but-live tokens stay: presenting one again is how a replayed token is
    /// detected and its login revoked.
    pub async fn prune_refresh_tokens(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM refresh_tokens WHERE id IN (
                SELECT id FROM refresh_tokens
                WHERE expires_at < $1 OR (revoked_at IS NOT NULL AND revoked_at < $1)
                LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes at most `limit` processed Stripe event ids received before `cutoff` (Unix ms).
    pub async fn prune_stripe_events(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM stripe_events WHERE id IN (
                SELECT id FROM stripe_events WHERE received_at < $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
