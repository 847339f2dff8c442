//! What the provider callback routes answer.

use serde::Serialize;
use utoipa::ToSchema;

/// What a provider webhook or callback did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderWebhookReceipt {
    pub received: bool,
    /// `settled` (status fetched and applied), `alreadySettled` (the task had ended),
    /// `pending` (a poll is driving the task right now and applies it), `duplicate` (this
    /// webhook id was settled before) or `ignored` (unknown job or event type).
    pub outcome: String,
    /// The task the job belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// The task's status after settling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl ProviderWebhookReceipt {
    pub fn new(outcome: &str) -> Self {
        Self {
            received: true,
            outcome: outcome.into(),
            video_id: None,
            status: None,
        }
    }
}
