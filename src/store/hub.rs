//! Reads the hub needs beyond the task module: a user's recent events, to refill what the
//! bus lost.

use serde_json::Value;

use super::{Store, StoreError, StoreResult, TaskEvent};

impl Store {
    /// Events of `user_id`'s tasks committed at or after `since_ms`, each task's in `seq`
    /// order, at most `limit`.
    pub async fn user_events_since(
        &self,
        user_id: &str,
        since_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<TaskEvent>> {
        let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(
            "SELECT e.task_id, e.seq, e.type, e.payload, e.created_at
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
            .map(|(video_id, seq, ty, payload, created_at)| {
                Ok(TaskEvent {
                    video_id,
                    user_id: user_id.to_string(),
                    seq,
                    event_type: serde_json::from_value(Value::String(ty))
                        .map_err(|e| StoreError::Other(e.into()))?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|e| StoreError::Other(e.into()))?,
                    created_at,
                })
            })
            .collect()
    }
}
