//! Settings of the task-driving side: the poller, webhooks, and uploads (reference images).
//! Flattened into `config::Settings`, so every field is `TASKHUB_<FIELD>` in the environment.
//! Provider settings are in `providers::settings`, media settings in `media::settings`.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PollerSettings {
    /// Run the poller on this node (`TASKHUB_POLLER`). Off for nodes that only serve sockets.
    #[serde(rename = "poller")]
    pub enabled: bool,
    /// Base interval between two polls of one task when the provider gives no hint.
    pub poll_interval_ms: u64,
    /// Longest interval between two polls of one task (long-running tasks slow down to it).
    pub poll_max_interval_ms: u64,
    /// How often an idle poller looks for due tasks.
    pub poller_tick_ms: u64,
    /// Tasks claimed per round.
    pub poller_batch: u32,
    /// Tasks driven at the same time by one node.
    pub poller_concurrency: usize,
    /// How long a claim lasts; a crashed node's tasks are taken over after this.
    /// Must exceed the slowest single step (a provider call with its retries).
    pub lease_ms: u64,
    /// A task still open this long after creation fails with `timeout`.
    pub task_deadline_secs: u64,
}

impl Default for PollerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 2_000,
            poll_max_interval_ms: 30_000,
            poller_tick_ms: 200,
            poller_batch: 64,
            poller_concurrency: 32,
            lease_ms: 180_000,
            task_deadline_secs: 1_800,
        }
    }
}

/// Webhooks called when a task ends: a durable outbox, retried with backoff by any node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WebhookSettings {
    /// Time limit of one webhook delivery attempt.
    pub webhook_timeout_ms: u64,
    /// When set, webhooks also carry `X-Taskhub-Signature: sha256=<HMAC of the body>`
    /// (the older scheme; every delivery is signed per user with Standard Webhooks).
    pub webhook_secret: Secret,
    /// Whether this node runs the delivery worker (tests step it by hand).
    pub webhook_worker_enabled: bool,
    /// How often the worker looks for due messages (it is also woken at each new one).
    pub webhook_worker_interval_ms: u64,
    /// Messages delivered at once per node.
    pub webhook_concurrency: usize,
    /// How long a claimed message is hidden from other nodes (at least twice the timeout).
    pub webhook_lease_ms: u64,
    /// First retry delay, doubling at each attempt (full jitter).
    pub webhook_retry_base_ms: u64,
    /// Longest retry delay.
    pub webhook_retry_max_ms: u64,
    /// A message not delivered this long after its event is given up (`failed`).
    pub webhook_max_age_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            webhook_timeout_ms: 10_000,
            webhook_secret: Secret::default(),
            webhook_worker_enabled: true,
            webhook_worker_interval_ms: 1_000,
            webhook_concurrency: 16,
            webhook_lease_ms: 60_000,
            webhook_retry_base_ms: 5_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_max_age_secs: 86_400,
        }
    }
}

/// Reference images: fetched from a URL at creation, stored as uploads, swept when orphaned.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UploadSettings {
    /// Time limit of fetching a `referenceImageUrl` at task creation (connect + body).
    pub reference_fetch_timeout_ms: u64,
    /// How often uploads no task refers to are looked for and removed.
    pub upload_sweep_interval_secs: u64,
    /// An upload no task refers to is removed once it is this old.
    pub upload_orphan_grace_secs: u64,
    /// Smallest file `POST /api/uploads` accepts (422 `fileTooSmall` below).
    pub upload_min_bytes: u64,
    /// Bytes of uploads one user may keep (409 `quotaExceeded` beyond).
    pub upload_quota_bytes: u64,
    /// Largest image (width x height) accepted for upload or resized for a task
    /// (422 `imageTooLarge` beyond): decoding one takes 4 bytes per pixel.
    pub upload_max_pixels: u64,
    /// Images resized at once (on the blocking pool); more wait their turn.
    pub upload_fit_concurrency: usize,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            reference_fetch_timeout_ms: 10_000,
            upload_sweep_interval_secs: 3_600,
            upload_orphan_grace_secs: 3_600,
            upload_min_bytes: 1024,
            upload_quota_bytes: 500 * 1024 * 1024,
            upload_max_pixels: 40_000_000,
            upload_fit_concurrency: 2,
        }
    }
}
