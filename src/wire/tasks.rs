//! Tasks as clients see them: the task, its event frames, its content, stats and models.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::domain::{EventType, TaskError, TaskEvent, TaskResult, TaskStatus};
use crate::media::MediaUrls;
use crate::store::Task;

/// A task (`GET /api/video/tasks/{videoId}`, the lists, the WebSocket `taskStatus`).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    #[schema(pattern = "^video_[0-9a-f-]{36}$")]
    pub video_id: String,
    /// The provider's job id, once submitted.
    pub external_video_id: Option<String>,
    pub user_id: String,
    pub status: TaskStatus,
    #[schema(minimum = 0, maximum = 100)]
    pub progress: i64,
    /// The task's latest event number (PROTOCOL §2).
    pub seq: i64,
    pub prompt: String,
    pub model: String,
    pub seconds: i64,
    pub size: String,
    #[schema(pattern = "^(standard|hd)$")]
    pub quality: String,
    #[schema(pattern = "^(textToVideo|imageToVideo|remix)$")]
    pub kind: String,
    pub reference_image_url: Option<String>,
    pub message: Option<String>,
    pub error: Option<TaskError>,
    pub result: Option<TaskResult>,
    pub credits_charged: i64,
    pub credits_refunded: i64,
    /// The failed task this one retries.
    pub retry_of: Option<String>,
    /// The completed task this one remixes (kind `remix`).
    pub remix_of: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

impl TaskView {
    /// The task with its media URLs signed by `urls` (as stored when `None`).
    pub fn new(task: &Task, urls: Option<&MediaUrls>) -> Self {
        let mut result = task.result();
        if let (Some(urls), Some(r)) = (urls, result.as_mut()) {
            urls.sign_task_result(r);
        }
        Self {
            video_id: task.id.clone(),
            external_video_id: task.external_id.clone(),
            user_id: task.user_id.clone(),
            status: task.status,
            progress: task.progress,
            seq: task.seq,
            prompt: task.prompt.clone(),
            model: task.model.clone(),
            seconds: task.seconds,
            size: task.size.clone(),
            quality: task.quality.clone(),
            kind: task.kind.clone(),
            reference_image_url: task.reference_image_url.clone(),
            message: task.message.clone(),
            error: task.error(),
            result,
            credits_charged: task.credits_charged,
            credits_refunded: task.credits_refunded,
            retry_of: task.retry_of.clone(),
            remix_of: task.remix_of.clone(),
            created_at: rfc3339(task.created_at),
            updated_at: rfc3339(task.updated_at),
            completed_at: task.completed_at.map(rfc3339),
        }
    }
}

/// One entry of a task's event log: exactly the WebSocket frame (PROTOCOL §3).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventFrame {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Unix milliseconds of the change.
    pub timestamp: i64,
    /// Always has `videoId`, `status`, `progress` and `seq`; the rest depends on `type`.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<&TaskEvent> for EventFrame {
    fn from(e: &TaskEvent) -> Self {
        Self {
            event_type: e.event_type,
            timestamp: e.created_at,
            payload: serde_json::to_value(&e.payload).unwrap_or_default(),
        }
    }
}

/// `GET /api/video/tasks/{videoId}/events`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvents {
    pub video_id: String,
    /// The task's latest `seq`.
    pub seq: i64,
    pub events: Vec<EventFrame>,
}

/// `GET /api/video/tasks/{videoId}/content`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskContent {
    pub video_id: String,
    pub external_video_id: Option<String>,
    /// Whether the video was copied into this server's media store.
    pub copied: bool,
    pub url: String,
    pub thumbnail_url: Option<String>,
}

/// `DELETE /api/video/tasks/{videoId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDeleted {
    pub video_id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// `GET /api/video/stats`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatsView {
    pub total: i64,
    /// Count per status; every status is present.
    pub by_status: std::collections::BTreeMap<String, i64>,
    /// Credits charged net of refunds.
    pub credits_spent: i64,
}

/// Credits per task by quality.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QualityPrices {
    pub standard: i64,
    pub hd: i64,
}

/// Credits per task by kind and quality.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceTable {
    pub text_to_video: QualityPrices,
    pub image_to_video: QualityPrices,
}

impl PriceTable {
    pub fn new(text: (i64, i64), image: (i64, i64)) -> Self {
        Self {
            text_to_video: QualityPrices {
                standard: text.0,
                hd: text.1,
            },
            image_to_video: QualityPrices {
                standard: image.0,
                hd: image.1,
            },
        }
    }
}

/// A model, what it allows, and what it costs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    pub id: String,
    pub seconds: Vec<u32>,
    pub sizes: Vec<String>,
    pub prices: PriceTable,
}

/// `GET /api/video/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsView {
    pub models: Vec<ModelView>,
    pub prices: PriceTable,
    pub qualities: Vec<String>,
    /// Always `credits`.
    pub unit: String,
}
