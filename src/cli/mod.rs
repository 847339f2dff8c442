//! The `taskhub` subcommands other than `serve`.
//!
//! - [`admin`]: `migrate`, `seed-demo` and `admin grant|revoke` (work on the database directly).
//! - The terminal client, talking to a running server over HTTP and WebSocket:
//!   [`commands`] (`login`, `create`, `watch`, `tasks` and their exit codes), [`api`] (REST
//!   calls with the stored login), [`credentials`] (the refresh token in the user's config
//!   dir, mode 0600), [`follow`] (following tasks over the WebSocket with progress bars,
//!   reconnecting and resuming with `sinceSeq`).

mod admin;
pub mod api;
pub mod commands;
pub mod credentials;
pub mod follow;

pub use admin::{migrate, seed_demo, set_role};
pub use commands::{run as run_client, ClientCommand};

/// Exit codes of the client commands (documented in the README).
pub mod exit {
    /// Every task completed (or the command succeeded).
    pub const COMPLETED: i32 = 0;
    /// At least one task failed.
    pub const FAILED: i32 = 1;
    /// (2 is clap's usage error.)
    /// At least one task was cancelled, none failed.
    pub const CANCELLED: i32 = 3;
    /// Not logged in, or the server refused the login.
    pub const AUTH: i32 = 4;
    /// The server refused the request (validation, credits, not found, …).
    pub const REFUSED: i32 = 5;
    /// The server could not be reached or failed (network, 5xx, bad answer, local I/O).
    pub const UNAVAILABLE: i32 = 6;
}

/// A client command's failure, carrying its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(exit::UNAVAILABLE, message)
    }
}
