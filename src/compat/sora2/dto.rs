//! The Sora 2 API's shapes shared by its resources: its two task views (the video API's
//! upper-case statuses and the task API's lower-case ones), messages, and its datetimes
//! (RFC 3339 in whole seconds with `Z`, as the reference prints them).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::TaskStatus;
use crate::store::{Store, Task};
use crate::wire::TaskView;

/// `2025-01-05T12:00:00Z`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The video API's status: `PENDING`, `PROCESSING`, `SUCCEEDED` or `FAILED` (a cancelled
/// task is `FAILED`, as the reference maps its backend's `CANCELLED`).
pub fn video_status(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Queued => "PENDING",
        TaskStatus::Processing => "PROCESSING",
        TaskStatus::Completed => "SUCCEEDED",
        TaskStatus::Failed | TaskStatus::Cancelled => "FAILED",
    }
}

/// The task API's status: `pending`, `processing`, `completed` or `failed`.
pub fn task_status(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Queued => "pending",
        TaskStatus::Processing => "processing",
        TaskStatus::Completed => "completed",
        TaskStatus::Failed | TaskStatus::Cancelled => "failed",
    }
}

/// A status filter in either spelling (`pending`, `PENDING`, `SUCCEEDED`, taskhub's own
/// `queued`/`cancelled`), as the native status; `failed` is taskhub's `failed` only.
pub fn parse_status(s: &str) -> Option<TaskStatus> {
    match s.to_ascii_lowercase().as_str() {
        "pending" | "queued" => Some(TaskStatus::Queued),
        "processing" | "running" => Some(TaskStatus::Processing),
        "completed" | "succeeded" => Some(TaskStatus::Completed),
        "failed" => Some(TaskStatus::Failed),
        "cancelled" => Some(TaskStatus::Cancelled),
        _ => None,
    }
}

/// `TEXT_TO_VIDEO`, `IMAGE_TO_VIDEO`, or `REMIX` (a remix made through the native API).
pub fn task_type(kind: &str) -> &'static str {
    match kind {
        "imageToVideo" => "IMAGE_TO_VIDEO",
        "remix" => "REMIX",
        _ => "TEXT_TO_VIDEO",
    }
}

/// The finished video's URL (signed like the native API's) and the error message.
fn result_and_error(task: &Task, store: &Store) -> (Option<String>, Option<String>) {
    let view = TaskView::new(task, store.media_urls());
    (
        view.result.map(|r| r.video_url),
        view.error.map(|e| e.message),
    )
}

/// `GET /api/videos/tasks/{task_id}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2VideoTask)]
pub struct VideoTaskOut {
    pub task_id: String,
    #[schema(pattern = "^(PENDING|PROCESSING|SUCCEEDED|FAILED)$")]
    pub status: String,
    #[schema(minimum = 0, maximum = 100)]
    pub progress: f64,
    pub result_url: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

impl VideoTaskOut {
    pub fn new(task: &Task, store: &Store) -> Self {
        let (result_url, error_message) = result_and_error(task, store);
        Self {
            task_id: task.id.clone(),
            status: video_status(task.status).into(),
            progress: task.progress as f64,
            result_url,
            error_message,
            created_at: time(task.created_at),
            updated_at: time(task.updated_at),
            completed_at: task.completed_at.map(time),
        }
    }
}

/// `GET /api/tasks/{task_id}` and the items of the task list.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Task)]
pub struct TaskOut {
    pub task_id: String,
    pub user_id: String,
    #[schema(pattern = "^(TEXT_TO_VIDEO|IMAGE_TO_VIDEO|REMIX)$")]
    pub task_type: String,
    #[schema(pattern = "^(pending|processing|completed|failed)$")]
    pub status: String,
    #[schema(minimum = 0, maximum = 100)]
    pub progress: f64,
    pub result_url: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

impl TaskOut {
    pub fn new(task: &Task, store: &Store) -> Self {
        let (result_url, error_message) = result_and_error(task, store);
        Self {
            task_id: task.id.clone(),
            user_id: task.user_id.clone(),
            task_type: task_type(&task.kind).into(),
            status: task_status(task.status).into(),
            progress: task.progress as f64,
            result_url,
            error_message,
            created_at: time(task.created_at),
            updated_at: time(task.updated_at),
            completed_at: task.completed_at.map(time),
        }
    }
}

/// `{"message": …}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Message)]
pub struct MessageOut {
    pub message: String,
}

impl MessageOut {
    pub fn new(m: impl Into<String>) -> Self {
        Self { message: m.into() }
    }
}

/// `{"detail": …}`: a message, or FastAPI's list of field errors (422).
#[derive(Serialize, ToSchema)]
#[schema(as = Sora2Detail)]
#[allow(dead_code)]
pub struct DetailOut {
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page number or size from the query: default when absent or empty, else within
/// `min..=max` (422 naming the parameter otherwise, as FastAPI answers).
pub fn page_param(
    name: &str,
    raw: Option<&str>,
    default: i64,
    max: i64,
) -> super::super::detail::DetailResult<i64> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(super::super::detail::Detail::field(
            "query",
            name,
            format!("a whole number from 1 to {max}"),
            "value_error",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_the_reference_says() {
        use TaskStatus::*;
        let video: Vec<_> = TaskStatus::ALL.iter().map(|s| video_status(*s)).collect();
        assert_eq!(
            video,
            ["PENDING", "PROCESSING", "SUCCEEDED", "FAILED", "FAILED"]
        );
        let task: Vec<_> = TaskStatus::ALL.iter().map(|s| task_status(*s)).collect();
        assert_eq!(
            task,
            ["pending", "processing", "completed", "failed", "failed"]
        );
        assert_eq!(parse_status("SUCCEEDED"), Some(Completed));
        assert_eq!(parse_status("pending"), Some(Queued));
        assert_eq!(parse_status("nope"), None);
        assert_eq!(time(1_736_078_400_123), "2025-01-05T12:00:00Z");
    }
}
