//! Settings of the task-driving side: the poller, the providers (OpenAI-compatible client and
//! the built-in simulator), finished-media storage and webhooks. Flattened into
//! [`crate::config::Settings`], so every field is `TASKHUB_<FIELD>` in the environment
//! (`OPENAI_BASE_URL` and `OPENAI_API_KEY` without the prefix).

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// How long a simulated job takes (`[slow]` in the prompt: ten times longer).
    pub simulator_seconds: f64,
    /// OpenAI-compatible API root, including `/v1`.
    pub openai_base_url: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub openai_api_key: Secret,
    /// Time limit of each provider API call (connect + answer).
    pub provider_timeout_ms: u64,
    /// Time limit of one content download.
    pub provider_download_timeout_ms: u64,
    /// Retries of a provider call answered 429/5xx (or timing out, for reads).
    pub provider_max_retries: u32,
    /// First backoff of those retries; doubles each time, with full jitter.
    pub provider_retry_base_ms: u64,
    /// Longest wait inside one call; a longer `Retry-After` reschedules the task instead.
    pub provider_max_retry_wait_ms: u64,
    /// Copy finished videos into media storage (off: hand out the provider's URL).
    pub media_copy: bool,
    /// Largest video or thumbnail copied from a provider.
    pub media_max_bytes: u64,
    /// Prefix of media URLs, e.g. `https://hub.example.com`; unset: relative `/media/…`.
    pub media_base_url: Option<String>,
    /// How long a media URL works after it is handed out (signed when a task or event is
    /// read; a client re-reads the task for a fresh one).
    pub media_url_ttl_secs: u64,
    /// Time limit of one webhook delivery.
    pub webhook_timeout_ms: u64,
    /// When set, webhooks carry `X-Taskhub-Signature: sha256=<HMAC of the body>`.
    #[serde(deserialize_with = "lenient_secret")]
    pub webhook_secret: Secret,
    /// Let webhooks and reference-image fetches reach loopback/private addresses
    /// (default: only in development).
    pub allow_private_urls: Option<bool>,
    /// Memory budget of the simulator's deleted-id set, in bytes.
    pub simulator_deleted_bytes: usize,
    /// Time limit of fetching a `referenceImageUrl` at task creation (connect + body).
    pub reference_fetch_timeout_ms: u64,
    /// How often uploads no task refers to are looked for and removed.
    pub upload_sweep_interval_secs: u64,
    /// An upload no task refers to is removed once it is this old.
    pub upload_orphan_grace_secs: u64,
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
            simulator_seconds: 10.0,
            openai_base_url: "https://api.openai.com/v1".into(),
            openai_api_key: Secret::default(),
            provider_timeout_ms: 30_000,
            provider_download_timeout_ms: 300_000,
            provider_max_retries: 3,
            provider_retry_base_ms: 500,
            provider_max_retry_wait_ms: 10_000,
            media_copy: true,
            media_max_bytes: 1 << 30,
            media_base_url: None,
            media_url_ttl_secs: 3600,
            webhook_timeout_ms: 10_000,
            webhook_secret: Secret::default(),
            allow_private_urls: None,
            simulator_deleted_bytes: 1024 * 1024,
            reference_fetch_timeout_ms: 10_000,
            upload_sweep_interval_secs: 3_600,
            upload_orphan_grace_secs: 3_600,
        }
    }
}

/// A secret from the environment, even when it looks like a number or a boolean (the
/// environment provider guesses types, and `flatten` keeps its guess).
fn lenient_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::new(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }))
}
