//! Task events (PROTOCOL §2–3): one per state change, numbered by the task's `seq`. The
//! payload is typed per event type; its envelope `{type, timestamp, payload}` is exactly the
//! WebSocket frame, the REST event-log entry and the webhook body.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::lifecycle::{EventType, TaskError, TaskResult, TaskStatus};

/// One entry of a task's event log.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEvent {
    pub video_id: String,
    pub user_id: String,
    pub seq: i64,
    pub event_type: EventType,
    pub payload: EventPayload,
    /// When the event was committed (Unix ms); the frame's `timestamp`.
    pub created_at: i64,
}

/// The payload every event frame carries, then the fields of its type.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload {
    pub video_id: String,
    pub external_video_id: Option<String>,
    pub status: TaskStatus,
    pub progress: i64,
    pub seq: i64,
    #[serde(flatten)]
    pub detail: EventDetail,
}

/// The fields of one event type (its tag is the envelope's `type`, not in the payload).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum EventDetail {
    Created {
        prompt: String,
        model: String,
    },
    Progress {
        message: Option<String>,
    },
    Completed {
        result: Option<TaskResult>,
    },
    Failed {
        error: Option<TaskError>,
        credits_refunded: i64,
    },
    Cancelled {
        credits_refunded: i64,
    },
}

impl EventDetail {
    pub fn event_type(&self) -> EventType {
        match self {
            EventDetail::Created { .. } => EventType::TaskCreated,
            EventDetail::Progress { .. } => EventType::TaskProgress,
            EventDetail::Completed { .. } => EventType::TaskCompleted,
            EventDetail::Failed { .. } => EventType::TaskFailed,
            EventDetail::Cancelled { .. } => EventType::TaskCancelled,
        }
    }
}

/// Any payload as stored, before its type says which fields it must have.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredPayload {
    video_id: String,
    #[serde(default)]
    external_video_id: Option<String>,
    status: TaskStatus,
    progress: i64,
    seq: i64,
    prompt: Option<String>,
    model: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    result: Option<TaskResult>,
    #[serde(default)]
    error: Option<TaskError>,
    credits_refunded: Option<i64>,
}

/// Why a stored or received payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("event payload is not valid JSON for its shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{kind} payload lacks `{field}`")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
}

impl EventPayload {
    /// Reads a payload of type `kind` from its JSON text; a field the type needs and the text
    /// lacks is an error, not a default.
    pub fn parse(kind: EventType, json: &str) -> Result<Self, PayloadError> {
        let p: StoredPayload = serde_json::from_str(json)?;
        let missing = |field| PayloadError::Missing {
            kind: kind.as_str(),
            field,
        };
        let detail = match kind {
            EventType::TaskCreated => EventDetail::Created {
                prompt: p.prompt.ok_or_else(|| missing("prompt"))?,
                model: p.model.ok_or_else(|| missing("model"))?,
            },
            EventType::TaskProgress => EventDetail::Progress { message: p.message },
            EventType::TaskCompleted => EventDetail::Completed { result: p.result },
            EventType::TaskFailed => EventDetail::Failed {
                error: p.error,
                credits_refunded: p
                    .credits_refunded
                    .ok_or_else(|| missing("creditsRefunded"))?,
            },
            EventType::TaskCancelled => EventDetail::Cancelled {
                credits_refunded: p
                    .credits_refunded
                    .ok_or_else(|| missing("creditsRefunded"))?,
            },
        };
        Ok(EventPayload {
            video_id: p.video_id,
            external_video_id: p.external_video_id,
            status: p.status,
            progress: p.progress,
            seq: p.seq,
            detail,
        })
    }

    /// The finished video of a `taskCompleted` payload, for signing its URLs.
    pub fn result_mut(&mut self) -> Option<&mut TaskResult> {
        match &mut self.detail {
            EventDetail::Completed { result } => result.as_mut(),
            _ => None,
        }
    }
}

/// `{type, timestamp, payload}`: the frame, borrowed from its event.
#[derive(Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub timestamp: i64,
    pub payload: &'a EventPayload,
}

impl TaskEvent {
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope {
            kind: self.event_type,
            timestamp: self.created_at,
            payload: &self.payload,
        }
    }

    /// The envelope as JSON text (the Redis message, the webhook body).
    pub fn frame_text(&self) -> String {
        serde_json::to_string(&self.envelope()).expect("an event always serializes")
    }

    /// The envelope as a shared frame, serialized once for every socket that receives it.
    pub fn frame(&self) -> Frame {
        Frame::from(self.frame_text())
    }
}

/// The JSON text of a frame, immutable and cheap to clone (shared by every socket that
/// receives it). Always valid UTF-8: it can only be made from a `String` or `&'static str`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    pub const fn from_static(s: &'static str) -> Self {
        Frame(Bytes::from_static(s.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        // Cannot fail: every constructor takes a `str`. Checked rather than assumed, so a
        // mistake here is a panic in tests, never undefined behaviour.
        std::str::from_utf8(&self.0).expect("Frame holds UTF-8")
    }

    /// The bytes, UTF-8 by construction.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Self {
        Frame(Bytes::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: EventDetail) -> TaskEvent {
        let kind = detail.event_type();
        TaskEvent {
            video_id: "video_1".into(),
            user_id: "u1".into(),
            seq: 3,
            event_type: kind,
            payload: EventPayload {
                video_id: "video_1".into(),
                external_video_id: None,
                status: TaskStatus::Processing,
                progress: 40,
                seq: 3,
                detail,
            },
            created_at: 1234,
        }
    }

    #[test]
    fn every_type_round_trips_through_its_stored_text() {
        let details = [
            EventDetail::Created {
                prompt: "p".into(),
                model: "sora-2".into(),
            },
            EventDetail::Progress {
                message: Some("m".into()),
            },
            EventDetail::Progress { message: None },
            EventDetail::Completed {
                result: Some(TaskResult {
                    video_url: "v.mp4".into(),
                    ..Default::default()
                }),
            },
            EventDetail::Failed {
                error: Some(TaskError {
                    code: "x".into(),
                    message: "y".into(),
                }),
                credits_refunded: 20,
            },
            EventDetail::Cancelled {
                credits_refunded: 0,
            },
        ];
        for d in details {
            let ev = event(d);
            let text = serde_json::to_string(&ev.payload).unwrap();
            let back = EventPayload::parse(ev.event_type, &text).unwrap();
            assert_eq!(back, ev.payload, "{text}");
        }
    }

    #[test]
    fn the_frame_is_the_envelope_with_nulls_kept() {
        let ev = event(EventDetail::Progress { message: None });
        let v: serde_json::Value = serde_json::from_str(ev.frame().as_str()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "taskProgress", "timestamp": 1234, "payload": {
                "videoId": "video_1", "externalVideoId": null, "status": "processing",
                "progress": 40, "seq": 3, "message": null}})
        );
    }

    #[test]
    fn a_payload_missing_its_types_fields_is_an_error() {
        let text = r#"{"videoId":"v","status":"failed","progress":0,"seq":2}"#;
        assert!(EventPayload::parse(EventType::TaskFailed, text).is_err());
        assert!(EventPayload::parse(EventType::TaskCreated, text).is_err());
        assert!(EventPayload::parse(EventType::TaskProgress, "[]").is_err());
        assert!(EventPayload::parse(EventType::TaskProgress, text).is_ok());
    }
}
