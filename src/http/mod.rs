//! The HTTP edge: what protects the process from its HTTP clients before a handler runs.
//!
//! - [`serve`]: the accept loop (connection cap, header/keep-alive timeout, EMFILE back-off,
//!   graceful shutdown with a hard deadline).
//! - [`linger`]: lingering close, so a refusal sent before the request body was read is not
//!   overtaken by a TCP reset.
//! - [`timeouts`]: the request and request-body time limits (408 / 503).
//! - [`rate`]: REST rate limits per IP and per user (429 with `Retry-After`).
//! - [`cors`]: which browser origins may call the API and open the WebSocket.
//! - [`client_ip`]: the client address, through trusted proxies' `X-Forwarded-For`.
//!
//! All settings live in [`HttpSettings`], flattened into `Settings` (env `TASKHUB_<FIELD>`).

pub mod admin;
pub mod client_ip;
pub mod cors;
pub mod linger;
pub mod rate;
pub mod rate_compat;
pub mod request;
#[cfg(test)]
mod request_tests;
pub mod serve;
pub mod timeouts;
pub mod viewer;

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HttpSettings {
    /// A request's head must arrive within this time of the connection being ready for it
    /// (new, or idle after a response): it also closes idle keep-alive connections.
    pub http_header_timeout_ms: u64,
    /// Longest gap between two chunks of a request body; then 408 `requestTimeout`.
    pub http_body_timeout_ms: u64,
    /// A handler (body read included) must answer within this time: 408 `requestTimeout`
    /// while the body was still arriving, else 503 `timeout`. WebSocket sessions and
    /// streamed response bodies are not limited by it.
    pub http_request_timeout_ms: u64,
    /// Open HTTP connections (WebSockets included); one more is answered 503 `busy` and
    /// closed. Keep it below the process's open-files limit.
    pub http_max_connections: usize,
    /// Lingering close: after the server closes its side, how long it keeps reading (and
    /// discarding) what the client still sends, so a reset cannot overtake the reply.
    pub http_linger_ms: u64,
    /// Lingering close: most bytes read and discarded before the socket is closed anyway.
    pub http_linger_max_bytes: usize,
    /// Requests per minute per IP to the credential routes (`/api/auth/register`, `login`,
    /// `refresh`, `test/login`); 0 turns the limit off.
    pub rate_auth_per_min: u32,
    /// Task creations (`POST /api/video/tasks`, `…/retry`) per minute per user; 0 off.
    pub rate_task_create_per_min: u32,
    /// Task queries (`GET /api/video/tasks…`) per minute per user; 0 off.
    pub rate_task_query_per_min: u32,
    /// Public reads (`GET /api/showcase/…`, `/api/users/recent`) per minute per user (per IP
    /// when unauthenticated); a home page makes several on every visit, so this is higher
    /// than `rate_other_per_min`; 0 off.
    pub rate_public_per_min: u32,
    /// Provider callbacks (`/api/providers/…`) per minute per sending IP; 0 off.
    pub rate_provider_per_min: u32,
    /// Other `/api` requests per minute per user (per IP when unauthenticated); 0 off.
    pub rate_other_per_min: u32,
    /// Comma-separated IPs or CIDRs of reverse proxies whose `X-Forwarded-For` is believed.
    /// Empty: the peer address is the client.
    pub trusted_proxies: String,
    /// Longest wait for a password-hashing slot; then 503 `busy` with `Retry-After`.
    pub hash_queue_timeout_ms: u64,
    /// Requests waiting for a hashing slot at once; one more is answered 503 `busy` at once.
    pub hash_queue_max: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            http_header_timeout_ms: 10_000,
            http_body_timeout_ms: 10_000,
            http_request_timeout_ms: 60_000,
            http_max_connections: 10_000,
            http_linger_ms: 5_000,
            http_linger_max_bytes: 16 * 1024 * 1024,
            rate_auth_per_min: 5,
            rate_task_create_per_min: 10,
            rate_task_query_per_min: 60,
            rate_public_per_min: 300,
            rate_provider_per_min: 1200,
            rate_other_per_min: 30,
            trusted_proxies: String::new(),
            hash_queue_timeout_ms: 2_000,
            hash_queue_max: 64,
        }
    }
}

impl HttpSettings {
    /// Limits high enough that tests and benchmarks which create many users and tasks from
    /// one address never meet them (the middleware still runs).
    pub fn relaxed(self) -> Self {
        Self {
            rate_auth_per_min: 1_000_000,
            rate_task_create_per_min: 1_000_000,
            rate_task_query_per_min: 1_000_000,
            rate_public_per_min: 1_000_000,
            rate_provider_per_min: 1_000_000,
            rate_other_per_min: 1_000_000,
            hash_queue_timeout_ms: 120_000,
            hash_queue_max: 100_000,
            ..self
        }
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms.max(1))
    }

    /// The bounds of the wait for a password-hashing slot.
    pub fn hash_queue(&self) -> crate::auth::password::Queue {
        crate::auth::password::Queue {
            timeout: Duration::from_millis(self.hash_queue_timeout_ms),
            max_waiting: self.hash_queue_max,
        }
    }
}
