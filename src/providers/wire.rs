//! The OpenAI Videos API wire format, shared by the client and the simulator that speaks it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobState, JobStatus};
use crate::domain::lifecycle::TaskError;

/// Response header with the provider's suggested wait before the next poll.
pub const POLL_AFTER_HEADER: &str = "openai-poll-after-ms";

/// The `Video` object. Unknown fields are ignored; every field but `id` may be missing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VideoObject {
    pub id: String,
    #[serde(default = "video_object")]
    pub object: String,
    #[serde(default)]
    pub status: String,
    /// A whole percentage in the API; fractions are accepted.
    #[serde(default, serialize_with = "whole_number")]
    pub progress: Option<f64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub completed_at: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub model: Option<String>,
    /// A string in the API (`"4"`); numbers are accepted too.
    #[serde(default)]
    pub seconds: Option<Value>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub error: Option<WireError>,
}

fn video_object() -> String {
    "video".into()
}

fn whole_number<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) if p.fract() == 0.0 => s.serialize_i64(*p as i64),
        Some(p) => s.serialize_f64(*p),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WireError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `{"error": {...}}`, the body of a failed API call.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<ApiErrorDetail>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ApiErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
}

impl VideoObject {
    /// Our view of it. An unknown status is logged and treated as still running.
    pub fn to_status(&self, poll_after_ms: Option<u64>) -> JobStatus {
        let state = match self.status.as_str() {
            "queued" => JobState::Queued,
            "in_progress" => JobState::Running,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            other => {
                tracing::warn!(external_id = %self.id, status = %other, "unknown provider status; treating the job as still running");
                JobState::Running
            }
        };
        let error = (state == JobState::Failed).then(|| {
            let e = self.error.clone().unwrap_or_default();
            TaskError {
                code: e.code.unwrap_or_else(|| "providerError".into()),
                message: e
                    .message
                    .unwrap_or_else(|| "the provider reported a failure".into()),
            }
        });
        let seconds = match &self.seconds {
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(Value::Number(n)) => n.as_f64().map(|f| f.round() as i64),
            _ => None,
        };
        JobStatus {
            external_id: self.id.clone(),
            state,
            progress: self
                .progress
                .filter(|p| p.is_finite())
                .map(|p| p.clamp(0.0, 100.0) as u8),
            error,
            expires_at: self.expires_at.map(|s| s.saturating_mul(1000)),
            seconds,
            size: self.size.clone(),
            poll_after_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_and_unknown_fields_are_ignored() {
        let raw = r#"{"id":"v1","object":"video","status":"in_progress","progress":42.7,
            "created_at":1,"expires_at":100,"seconds":"8","size":"720x1280","brand_new":{"x":1}}"#;
        let v: VideoObject = serde_json::from_str(raw).unwrap();
        let s = v.to_status(Some(500));
        assert_eq!(s.state, JobState::Running);
        assert_eq!(s.progress, Some(42));
        assert_eq!(s.expires_at, Some(100_000));
        assert_eq!(s.seconds, Some(8));
        assert_eq!(s.poll_after_ms, Some(500));
        for (raw, want) in [
            ("queued", JobState::Queued),
            ("completed", JobState::Completed),
            ("failed", JobState::Failed),
            ("pending_review", JobState::Running),
        ] {
            let v = VideoObject {
                id: "v".into(),
                status: raw.into(),
                ..Default::default()
            };
            assert_eq!(v.to_status(None).state, want, "{raw}");
        }
    }

    #[test]
    fn a_failure_keeps_the_providers_error() {
        let raw =
            r#"{"id":"v","status":"failed","error":{"code":"moderation_blocked","message":"no"}}"#;
        let s = serde_json::from_str::<VideoObject>(raw)
            .unwrap()
            .to_status(None);
        let e = s.error.unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("moderation_blocked", "no")
        );
    }
}
