//! The one place that decides what a state change means (PROTOCOL §2).
//!
//! `queued -> processing -> completed | failed`, `queued | processing -> cancelled`.
//! Terminal states never change, progress never goes down, and a change that changes
//! nothing produces no event. [`apply`] is pure, so the rules are unit-tested here and
//! the store only persists what it returns.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Processing,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Processing => "processing",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// Whether `self -> next` is allowed (staying put is handled by the caller).
    pub fn can_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, next),
            (Queued, Processing)
                | (Queued, Failed)
                | (Queued, Cancelled)
                | (Processing, Completed)
                | (Processing, Failed)
                | (Processing, Cancelled)
                // A provider may report completion before we ever saw it running.
                | (Queued, Completed)
        )
    }

    /// The WS frame type announcing a change into this status.
    pub fn event_type(self) -> EventType {
        match self {
            TaskStatus::Queued | TaskStatus::Processing => EventType::TaskProgress,
            TaskStatus::Completed => EventType::TaskCompleted,
            TaskStatus::Failed => EventType::TaskFailed,
            TaskStatus::Cancelled => EventType::TaskCancelled,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum EventType {
    TaskCreated,
    TaskProgress,
    TaskCompleted,
    TaskFailed,
    TaskCancelled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TaskCreated => "taskCreated",
            EventType::TaskProgress => "taskProgress",
            EventType::TaskCompleted => "taskCompleted",
            EventType::TaskFailed => "taskFailed",
            EventType::TaskCancelled => "taskCancelled",
        }
    }

    pub const ALL: [EventType; 5] = [
        EventType::TaskCreated,
        EventType::TaskProgress,
        EventType::TaskCompleted,
        EventType::TaskFailed,
        EventType::TaskCancelled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventType::TaskCompleted | EventType::TaskFailed | EventType::TaskCancelled
        )
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status column: an unknown value is an error, never a default.
impl TryFrom<String> for TaskStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown task status '{s}'"))
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskError {
    pub code: String,
    pub message: String,
}

/// Where the finished video is: signed `/media/…` URLs, or the provider's URLs when media
/// are not copied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    pub video_url: String,
    pub thumbnail_url: Option<String>,
    pub duration: Option<i64>,
    pub resolution: Option<String>,
}

/// What a caller (the poller, a cancel request) wants to change. `None` means "as is".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskChange {
    pub status: Option<TaskStatus>,
    pub progress: Option<u8>,
    pub message: Option<String>,
    pub external_id: Option<String>,
    pub error: Option<TaskError>,
    pub result: Option<TaskResult>,
}

/// The mutable part of a task that the lifecycle rules look at.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub progress: u8,
    pub message: Option<String>,
    pub external_id: Option<String>,
    pub error: Option<TaskError>,
    pub result: Option<TaskResult>,
}

/// Applies `change` to `state` under the lifecycle rules. Returns the new state and the
/// event type to emit, or `None` when nothing would change (no event is written then).
pub fn apply(state: &TaskState, change: &TaskChange) -> Option<(TaskState, EventType)> {
    if state.status.is_terminal() {
        return None;
    }
    let mut next = state.clone();
    if let Some(status) = change.status {
        if status != state.status {
            if !state.status.can_become(status) {
                return None;
            }
            next.status = status;
        }
    }
    if let Some(p) = change.progress {
        // Never down, never past 100; 100 is reserved for completion.
        let cap = if next.status == TaskStatus::Completed {
            100
        } else {
            99
        };
        next.progress = next.progress.max(p.min(cap));
    }
    if next.status == TaskStatus::Completed {
        next.progress = 100;
        next.result = change.result.clone().or(next.result);
    }
    if next.status == TaskStatus::Failed {
        next.error = Some(change.error.clone().unwrap_or_else(|| TaskError {
            code: "providerError".into(),
            message: "the provider reported a failure".into(),
        }));
    }
    if let Some(m) = &change.message {
        next.message = Some(m.clone());
    }
    if let Some(id) = &change.external_id {
        next.external_id = Some(id.clone());
    }
    if next == *state {
        return None;
    }
    Some((next.clone(), next.status.event_type()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    fn state(status: TaskStatus, progress: u8) -> TaskState {
        TaskState {
            status,
            progress,
            message: None,
            external_id: None,
            error: None,
            result: None,
        }
    }

    fn to(status: TaskStatus) -> TaskChange {
        TaskChange {
            status: Some(status),
            ..Default::default()
        }
    }

    #[test]
    fn terminal_states_never_change() {
        for s in [Completed, Failed, Cancelled] {
            for t in TaskStatus::ALL {
                assert_eq!(apply(&state(s, 50), &to(t)), None, "{s:?} -> {t:?}");
            }
            let progress = TaskChange {
                progress: Some(60),
                ..Default::default()
            };
            assert_eq!(apply(&state(s, 50), &progress), None);
        }
    }

    #[test]
    fn progress_never_goes_down_and_stays_below_100_until_done() {
        let st = state(Processing, 40);
        let down = TaskChange {
            progress: Some(30),
            ..Default::default()
        };
        assert_eq!(apply(&st, &down), None, "lower progress is no change");
        let over = TaskChange {
            progress: Some(100),
            ..Default::default()
        };
        let (next, ev) = apply(&st, &over).unwrap();
        assert_eq!((next.progress, ev), (99, EventType::TaskProgress));
        let (done, ev) = apply(&st, &to(Completed)).unwrap();
        assert_eq!((done.progress, ev), (100, EventType::TaskCompleted));
    }

    #[test]
    fn only_allowed_transitions_happen() {
        assert!(apply(&state(Processing, 10), &to(Queued)).is_none());
        assert!(apply(&state(Queued, 0), &to(Processing)).is_some());
        assert!(apply(&state(Queued, 0), &to(Cancelled)).is_some());
        assert!(apply(&state(Processing, 0), &to(Cancelled)).is_some());
    }

    #[test]
    fn same_state_is_no_event_and_failure_keeps_an_error() {
        assert_eq!(apply(&state(Queued, 0), &to(Queued)), None);
        let (failed, ev) = apply(&state(Processing, 5), &to(Failed)).unwrap();
        assert_eq!(ev, EventType::TaskFailed);
        assert_eq!(failed.error.unwrap().code, "providerError");
    }
}
