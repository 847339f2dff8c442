//! Outgoing webhooks: a task's deliveries with their attempts, and the user's signing secret
//! (shown once when made; afterwards only whether there is one, when, and its first
//! characters).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::store::{WebhookAttempt, WebhookDelivery};

/// Characters of a secret shown by `GET /api/users/webhook-secret` (`whsec_` and 4 more).
const SHOWN_PREFIX_CHARS: usize = 10;

/// The first characters of a secret, enough to tell two apart.
pub fn secret_prefix(secret: &str) -> String {
    secret.chars().take(SHOWN_PREFIX_CHARS).collect()
}

/// One try at delivering a message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptView {
    /// 1 for the first try.
    pub attempt: i64,
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why there was no answer (timeout, refused address, connection error).
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<&WebhookAttempt> for WebhookAttemptView {
    fn from(a: &WebhookAttempt) -> Self {
        Self {
            attempt: a.attempt,
            at: rfc3339(a.at),
            status_code: a.status_code,
            error: a.error.clone(),
            duration_ms: a.duration_ms,
        }
    }
}

/// One message (the `webhook-id` header), with its latest attempts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryView {
    /// `msg_…`, the same across retries.
    pub id: String,
    pub event_type: String,
    pub event_seq: i64,
    pub url: String,
    /// `pending`, `delivered` or `failed` (410 Gone, or too old).
    pub status: String,
    pub attempt_count: i64,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attempts: Vec<WebhookAttemptView>,
}

impl WebhookDeliveryView {
    pub fn new(d: &WebhookDelivery, attempts: &[WebhookAttempt]) -> Self {
        Self {
            id: d.id.clone(),
            event_type: d.event_type.clone(),
            event_seq: d.event_seq,
            url: d.url.clone(),
            status: d.status.clone(),
            attempt_count: d.attempts,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            last_status_code: d.last_status_code,
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
            attempts: attempts.iter().map(WebhookAttemptView::from).collect(),
        }
    }
}

/// `GET /api/video/tasks/{videoId}/webhooks`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskWebhooks {
    pub video_id: String,
    pub deliveries: Vec<WebhookDeliveryView>,
}

/// `GET /api/users/webhook-secret`: never the secret itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecretInfo {
    pub configured: bool,
    pub created_at: Option<String>,
    /// `whsec_` and the next 4 characters.
    pub prefix: Option<String>,
}

/// `POST /api/users/webhook-secret`: the new secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewWebhookSecret {
    /// `whsec_<base64>`: verify deliveries with it (Standard Webhooks).
    pub secret: String,
    pub created_at: String,
    pub prefix: String,
    pub notice: String,
}
