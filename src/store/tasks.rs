//! Video tasks and their per-task event logs.
//!
//! Every change of a task's row and the event that announces it are written in one
//! transaction, with the event taking the task's next `seq` (PROTOCOL §2).

use serde_json::{json, Value};

use super::events::insert_event;
use super::DbTx;
use super::{Store, StoreError, StoreResult};
use crate::domain::ids::new_video_id;
use crate::domain::lifecycle::{self, TaskChange, TaskError, TaskResult, TaskState};
use crate::domain::time::now_ms;
use crate::domain::{EventDetail, EventPayload, EventType, TaskEvent, TaskStatus};

/// A task row as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Task {
    pub id: String,
    pub user_id: String,
    pub external_id: Option<String>,
    pub provider: String,
    pub kind: String,
    pub model: String,
    pub prompt: String,
    pub seconds: i64,
    pub size: String,
    pub quality: String,
    pub reference_image_url: Option<String>,
    /// Path (under the data dir) of an uploaded reference image.
    pub input_image: Option<String>,
    pub webhook_url: Option<String>,
    /// Decoded on read: an unknown status in a row is an error, not a default.
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    pub progress: i64,
    pub seq: i64,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub video_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub duration: Option<i64>,
    pub resolution: Option<String>,
    pub credits_charged: i64,
    pub credits_refunded: i64,
    pub retry_of: Option<String>,
    /// The completed task this one remixes (kind `remix`).
    pub remix_of: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub next_poll_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub poll_attempts: i64,
    pub provider_expires_at: Option<i64>,
}

pub const TASK_COLS: &str =
    "id, user_id, external_id, provider, kind, model, prompt, seconds, size, \
    quality, reference_image_url, input_image, webhook_url, status, progress, seq, message, \
    error_code, error_message, video_url, thumbnail_url, duration, resolution, credits_charged, \
    credits_refunded, retry_of, created_at, updated_at, completed_at, next_poll_at, lease_owner, \
    lease_until, poll_attempts, provider_expires_at, remix_of";

impl Task {
    pub fn status(&self) -> TaskStatus {
        self.status
    }

    pub fn error(&self) -> Option<TaskError> {
        self.error_code.as_ref().map(|code| TaskError {
            code: code.clone(),
            message: self.error_message.clone().unwrap_or_default(),
        })
    }

    pub fn result(&self) -> Option<TaskResult> {
        self.video_url.as_ref().map(|url| TaskResult {
            video_url: url.clone(),
            thumbnail_url: self.thumbnail_url.clone(),
            duration: self.duration,
            resolution: self.resolution.clone(),
        })
    }

    pub fn state(&self) -> TaskState {
        TaskState {
            status: self.status(),
            progress: self.progress.clamp(0, 100) as u8,
            message: self.message.clone(),
            external_id: self.external_id.clone(),
            error: self.error(),
            result: self.result(),
        }
    }

    /// The payload of the frame that announces this task's latest change (PROTOCOL §3).
    pub fn event_payload(&self, event: EventType) -> EventPayload {
        let detail = match event {
            EventType::TaskCreated => EventDetail::Created {
                prompt: self.prompt.clone(),
                model: self.model.clone(),
            },
            EventType::TaskProgress => EventDetail::Progress {
                message: self.message.clone(),
            },
            EventType::TaskCompleted => EventDetail::Completed {
                result: self.result(),
            },
            EventType::TaskFailed => EventDetail::Failed {
                error: self.error(),
                credits_refunded: self.credits_refunded,
            },
            EventType::TaskCancelled => EventDetail::Cancelled {
                credits_refunded: self.credits_refunded,
            },
        };
        EventPayload {
            video_id: self.id.clone(),
            external_video_id: self.external_id.clone(),
            status: self.status,
            progress: self.progress,
            seq: self.seq,
            detail,
        }
    }
}

/// Parameters of a task to create.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub user_id: String,
    pub provider: String,
    pub kind: String,
    pub model: String,
    pub prompt: String,
    pub seconds: i64,
    pub size: String,
    pub quality: String,
    pub reference_image_url: Option<String>,
    pub input_image: Option<String>,
    pub webhook_url: Option<String>,
    pub retry_of: Option<String>,
    /// Credits to charge in the creating transaction.
    pub price: i64,
}

/// A client's `Idempotency-Key` for a task creation, with the fingerprint of its request.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub key: String,
    /// Tells a repeat of the request from another request that reuses the key.
    pub fingerprint: String,
}

/// What [`Store::create_task_keyed`] found or made.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per creation, never kept
pub enum Keyed {
    Created(Task, TaskEvent),
    /// The user made a task with this key from the same request before: that task.
    Repeated(Task),
    /// The user's task with this key was made from a different request.
    Reused,
}

/// Per-user counts for `GET /api/video/stats`.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStats {
    pub total: i64,
    pub by_status: serde_json::Map<String, Value>,
    pub credits_spent: i64,
}

impl Store {
    /// Creates a task (seq 1, `queued`) and its `taskCreated` event in one transaction.
    /// Charges `new.price` credits in the same transaction (FIFO over the user's lots; a
    /// short balance is `InsufficientCredits` and nothing is written).
    pub async fn create_task(&self, new: NewTask) -> StoreResult<(Task, TaskEvent)> {
        self.create_task_remixing(new, None).await
    }

    /// [`Store::create_task`], for a task that remixes the task `remix_of`.
    pub async fn create_task_remixing(
        &self,
        new: NewTask,
        remix_of: Option<&str>,
    ) -> StoreResult<(Task, TaskEvent)> {
        self.insert_task(new, remix_of, None).await
    }

    /// [`Store::create_task`] under the user's `Idempotency-Key`: a new task bound to the key,
    /// or, when the user has one with it already, that one (as [`Store::task_by_idempotency_key`]
    /// tells it; callers look that up first, this covers the race). Two requests with one key at
    /// once make one task: the second one's insert waits for the first one's transaction and
    /// then finds its task.
    pub async fn create_task_keyed(
        &self,
        new: NewTask,
        key: &IdempotencyKey,
    ) -> StoreResult<Keyed> {
        let user_id = new.user_id.clone();
        match self.insert_task(new, None, Some(key)).await {
            Ok((task, event)) => Ok(Keyed::Created(task, event)),
            Err(StoreError::Conflict(e)) => self
                .task_by_idempotency_key(&user_id, key)
                .await?
                .ok_or(StoreError::Conflict(e)),
            Err(e) => Err(e),
        }
    }

    /// The task `user_id` made with `key`, if any.
    pub async fn task_by_idempotency_key(
        &self,
        user_id: &str,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Keyed>> {
        let q = format!(
            "SELECT {TASK_COLS}, idempotency_fingerprint FROM tasks
             WHERE user_id = $1 AND idempotency_key = $2"
        );
        let row: Option<(Task, Option<String>)> = sqlx::query(&q)
            .bind(user_id)
            .bind(&key.key)
            .fetch_optional(self.pool())
            .await?
            .map(|row| -> Result<_, sqlx::Error> {
                let task = <Task as sqlx::FromRow<_>>::from_row(&row)?;
                Ok((task, sqlx::Row::try_get(&row, "idempotency_fingerprint")?))
            })
            .transpose()?;
        Ok(row.map(|(task, fingerprint)| {
            if fingerprint.as_deref() == Some(&key.fingerprint) {
                Keyed::Repeated(task)
            } else {
                Keyed::Reused
            }
        }))
    }

    async fn insert_task(
        &self,
        new: NewTask,
        remix_of: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<(Task, TaskEvent)> {
        let now = now_ms();
        let id = new_video_id();
        let mut tx = self.pool().begin().await?;
        // The task first, then its charge: a second request with the same idempotency key
        // waits here for the first one's transaction (the unique index) and then fails,
        // instead of being refused for the credits the first one spent.
        let q = format!(
            "INSERT INTO tasks (id, user_id, provider, kind, model, prompt, seconds, size, quality,
                reference_image_url, input_image, webhook_url, status, progress, seq, retry_of,
                credits_charged, created_at, updated_at, next_poll_at, remix_of,
                idempotency_key, idempotency_fingerprint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'queued', 0, 1, $13, $14, $15, $15, $15, $16, $17, $18)
             RETURNING {TASK_COLS}"
        );
        let task: Task = sqlx::query_as(&q)
            .bind(&id)
            .bind(&new.user_id)
            .bind(&new.provider)
            .bind(&new.kind)
            .bind(&new.model)
            .bind(&new.prompt)
            .bind(new.seconds)
            .bind(&new.size)
            .bind(&new.quality)
            .bind(&new.reference_image_url)
            .bind(&new.input_image)
            .bind(&new.webhook_url)
            .bind(&new.retry_of)
            .bind(new.price)
            .bind(now)
            .bind(remix_of)
            .bind(key.map(|k| k.key.as_str()))
            .bind(key.map(|k| k.fingerprint.as_str()))
            .fetch_one(&mut *tx)
            .await?;
        if new.price > 0 {
            let what = format!(
                "{} {} · {} · {}s",
                new.kind, new.quality, new.model, new.seconds
            );
            super::ledger::spend_for_task(&mut tx, &new.user_id, new.price, &id, what).await?;
        }
        let event = insert_event(&mut tx, &task, EventType::TaskCreated).await?;
        tx.commit().await?;
        if new.price > 0 {
            crate::ops::metrics::get()
                .credits_charged
                .increment(new.price as u64);
        }
        Ok((task, self.client_event(event)))
    }

    pub async fn get_task(&self, video_id: &str) -> StoreResult<Task> {
        let q = format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1");
        Ok(sqlx::query_as(&q)
            .bind(video_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// The task if `user_id` owns it; someone else's task is `NotFound`, like a missing one.
    pub async fn get_user_task(&self, user_id: &str, video_id: &str) -> StoreResult<Task> {
        let q = format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1 AND user_id = $2");
        Ok(sqlx::query_as(&q)
            .bind(video_id)
            .bind(user_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// A page of the user's tasks, newest first, and the total count.
    pub async fn list_user_tasks(
        &self,
        user_id: &str,
        status: Option<TaskStatus>,
        page: i64,
        page_size: i64,
    ) -> StoreResult<(Vec<Task>, i64)> {
        let filter = status.map(|s| ("status", s.as_str()));
        let order = "created_at DESC, id DESC";
        self.user_page(TASK_COLS, "tasks", user_id, filter, order, page, page_size)
            .await
    }

    /// Applies `change` under the lifecycle rules in one transaction: the row, the event with
    /// the next `seq`, (for failed/cancelled) the refund, and (for a terminal event of a task
    /// with a `webhookUrl`) its outbox message. `Ok(None)` when nothing changed.
    pub async fn apply_change(
        &self,
        video_id: &str,
        change: &TaskChange,
    ) -> StoreResult<Option<(Task, TaskEvent)>> {
        let mut tx = self.pool().begin().await?;
        // A no-op write first: it locks the row (PostgreSQL) / the database (SQLite).
        let q = format!("UPDATE tasks SET seq = seq WHERE id = $1 RETURNING {TASK_COLS}");
        let mut task: Task = sqlx::query_as(&q)
            .bind(video_id)
            .fetch_one(&mut *tx)
            .await?;
        let Some((next, event)) = lifecycle::apply(&task.state(), change) else {
            tx.rollback().await?;
            return Ok(None);
        };
        let now = now_ms().max(task.updated_at);
        let refunded_before = task.credits_refunded;
        task.seq += 1;
        task.updated_at = now;
        task.status = next.status;
        task.progress = i64::from(next.progress);
        task.message = next.message;
        task.external_id = next.external_id;
        task.error_code = next.error.as_ref().map(|e| e.code.clone());
        task.error_message = next.error.map(|e| e.message);
        if let Some(r) = next.result {
            task.video_url = Some(r.video_url);
            task.thumbnail_url = r.thumbnail_url;
            task.duration = r.duration;
            task.resolution = r.resolution;
        }
        if next.status.is_terminal() {
            task.completed_at = Some(now);
            task.next_poll_at = None;
            task.lease_owner = None;
            task.lease_until = None;
        }
        if matches!(next.status, TaskStatus::Failed | TaskStatus::Cancelled) {
            task.credits_refunded += self.refund_task_credits(&mut tx, &task).await?;
        }
        sqlx::query(
            "UPDATE tasks SET seq = $2, updated_at = $3, status = $4, progress = $5, message = $6,
                external_id = $7, error_code = $8, error_message = $9, video_url = $10,
                thumbnail_url = $11, duration = $12, resolution = $13, completed_at = $14,
                next_poll_at = $15, lease_owner = $16, lease_until = $17, credits_refunded = $18
             WHERE id = $1",
        )
        .bind(&task.id)
        .bind(task.seq)
        .bind(task.updated_at)
        .bind(task.status.as_str())
        .bind(task.progress)
        .bind(&task.message)
        .bind(&task.external_id)
        .bind(&task.error_code)
        .bind(&task.error_message)
        .bind(&task.video_url)
        .bind(&task.thumbnail_url)
        .bind(task.duration)
        .bind(&task.resolution)
        .bind(task.completed_at)
        .bind(task.next_poll_at)
        .bind(&task.lease_owner)
        .bind(task.lease_until)
        .bind(task.credits_refunded)
        .execute(&mut *tx)
        .await?;
        let ev = insert_event(&mut tx, &task, event).await?;
        let ev = self.client_event(ev);
        if let (Some(url), true) = (&task.webhook_url, event.is_terminal()) {
            super::webhooks::enqueue(&mut tx, &task, url, &ev).await?;
        }
        tx.commit().await?;
        let refunded = task.credits_refunded - refunded_before;
        if refunded > 0 {
            crate::ops::metrics::get()
                .credits_refunded
                .increment(refunded as u64);
        }
        Ok(Some((task, ev)))
    }

    /// Credits to give back for a task that failed or was cancelled, moved inside `tx` (a
    /// `refunded` lot and ledger row). Returns the amount refunded now; a task is refunded at
    /// most once: the caller only reaches here on the single transition into a terminal
    /// state, and the ledger's unique reference refuses a second refund of the same task.
    async fn refund_task_credits(&self, tx: &mut DbTx<'_>, task: &Task) -> StoreResult<i64> {
        let amount = (task.credits_charged - task.credits_refunded).max(0);
        super::ledger::refund_task(tx, &task.user_id, &task.id, amount, self.refund_grace_ms())
            .await
    }

    /// Deletes a terminal task and its events, returning its upload path (for the caller to
    /// remove). An open task is a `Conflict`.
    pub async fn delete_user_task(
        &self,
        user_id: &str,
        video_id: &str,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.pool().begin().await?;
        let deleted: Option<(Option<String>,)> = sqlx::query_as(
            "DELETE FROM tasks WHERE id = $1 AND user_id = $2
               AND status IN ('completed', 'failed', 'cancelled') RETURNING input_image",
        )
        .bind(video_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if deleted.is_none() {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT status FROM tasks WHERE id = $1 AND user_id = $2")
                    .bind(video_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match exists {
                Some(_) => StoreError::Conflict(
                    "only finished tasks can be deleted; cancel it first".into(),
                ),
                None => StoreError::NotFound,
            });
        }
        sqlx::query("DELETE FROM task_events WHERE task_id = $1")
            .bind(video_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.and_then(|(rel,)| rel))
    }

    /// Whether any task refers to the upload at `rel`.
    pub async fn upload_in_use(&self, rel: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tasks WHERE input_image = $1")
            .bind(rel)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    pub async fn user_task_stats(&self, user_id: &str) -> StoreResult<TaskStats> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(credits_charged - credits_refunded), 0) AS BIGINT)
             FROM tasks WHERE user_id = $1 GROUP BY status",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        let mut stats = TaskStats::default();
        for s in TaskStatus::ALL {
            stats.by_status.insert(s.as_str().into(), json!(0));
        }
        for (status, count, spent) in rows {
            stats.total += count;
            stats.credits_spent += spent;
            stats.by_status.insert(status, json!(count));
        }
        Ok(stats)
    }
}
