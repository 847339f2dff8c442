//! Reads the hub needs beyond the task module: a user's recent events, to refill what the
//! bus lost.

use super::{EventRow, Store, StoreResult, TaskEvent};

impl Store {
    /// Events of `user_id`'s tasks committed at or after `since_ms`, each task's in `seq`
    /// order, at most `limit`.
    pub async fn user_events_since(
        &self,
        user_id: &str,
        since_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<TaskEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT e.task_id, t.user_id, e.seq, e.type, e.payload, e.created_at
             FROM tasks t JOIN task_events e ON e.task_id = t.id
             WHERE t.user_id = $1 AND t.updated_at >= $2 AND e.created_at >= $2
             ORDER BY e.task_id, e.seq LIMIT $3",
        )
        .bind(user_id)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| TaskEvent::try_from(r).map(|e| self.client_event(e)))
            .collect()
    }
}
