//! Task use cases (create, cancel, retry, delete: [`usecases`]) and driving tasks at their
//! providers (the poller, media copying, webhooks). The lifecycle rules themselves are in
//! [`crate::domain::lifecycle`].

pub mod callbacks;
pub mod context;
mod drive;
pub mod idempotency;
mod inputs;
pub mod outbound;
pub mod poller;
pub mod purge;
pub mod services;
pub mod settings;
pub mod uploads;
pub mod usecases;
pub mod webhook;

pub use context::{TaskContext, TaskSettings};
