//! The ground floor: what a task is and what happens to it, in plain types. Task status and
//! its rules ([`lifecycle`]), events and their frames ([`event`]), ids ([`ids`]), time
//! ([`time`]), and the credit ledger's vocabulary ([`credits`]).
//!
//! Nothing here imports the rest of the crate: the store persists these values, the bus
//! carries them, the hub and the routes show them, and none of those need each other for it.

pub mod credits;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod money;
pub mod plans;
pub mod profile_rules;
pub mod standard_webhooks;
pub mod time;

pub use event::{EventDetail, EventPayload, Frame, TaskEvent};
pub use lifecycle::{EventType, TaskChange, TaskError, TaskResult, TaskState, TaskStatus};
