//! Task rules: the lifecycle state machine; and driving tasks at their providers (the
//! poller, media copying, webhooks).

mod drive;
mod inputs;
pub mod outbound;
pub mod poller;
pub mod services;
pub mod settings;
pub mod uploads;
pub mod webhook;
