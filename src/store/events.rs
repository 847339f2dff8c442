//! Task event logs: one row per state change, keyed by `(task_id, seq)`, holding exactly the
//! payload of the WS frame that announces it.

use serde_json::{json, Value};

use super::{Store, StoreError, StoreResult, Task};
use crate::tasks::lifecycle::EventType;

pub(super) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// One entry of a task's event log; its envelope is exactly the WS frame.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEvent {
    pub video_id: String,
    pub user_id: String,
    pub seq: i64,
    pub event_type: EventType,
    pub payload: Value,
    /// When the event was committed (Unix ms); the frame's `timestamp`.
    pub created_at: i64,
}

impl TaskEvent {
    pub fn envelope(&self) -> Value {
        json!({ "type": self.event_type.as_str(), "timestamp": self.created_at, "payload": self.payload })
    }
}

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
        let bad =
            |e: serde_json::Error| StoreError::Other(anyhow::Error::new(e).context("stored event"));
        Ok(TaskEvent {
            video_id: r.task_id,
            user_id: r.user_id,
            seq: r.seq,
            event_type: serde_json::from_value(Value::String(r.event_type)).map_err(bad)?,
            payload: serde_json::from_str(&r.payload).map_err(bad)?,
            created_at: r.created_at,
        })
    }
}

/// Appends `task`'s latest change (its current `seq`) to its log, inside `tx`.
pub(super) async fn insert_event(
    tx: &mut Tx<'_>,
    task: &Task,
    event: EventType,
) -> StoreResult<TaskEvent> {
    let payload = task.event_payload(event);
    let now = task.updated_at;
    sqlx::query(
        "INSERT INTO task_events (task_id, seq, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&task.id)
    .bind(task.seq)
    .bind(event.as_str())
    .bind(payload.to_string())
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
