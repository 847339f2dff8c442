//! Task event logs: one row per state change, keyed by `(task_id, seq)`, holding exactly the
//! payload of the WS frame that announces it.

use super::{DbTx, Store, StoreError, StoreResult, Task};
use crate::domain::{EventPayload, EventType, TaskEvent};

/// A `task_events` row joined with its task's owner, as the event queries select it:
/// `task_id, user_id, seq, type, payload, created_at`.
#[derive(sqlx::FromRow)]
pub struct EventRow {
    task_id: String,
    user_id: String,
    seq: i64,
    #[sqlx(rename = "type")]
    event_type: String,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for TaskEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> StoreResult<TaskEvent> {
        let bad = |e: anyhow::Error| {
            StoreError::Other(e.context(format!("stored event {} #{}", r.task_id, r.seq)))
        };
        let event_type = EventType::parse(&r.event_type)
            .ok_or_else(|| bad(anyhow::anyhow!("unknown event type '{}'", r.event_type)))?;
        let payload = EventPayload::parse(event_type, &r.payload).map_err(|e| bad(e.into()))?;
        Ok(TaskEvent {
            video_id: r.task_id,
            user_id: r.user_id,
            seq: r.seq,
            event_type,
            payload,
            created_at: r.created_at,
        })
    }
}

/// Appends `task`'s latest change (its current `seq`) to its log, inside `tx`.
pub(super) async fn insert_event(
    tx: &mut DbTx<'_>,
    task: &Task,
    event: EventType,
) -> StoreResult<TaskEvent> {
    let payload = task.event_payload(event);
    let text = serde_json::to_string(&payload).map_err(|e| StoreError::Other(e.into()))?;
    let now = task.updated_at;
    sqlx::query(
        "INSERT INTO task_events (task_id, seq, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&task.id)
    .bind(task.seq)
    .bind(event.as_str())
    .bind(text)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(TaskEvent {
        video_id: task.id.clone(),
        user_id: task.user_id.clone(),
        seq: task.seq,
        event_type: event,
        payload,
        created_at: now,
    })
}

impl Store {
    /// The task's events with `seq > since_seq`, oldest first, at most `limit`.
    pub async fn events_since(
        &self,
        video_id: &str,
        since_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<TaskEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT e.task_id, t.user_id, e.seq, e.type, e.payload, e.created_at
             FROM task_events e JOIN tasks t ON t.id = e.task_id
             WHERE e.task_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3",
        )
        .bind(video_id)
        .bind(since_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| TaskEvent::try_from(r).map(|e| self.client_event(e)))
            .collect()
    }
}
